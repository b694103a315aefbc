// Connection lifecycle with pusher-js: connect, socket id, ping/pong, and an unknown app key being refused.
import { at, client, connected, countFrames, out, run, sleep, until } from './lib.mjs';

run(async () => {
  at('connect');
  const a = client('a');
  const b = client('b');
  const [idA, idB] = await Promise.all([connected(a), connected(b)]);
  out('connected', { client: 'a', state: a.connection.state, socket_id: idA });
  out('connected', { client: 'b', state: b.connection.state, socket_id: idB });
  // pusher-js keeps min(its own 120 s, the server's activity_timeout) as its ping interval.
  out('activity_timeout', { client: 'a', ms: a.connection.activityTimeout });

  at('ping');
  const pongs = countFrames(a, 'pusher:pong');
  a.send_event('pusher:ping', {});
  await until(() => pongs.n > 0, 'pusher:pong after pusher:ping', 3000);
  out('pong', { frames: pongs.frames });

  at('unknown key');
  // A client with a key the server does not know must be refused, without reconnecting.
  const refused = client('refused', { key: 'no-such-key' });
  const states = [];
  const errors = [];
  refused.connection.bind('state_change', ({ current }) => states.push(current));
  refused.connection.bind('error', (err) => errors.push(JSON.parse(JSON.stringify(err))));
  await until(() => states.includes('disconnected') || states.includes('failed'), 'refusal of the unknown key', 5000);
  await sleep(1200); // a 'backoff' or 'retry' close code would make pusher-js reconnect within ~1 s
  out('unknown_key', { states, errors, final_state: refused.connection.state });
});

// Client events between two pusher-js clients: relayed to the other subscriber, never echoed to the
// sender, and tagged with the sender's user_id on presence channels (2nd argument of bind callbacks).
import { at, channelName, client, connected, nextEvent, out, record, run, sleep, subscribe } from './lib.mjs';

run(async () => {
  const priv = channelName('private-chat');
  const pres = channelName('presence-chat');
  const alice = client('alice', { user: 'alice' });
  const bob = client('bob', { user: 'bob' });
  await Promise.all([connected(alice), connected(bob)]);

  at('private');
  const [{ channel: pa }, { channel: pb }] = await Promise.all([subscribe(alice, priv), subscribe(bob, priv)]);
  const echoed = record(pa, 'client-typing');
  const got = nextEvent(pb, 'client-typing');
  const sent = pa.trigger('client-typing', { text: 'hi bob', n: 1 });
  out('trigger_returned', { channel: priv, value: sent });
  const [data, metadata] = await got;
  out('received', { client: 'bob', channel: priv, name: 'client-typing', data, metadata });

  at('presence');
  const [{ channel: qa }, { channel: qb }] = await Promise.all([subscribe(alice, pres), subscribe(bob, pres)]);
  const echoedPresence = record(qa, 'client-wave');
  const gotWave = nextEvent(qb, 'client-wave');
  qa.trigger('client-wave', { from: 'alice' });
  const [waveData, waveMeta] = await gotWave;
  out('received', { client: 'bob', channel: pres, name: 'client-wave', data: waveData, metadata: waveMeta });

  const echoedBob = record(qb, 'client-wave-back');
  const gotBack = nextEvent(qa, 'client-wave-back');
  qb.trigger('client-wave-back', { from: 'bob' });
  const [backData, backMeta] = await gotBack;
  out('received', { client: 'alice', channel: pres, name: 'client-wave-back', data: backData, metadata: backMeta });

  await sleep(500); // anything echoed to a sender would have arrived by now
  out('echoes', { private_to_alice: echoed, presence_to_alice: echoedPresence, presence_to_bob: echoedBob });
});

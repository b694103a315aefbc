// Sending to a user: pusher-js clients sign in (two as alice, one as bob, one never signs in); events sent
// with the Node SDK's sendToUser (here) and the Python SDK's send_to_user (by the test, after "ready") must
// reach every connection of that user through pusher.user.bind, and nobody else.
import { at, client, connected, httpResult, out, run, serverSdk, sleep, until } from './lib.mjs';
import { signIn, uid, userClient } from './user_lib.mjs';

const NAMES = ['from-node', 'from-python', 'for-bob'];

run(async () => {
  const alice = uid('alice');
  const bob = uid('bob');
  const sdk = serverSdk();
  const a1 = userClient('alice1', alice, { record: NAMES });
  const a2 = userClient('alice2', alice, { record: NAMES });
  const b = userClient('bob', bob, { record: NAMES });
  const anon = client('anon');
  const anonSeen = [];
  anon.bind_global((name, data) => anonSeen.push({ name, data }));
  await Promise.all([a1, a2, b, anon].map(connected));

  at('sign in');
  await Promise.all([signIn(a1), signIn(a2), signIn(b)]);
  out('ready', { alice, bob });

  at('node sendToUser');
  out('node_send', { to: 'alice', ...(await httpResult(sdk.sendToUser(alice, 'from-node', { n: 1, via: 'node' }))) });
  out('node_send', { to: 'bob', ...(await httpResult(sdk.sendToUser(bob, 'for-bob', { n: 3 }))) });

  at('wait for deliveries');
  const has = (p, name) => p.userEvents.some((e) => e.name === name);
  await until(
    () => has(a1, 'from-node') && has(a1, 'from-python') && has(a2, 'from-node') && has(a2, 'from-python')
      && has(b, 'for-bob'),
    'from-node and from-python on both alice connections, for-bob on bob',
    8000,
  );
  await sleep(500); // let strays and duplicates arrive
  out('received', {
    alice1: a1.userEvents, alice2: a2.userEvents, bob: b.userEvents,
    anon: anonSeen.filter((e) => !e.name.startsWith('pusher')),
  });
});

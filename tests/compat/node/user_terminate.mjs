// Terminating a user's connections: two connections signed in as dave are terminated with the Node SDK's
// terminateUserConnections, then (by the test, after "ready_python") two as alice with the Python SDK's
// terminate_user_connections. bob is signed in all along and must stay connected and reachable.
import { at, httpResult, out, run, serverSdk, sleep, until } from './lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const alice = uid('alice');
  const dave = uid('dave');
  const bob = uid('bob');
  const sdk = serverSdk();
  const clients = {
    alice1: userClient('alice1', alice),
    alice2: userClient('alice2', alice),
    dave1: userClient('dave1', dave),
    dave2: userClient('dave2', dave),
    bob: userClient('bob', bob, { record: ['still-here'] }),
  };
  const all = Object.values(clients);
  await Promise.all(all.map((p) => state(p, 'connected')));
  at('sign in');
  await Promise.all(all.map((p) => signIn(p)));
  const states = () => Object.fromEntries(Object.entries(clients).map(([n, p]) => [n, p.connection.state]));

  at('node terminateUserConnections(dave)');
  out('node_terminate', await httpResult(sdk.terminateUserConnections(dave)));
  await Promise.all([state(clients.dave1, 'disconnected'), state(clients.dave2, 'disconnected')]);
  out('after_node_terminate', { states: states() });

  at('python terminate_user_connections(alice)');
  out('ready_python', { alice, bob, dave });
  await Promise.all([state(clients.alice1, 'disconnected'), state(clients.alice2, 'disconnected')]);
  await sleep(700); // a refused (4009) client must not reconnect
  out('after_python_terminate', { states: states() });

  at('bob is still signed in');
  out('node_send', await httpResult(sdk.sendToUser(bob, 'still-here', { ok: true })));
  await until(() => clients.bob.userEvents.length > 0, 'still-here on bob', 5000);
  out('final', { states: states() });
});

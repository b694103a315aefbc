// Users across nodes: a watcher on node 2 sees alice online when her first connection (node 0) signs in
// and offline when her last (node 1) closes; sendToUser through node 2 reaches both of alice's connections;
// terminateUserConnections through node 2 closes dave's connections on nodes 0 and 1.
import { at, disconnect, httpResult, out, run, sleep, until } from './lib.mjs';
import { on, sdkOn } from './scaleout_lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const alice = uid('alice');
  const dave = uid('dave');
  const w = userClient('watcher', uid('watcher'), { watch: [alice], options: on(2) });
  const seen = [];
  for (const name of ['online', 'offline']) {
    w.user.watchlist.bind(name, (ev) => {
      seen.push({ name, ids: ev.user_ids });
      out('watchlist', { name, ids: ev.user_ids });
    });
  }
  const snap = (after) => out('watchlist_seen', { after, seen: [...seen] });
  await state(w, 'connected');
  await signIn(w);
  await until(() => seen.length > 0, 'initial watchlist event');
  snap('watcher signed in');

  at('alice signs in on node 0');
  const a1 = userClient('alice1', alice, { record: ['hello'], options: on(0) });
  await state(a1, 'connected');
  await signIn(a1);
  await until(() => seen.length > 1, 'online for alice');
  at('alice signs in again on node 1');
  const a2 = userClient('alice2', alice, { record: ['hello'], options: on(1) });
  await state(a2, 'connected');
  await signIn(a2);
  await sleep(500);
  snap('alice on two nodes');

  at('sendToUser through node 2');
  out('send', await httpResult(sdkOn(2).sendToUser(alice, 'hello', { n: 1 })));
  await until(() => a1.userEvents.length === 1 && a2.userEvents.length === 1, 'hello on both alice connections');
  await sleep(300);
  out('received', { alice1: a1.userEvents, alice2: a2.userEvents });

  at('terminate dave (nodes 0 and 1) through node 2');
  const d1 = userClient('dave1', dave, { options: on(0) });
  const d2 = userClient('dave2', dave, { options: on(1) });
  await Promise.all([state(d1, 'connected'), state(d2, 'connected')]);
  await Promise.all([signIn(d1), signIn(d2)]);
  out('terminate', await httpResult(sdkOn(2).terminateUserConnections(dave)));
  await Promise.all([state(d1, 'disconnected'), state(d2, 'disconnected')]);
  await sleep(300);
  out('states', { dave1: d1.connection.state, dave2: d2.connection.state, alice1: a1.connection.state, alice2: a2.connection.state });

  at('alice closes node 0 (still on node 1)');
  await disconnect(a1);
  await sleep(700);
  snap('alice1 closed');
  at('alice closes node 1');
  await disconnect(a2);
  await until(() => seen.length > 2, 'offline for alice');
  await sleep(300);
  snap('alice2 closed');
});

// Watchlists: alice watches bob and carol (carol never connects). After signing in alice learns both are
// offline; bob's first connection makes him online, his second says nothing, closing one of two says
// nothing, closing the last makes him offline. dan signs in without a watchlist and gets no watchlist events.
import { at, countFrames, disconnect, out, run, sleep, until } from './lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const alice = uid('alice');
  const bob = uid('bob');
  const carol = uid('carol');
  const dan = uid('dan');
  const a = userClient('alice', alice, { watch: [bob, carol] });
  const d = userClient('dan', dan);
  const seen = [];
  for (const name of ['online', 'offline']) {
    a.user.watchlist.bind(name, (ev) => {
      seen.push({ name, event: ev });
      out('watchlist', { name, event: ev });
    });
  }
  const danFrames = countFrames(d, 'pusher_internal:watchlist_events');
  const snap = (after) => out('watchlist_seen', { after, seen: [...seen] });

  await Promise.all([state(a, 'connected'), state(d, 'connected')]);
  at('alice signs in');
  await signIn(a);
  await until(() => seen.length > 0, 'initial watchlist events', 5000);
  await sleep(300);
  snap('alice signed in');

  at('bob1 signs in');
  const b1 = userClient('bob1', bob);
  await state(b1, 'connected');
  await signIn(b1);
  await until(() => seen.length > 1, 'online for bob', 5000);
  await sleep(300);
  snap('bob1 signed in');

  at('bob2 signs in (second connection)');
  const b2 = userClient('bob2', bob);
  await state(b2, 'connected');
  await signIn(b2);
  await sleep(500);
  snap('bob2 signed in');

  at('bob1 closes (bob still online on bob2)');
  await disconnect(b1);
  await sleep(500);
  snap('bob1 closed');

  at('bob2 closes (last connection)');
  await disconnect(b2);
  await until(() => seen.length > 2, 'offline for bob', 5000);
  await sleep(300);
  snap('bob2 closed');

  at('dan signed in without a watchlist');
  await signIn(d);
  await sleep(200);
  out('dan_watchlist_frames', { n: danFrames.n, frames: danFrames.frames });
});

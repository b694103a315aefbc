// Live watchlists across nodes: alice is signed in on node 0 and node 1 watching bob. The test replaces her
// watchlist through the HTTP API (the Python SDK) with [carol, dan] after the "ready" line: both of alice's
// connections get dan online and carol offline, without signing in again; bob going offline then says
// nothing, carol coming online does.
import { at, disconnect, out, run, sleep, until } from './lib.mjs';
import { on } from './scaleout_lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const [alice, bob, carol, dan] = ['alice', 'bob', 'carol', 'dan'].map(uid);
  const b = userClient('bob', bob, { options: on(1) });
  const d = userClient('dan', dan, { options: on(0) });
  await Promise.all([state(b, 'connected'), state(d, 'connected')]);
  await Promise.all([signIn(b), signIn(d)]);

  const alices = { alice0: userClient('alice0', alice, { watch: [bob], options: on(0) }),
    alice1: userClient('alice1', alice, { watch: [bob], options: on(1) }) };
  const seen = { alice0: [], alice1: [] };
  for (const [name, c] of Object.entries(alices)) {
    for (const ev of ['online', 'offline']) {
      c.user.watchlist.bind(ev, (e) => {
        seen[name].push({ name: ev, ids: [...e.user_ids].sort() });
        out('watchlist', { client: name, name: ev, ids: e.user_ids });
      });
    }
  }
  const both = (n) => seen.alice0.length >= n && seen.alice1.length >= n;
  await Promise.all(Object.values(alices).map((c) => state(c, 'connected')));
  await Promise.all(Object.values(alices).map((c) => signIn(c)));
  await until(() => both(1), 'bob online for both alice connections');
  out('ready', { alice, bob, carol, dan });

  at('waiting for the watchlist change (the test makes it)');
  await until(() => both(3), 'dan online and carol offline after the change', 30000);
  out('changed', { seen });

  at('bob goes offline: no longer watched');
  await disconnect(b);
  await sleep(700);
  at('carol comes online on node 1');
  const c = userClient('carol', carol, { options: on(1) });
  await state(c, 'connected');
  await signIn(c);
  await until(() => both(4), 'carol online for both alice connections');
  await sleep(500);
  out('seen', { seen });
});

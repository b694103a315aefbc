// A node dies (the test SIGKILLs it after "ready"): bob on node 0 watches the victim, who is in a presence
// channel and signed in on node VICTIM_NODE. Prints "member_removed" and "offline" as they arrive.
import { at, channelName, out, run, sleep, subscribe, until } from './lib.mjs';
import { memberIds, on } from './scaleout_lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const pres = channelName('presence-kill');
  const victim = uid('victim');
  const bob = userClient('bob', uid('bob'), { watch: [victim], options: on(0) });
  const events = { removed: [], offline: [] };
  bob.user.watchlist.bind('offline', (ev) => {
    if (ev.user_ids.includes(victim)) {
      events.offline.push(Date.now());
      out('offline', { ids: ev.user_ids });
    }
  });
  const v = userClient('victim', victim, { options: { ...on(Number(process.env.VICTIM_NODE || 1)) } });
  await Promise.all([state(bob, 'connected'), state(v, 'connected')]);
  await signIn(bob);
  const { channel: cb } = await subscribe(bob, pres);
  cb.bind('pusher:member_removed', (m) => {
    events.removed.push(m.id);
    out('member_removed', { id: m.id });
  });
  at('victim joins and signs in');
  await signIn(v);
  await subscribe(v, pres);
  await until(() => cb.members.count === 2, 'bob sees the victim');
  out('ready', { victim, channel: pres, members: memberIds(cb) });
  at('waiting for the cleanup of the dead node');
  await until(() => events.removed.length > 0 && events.offline.length > 0, 'member_removed and offline', 15000);
  out('after', { members: memberIds(cb) });
  await sleep(2000); // the test queries a survivor's HTTP API meanwhile
});

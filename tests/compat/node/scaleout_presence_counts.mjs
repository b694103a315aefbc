// A counts-only presence channel of MEMBERS pusher-js members (2000 by default) over nodes 0 and 1 (the app's
// presence_counts_only_above is far below): an observer joining on node 1 gets the count and itself as the
// only member, no member_added for those who join after it, no member_removed for those who leave, and the
// count as pusher-js keeps it (channel.subscriptionCount, pusher:subscription_count).
import { at, channelName, cfg, client, disconnect, out, record, run, serverSdk, subscribe, until } from './lib.mjs';
import { memberIds, on } from './scaleout_lib.mjs';

const N = Number(process.env.MEMBERS || 2000);
const BATCH = 100;
const sdk = serverSdk();

/** Members authorized in process by the official Node server SDK (authorizeChannel), as a backend would:
 * thousands of joins need no HTTP round trip to a test endpoint each. */
function member(name, user, node) {
  const customHandler = ({ socketId, channelName: channel }, callback) =>
    callback(null, sdk.authorizeChannel(socketId, channel, { user_id: user, user_info: { name } }));
  return client(name, { user, options: { ...on(node), channelAuthorization: { customHandler } } });
}

run(async () => {
  const name = channelName('presence-big');
  const members = [];
  at(`${N} members join`);
  for (let i = 0; i < N; i += BATCH) {
    const joins = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) {
      const c = member(`m${j}`, `m${j}-${cfg.suffix}`, j % 2);
      members.push(c);
      joins.push(subscribe(c, name));
    }
    await Promise.all(joins);
    out('joined', { n: Math.min(N, i + BATCH) });
  }

  at('the observer joins on node 1');
  const obs = client('observer', { user: `observer-${cfg.suffix}`, options: on(1) });
  const { channel } = await subscribe(obs, name);
  out('observer_joined', { count: channel.members.count, ids: memberIds(channel), me: channel.members.me });
  const added = record(channel, 'pusher:member_added');
  const removed = record(channel, 'pusher:member_removed');
  const counts = record(channel, 'pusher:subscription_count');

  at('10 more join, 25 leave');
  const late = [];
  for (let j = 0; j < 10; j++) {
    const c = member(`late${j}`, `late${j}-${cfg.suffix}`, j % 2);
    late.push(subscribe(c, name));
  }
  await Promise.all(late);
  for (const c of members.slice(0, 25)) await disconnect(c);
  const expected = N + 1 + 10 - 25;
  await until(() => channel.subscriptionCount === expected, `subscriptionCount ${expected}`, 30000);
  // A page of the roster through the HTTP API, by the official Node server SDK's generic signed GET.
  const res = await sdk.get({ path: `/channels/${name}/users`, params: { limit: 1000 } });
  const page = await res.json();
  out('page', { status: res.status, n: page.users.length, total: page.total, next: page.next_cursor,
    last: page.users[page.users.length - 1].id });
  out('result', {
    expected, subscriptionCount: channel.subscriptionCount, membersCount: channel.members.count,
    ids: memberIds(channel), added: added.length, removed: removed.length, counts: counts.length,
  });
});

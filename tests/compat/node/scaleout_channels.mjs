// Three nodes, one client on each: presence rosters, member_added/removed once per user, client events,
// events triggered through another node, subscription counts, cache channels and the HTTP API's channel
// queries all span the cluster.
import {
  at, channelName, client, connected, countFrames, disconnect, httpResult, nextEvent, out, run, sleep, subscribe,
  until,
} from './lib.mjs';
import { memberIds, on, sdkOn } from './scaleout_lib.mjs';

run(async () => {
  const pres = channelName('presence-room');
  const counted = channelName('counted');
  const cache = channelName('cache-prices');
  const alice = client('alice', { user: 'alice', options: on(0) });
  const bob = client('bob', { user: 'bob', options: on(1) });
  const carol = client('carol', { user: 'carol', options: on(2) });
  const all = { alice, bob, carol };
  await Promise.all(Object.values(all).map(connected));
  const added = Object.fromEntries(Object.entries(all).map(([n, p]) => [n, countFrames(p, 'pusher_internal:member_added', pres)]));
  const removed = Object.fromEntries(Object.entries(all).map(([n, p]) => [n, countFrames(p, 'pusher_internal:member_removed', pres)]));

  at('alice (node 0), bob (node 1), carol (node 2) join');
  const { channel: ca } = await subscribe(alice, pres);
  const { channel: cb } = await subscribe(bob, pres);
  const { channel: cc } = await subscribe(carol, pres);
  await until(() => ca.members.count === 3 && cb.members.count === 3 && cc.members.count === 3, 'everyone sees 3 members');
  out('members', { alice: memberIds(ca), bob: memberIds(cb), carol: memberIds(cc) });

  at('a second alice connection, on node 2');
  const alice2 = client('alice2', { user: 'alice', options: on(2) });
  await connected(alice2);
  const { channel: ca2 } = await subscribe(alice2, pres);
  out('members', { alice2: memberIds(ca2) });
  await sleep(500);
  out('added_frames', { alice: added.alice.n, bob: added.bob.n, carol: added.carol.n });

  at('client event from node 0');
  const got = [nextEvent(cb, 'client-wave'), nextEvent(cc, 'client-wave'), nextEvent(ca2, 'client-wave')];
  ca.trigger('client-wave', { from: 'alice' });
  const [[bData, bMeta], [cData, cMeta], [a2Data, a2Meta]] = await Promise.all(got);
  out('client_event', {
    bob: { data: bData, user_id: bMeta.user_id }, carol: { data: cData, user_id: cMeta.user_id },
    alice2: { data: a2Data, user_id: a2Meta.user_id },
  });

  at('event triggered through node 2, to everyone but carol');
  const news = [nextEvent(ca, 'news'), nextEvent(cb, 'news'), nextEvent(ca2, 'news')];
  const carolNews = [];
  cc.bind('news', (d) => carolNews.push(d));
  out('trigger', await httpResult(sdkOn(2).trigger(pres, 'news', { n: 1 }, { socket_id: carol.connection.socket_id })));
  out('news', { received: (await Promise.all(news)).map(([d]) => d) });
  await sleep(300);
  out('news_to_carol', { received: carolNews });

  at('subscription counts across nodes');
  const countsB = countFrames(bob, 'pusher_internal:subscription_count', counted);
  const countsC = countFrames(carol, 'pusher_internal:subscription_count', counted);
  await subscribe(bob, counted);
  await subscribe(carol, counted);
  const last = (c) => {
    if (!c.frames.length) return null;
    const { data } = c.frames[c.frames.length - 1]; // pusher-js has parsed it already, or not
    return (typeof data === 'string' ? JSON.parse(data) : data).subscription_count;
  };
  await until(() => last(countsB) === 2 && last(countsC) === 2, 'subscription_count 2 on bob and carol');
  out('counts', { bob: last(countsB), carol: last(countsC) });

  at('cache channel: triggered through node 0, then subscribed on node 1');
  out('cache_trigger', await httpResult(sdkOn(0).trigger(cache, 'price', { p: 42 })));
  const cached = nextEvent(bob.subscribe(cache), 'price');
  out('cached', { data: (await cached)[0] });

  at('HTTP API queries through node 1');
  const sdk1 = sdkOn(1);
  out('channel_info', await httpResult(sdk1.get({ path: `/channels/${pres}`, params: { info: 'user_count,subscription_count' } })));
  out('users', await httpResult(sdk1.get({ path: `/channels/${pres}/users` })));
  out('channels', await httpResult(sdk1.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })));
  out('counted_info', await httpResult(sdk1.get({ path: `/channels/${counted}`, params: { info: 'subscription_count' } })));

  at('alice leaves node 0 (still on node 2)');
  await disconnect(alice);
  await sleep(700);
  out('removed_after_first', { bob: removed.bob.n, carol: removed.carol.n });

  at('alice leaves node 2');
  await disconnect(alice2);
  await until(() => removed.bob.n === 1 && removed.carol.n === 1, 'member_removed on bob and carol');
  await sleep(400);
  out('removed_after_last', { bob: removed.bob.n, carol: removed.carol.n, bob_members: memberIds(cb) });
});

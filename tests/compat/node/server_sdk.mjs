// The Node server SDK (pusher 5.3.4) against the HTTP API: trigger to several channels, triggerBatch,
// GET /channels (with and without filter_by_prefix/info), /channels/{name}?info=..., /channels/{name}/users.
import {
  at, channelName, client, connected, httpResult, nextEvent, out, run, serverSdk, subscribe,
} from './lib.mjs';

run(async () => {
  const pubA = channelName('multi-a');
  const pubB = channelName('multi-b');
  const pres = channelName('presence-lobby');
  const empty = channelName('nobody-here');
  const sdk = serverSdk();
  const alice = client('alice', { user: 'alice' });
  const bob = client('bob', { user: 'bob' });
  await Promise.all([connected(alice), connected(bob)]);

  at('subscribe');
  const [{ channel: a1 }, { channel: a2 }, { channel: b1 }] = await Promise.all([
    subscribe(alice, pubA), subscribe(alice, pubB), subscribe(bob, pubA),
  ]);
  await Promise.all([subscribe(alice, pres), subscribe(bob, pres)]);
  out('subscribed', { channels: [pubA, pubB, pres] });

  at('trigger to several channels');
  const multi = [nextEvent(a1, 'multi'), nextEvent(a2, 'multi'), nextEvent(b1, 'multi')];
  out('trigger_multi', await httpResult(sdk.trigger([pubA, pubB], 'multi', { hello: 'both' })));
  const multiData = await Promise.all(multi);
  out('received_multi', { data: multiData.map(([d]) => d) });

  at('triggerBatch');
  const batch = [nextEvent(a1, 'batch-1'), nextEvent(a2, 'batch-2')];
  out('trigger_batch', await httpResult(sdk.triggerBatch([
    { channel: pubA, name: 'batch-1', data: { i: 1 } },
    { channel: pubB, name: 'batch-2', data: JSON.stringify({ i: 2 }) },
  ])));
  const batchData = await Promise.all(batch);
  out('received_batch', { data: batchData.map(([d]) => d) });

  at('GET /channels');
  out('get_channels', await httpResult(sdk.get({ path: '/channels' })));
  out('get_channels_presence', await httpResult(sdk.get({
    path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' },
  })));

  at('GET /channels/{name}');
  out('get_channel', { channel: pubA, ...(await httpResult(sdk.get({
    path: `/channels/${pubA}`, params: { info: 'subscription_count' },
  }))) });
  out('get_channel', { channel: pres, ...(await httpResult(sdk.get({
    path: `/channels/${pres}`, params: { info: 'user_count' },
  }))) });
  out('get_channel', { channel: empty, ...(await httpResult(sdk.get({ path: `/channels/${empty}` }))) });

  at('GET /channels/{name}/users');
  out('get_users', { channel: pres, ...(await httpResult(sdk.get({ path: `/channels/${pres}/users` }))) });
  out('get_users', { channel: pubA, ...(await httpResult(sdk.get({ path: `/channels/${pubA}/users` }))) });

  at('bad secret');
  out('trigger_bad_secret', await httpResult(serverSdk({ secret: 'wrong-secret' }).trigger(pubA, 'x', {})));
});

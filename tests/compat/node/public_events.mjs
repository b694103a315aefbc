// Public channel: events published with the Node server SDK and with the Python server SDK (by the
// pytest side, after this script prints "ready") reach a pusher-js subscriber; socket_id excludes a client.
import { at, channelName, client, connected, nextEvent, out, run, serverSdk, sleep, subscribe, httpResult, record } from './lib.mjs';

run(async () => {
  const name = channelName('public-news');
  const a = client('a');
  const b = client('b');
  await Promise.all([connected(a), connected(b)]);

  at('subscribe');
  const [{ channel: chA }, { channel: chB }] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  out('subscribed', { channel: name });

  at('node trigger');
  const sdk = serverSdk();
  const fromNode = nextEvent(chA, 'from-node');
  const res = await httpResult(sdk.trigger(name, 'from-node', { n: 1, text: 'héllo from node' }));
  out('node_trigger', res);
  const [data] = await fromNode;
  out('received', { client: 'a', name: 'from-node', data });

  at('node trigger excluding a');
  const excludedA = record(chA, 'not-for-a');
  const forB = nextEvent(chB, 'not-for-a');
  out('node_trigger_excluding', await httpResult(sdk.trigger(name, 'not-for-a', { n: 2 }, { socket_id: a.connection.socket_id })));
  const [dataB] = await forB;
  out('received', { client: 'b', name: 'not-for-a', data: dataB });
  await sleep(400);
  out('excluded', { client: 'a', seen: excludedA });

  at('python trigger');
  const fromPython = nextEvent(chA, 'from-python');
  out('ready', { channel: name });
  const [pyData] = await fromPython;
  out('received', { client: 'a', name: 'from-python', data: pyData });
});

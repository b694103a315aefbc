// Private channels through pusher-js's real authorizer flow (ajax POST to the test auth endpoint),
// a channel the endpoint refuses (403), and a forged signature the server itself must reject.
import {
  at, channelName, client, connected, httpResult, nextEvent, out, run, serverSdk, subscribe,
  subscribeExpectingError,
} from './lib.mjs';

run(async () => {
  const ok = channelName('private-orders');
  const forbidden = channelName('private-forbidden');
  const forged = channelName('private-forged');
  const a = client('a');
  await connected(a);

  at('private subscribe');
  const { channel, data } = await subscribe(a, ok);
  out('subscribed', { channel: ok, data });
  const got = nextEvent(channel, 'order-created');
  out('trigger', await httpResult(serverSdk().trigger(ok, 'order-created', { id: 42 })));
  const [payload] = await got;
  out('received', { channel: ok, name: 'order-created', data: payload });

  at('forbidden subscribe');
  const refused = await subscribeExpectingError(a, forbidden);
  out('subscription_error', { channel: forbidden, error: refused.error });

  at('forged signature');
  // An authorizer that returns a signature made with the wrong secret: the server must refuse it.
  const f = client('forger', {
    options: {
      channelAuthorization: {
        customHandler: ({ socketId, channelName: name }, callback) =>
          callback(null, { auth: `${a.key}:${'0'.repeat(64)}` }),
      },
    },
  });
  await connected(f);
  const rejected = await subscribeExpectingError(f, forged);
  out('subscription_error', { channel: forged, error: rejected.error });
  out('state_after_rejection', { client: 'forger', state: f.connection.state });
});

// The official Node Beams server SDK (@pusher/push-notifications-server 1.2.7) publishing to an instance in
// outbox mode: generateToken (its token ties the test's devices to the user), publishToUsers and
// publishToInterests. The test then reads the outbox (tests/compat/beams/test_outbox_sdk.py).
//
// Extra environment: BEAMS_USER_ID, BEAMS_INTEREST, BEAMS_DEVICES (JSON [[platform, deviceId], ...]).
import { at, beams, devicePath, http, out, run, settle } from './beams_lib.mjs';

const env = process.env;

run(async () => {
  const sdk = beams();
  const user = env.BEAMS_USER_ID;

  at('generateToken and PUT .../user');
  const { token } = sdk.generateToken(user);
  for (const [platform, deviceId] of JSON.parse(env.BEAMS_DEVICES)) {
    const res = await http('PUT', devicePath(`/devices/${platform}/${encodeURIComponent(deviceId)}/user`), {
      headers: { Authorization: `Bearer ${token}` },
    });
    out('set_user', { platform, status: res.status });
  }

  at('publishToUsers');
  out('publish_to_users', await settle(sdk.publishToUsers([user], {
    web: { notification: { title: 'Order shipped', body: '#42', deep_link: 'https://example.com/orders/42' } },
    fcm: { notification: { title: 'Order shipped', body: '#42' }, data: { order: '42' } },
  })));

  at('publishToInterests');
  out('publish_to_interests', await settle(sdk.publishToInterests([env.BEAMS_INTEREST], {
    web: { notification: { title: 'Breaking', body: 'news' } },
  })));
});

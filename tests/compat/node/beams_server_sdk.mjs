// The official Node Beams server SDK (@pusher/push-notifications-server 1.2.7) against Tidings over plain HTTP:
// generateToken -> the device API accepts it (PUT .../user), publishToUsers, publishToInterests, deleteUser
// (which uses the /user_api/v1 path, unlike the other SDKs), and the SDK's error mapping.
//
// Extra environment: BEAMS_DEVICE_ID (a web device registered by the test), BEAMS_USER_ID, BEAMS_INTEREST,
// BEAMS_DEVICE_ID_2 and BEAMS_ODD_USER_ID (a user id with '/', space and non-ASCII: deleteUser sends it
// encodeURIComponent-ed), BEAMS_UNKNOWN_INSTANCE_ID (an instance the server does not have).
import { at, beams, cfg, devicePath, http, out, run, settle } from './beams_lib.mjs';

const env = process.env;

const publishBody = {
  web: { notification: { title: 'Hello from Node', body: 'beams_server_sdk.mjs' }, data: { n: 1 } },
  fcm: { notification: { title: 'Hello from Node', body: 'beams_server_sdk.mjs' } },
  apns: { aps: { alert: { title: 'Hello from Node', body: 'beams_server_sdk.mjs' } } },
};

async function associate(deviceId, userId) {
  const { token } = beams().generateToken(userId);
  const res = await http('PUT', devicePath(`/devices/web/${encodeURIComponent(deviceId)}/user`), {
    headers: { Authorization: `Bearer ${token}` },
  });
  return { token, res };
}

run(async () => {
  const sdk = beams();
  const user = env.BEAMS_USER_ID;
  const deviceId = env.BEAMS_DEVICE_ID;

  at('generateToken');
  const generated = sdk.generateToken(user);
  out('token', { keys: Object.keys(generated), token: generated.token });

  at('PUT user with the token');
  const { res: setUser } = await associate(deviceId, user);
  out('set_user', setUser);
  out('device_after_set_user', await http('GET', devicePath(`/devices/web/${encodeURIComponent(deviceId)}`)));

  at('publishToUsers');
  out('publish_to_users', await settle(sdk.publishToUsers([user], publishBody)));

  at('publishToInterests');
  out('publish_to_interests', await settle(sdk.publishToInterests([env.BEAMS_INTEREST], publishBody)));

  at('deleteUser');
  out('delete_user', await settle(sdk.deleteUser(user)));
  out('device_after_delete_user', await http('GET', devicePath(`/devices/web/${encodeURIComponent(deviceId)}`)));

  at('deleteUser with an odd user id');
  const odd = env.BEAMS_ODD_USER_ID;
  const deviceId2 = env.BEAMS_DEVICE_ID_2;
  const { res: setOdd } = await associate(deviceId2, odd);
  out('set_odd_user', setOdd);
  out('device2_after_set_user', await http('GET', devicePath(`/devices/web/${encodeURIComponent(deviceId2)}`)));
  out('delete_odd_user', await settle(sdk.deleteUser(odd)));
  out('device2_after_delete_user', await http('GET', devicePath(`/devices/web/${encodeURIComponent(deviceId2)}`)));

  at('errors');
  out('wrong_secret', await settle(beams({ secretKey: `${cfg.secretKey}-wrong` }).publishToInterests(['x'], publishBody)));
  out('unknown_instance', await settle(
    beams({ instanceId: env.BEAMS_UNKNOWN_INSTANCE_ID }).publishToUsers(['someone'], publishBody),
  ));
  out('unknown_instance_delete', await settle(beams({ instanceId: env.BEAMS_UNKNOWN_INSTANCE_ID }).deleteUser('x')));
  out('invalid_publish', await settle(sdk.publishToInterests(['x'], { web: { data: { pusher: 'reserved' } } })));
});

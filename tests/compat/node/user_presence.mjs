// Presence with sign-in: the channel authorization answers only `auth` over socket_id:channel (no
// channel_data), so each member's id and info come from its sign-in. alice's authorization comes from the
// test's HTTP endpoint (the Python SDK's authenticate without custom_data), bob's from the Node SDK's
// authorizeChannel(socketId, channel) in a customHandler.
import { at, channelName, httpResult, out, run, serverSdk, subscribe, until } from './lib.mjs';
import { state, uid, userChannelAuthEndpoint, userClient } from './user_lib.mjs';

const membersOf = (channel) => {
  const list = [];
  channel.members.each((m) => list.push({ id: m.id, info: m.info }));
  list.sort((x, y) => (x.id < y.id ? -1 : 1));
  return { count: channel.members.count, me: channel.members.me, members: list };
};

run(async () => {
  const name = channelName('presence-signed');
  const alice = uid('alice');
  const bob = uid('bob');
  const sdk = serverSdk();
  const a = userClient('alice', alice, {
    displayName: 'Alice A',
    options: { channelAuthorization: { endpoint: userChannelAuthEndpoint, transport: 'ajax' } },
  });
  const b = userClient('bob', bob, {
    displayName: 'Bob B',
    options: {
      channelAuthorization: {
        customHandler: ({ socketId, channelName: channel }, callback) => {
          const auth = sdk.authorizeChannel(socketId, channel);
          out('node_channel_auth', { client: 'bob', channel, auth });
          callback(null, auth);
        },
      },
    },
  });
  await Promise.all([state(a, 'connected'), state(b, 'connected')]);

  at('alice signs in and subscribes at once (pusher-js waits for the sign-in)');
  a.signin();
  const { channel: chA } = await subscribe(a, name);
  out('members', { client: 'alice', after: 'alice joined', ...membersOf(chA) });

  at('bob joins');
  const added = new Promise((resolve) => chA.bind('pusher:member_added', resolve));
  b.signin();
  const { channel: chB } = await subscribe(b, name);
  out('members', { client: 'bob', after: 'bob joined', ...membersOf(chB) });
  out('member_added', { client: 'alice', member: await added });
  out('users', await httpResult(sdk.get({ path: `/channels/${name}/users` })));

  at('bob leaves');
  const removed = new Promise((resolve) => chA.bind('pusher:member_removed', resolve));
  b.disconnect();
  out('member_removed', { client: 'alice', member: await removed });
  await until(() => chA.members.count === 1, 'alice alone again', 3000);
  out('members', { client: 'alice', after: 'bob left', ...membersOf(chA) });
  out('channel', { name, alice, bob });
});

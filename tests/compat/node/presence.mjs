// Presence channels with pusher-js: members lists, and member_added / member_removed once per user
// (not per connection). alice connects twice; bob watches.
import {
  at, channelName, client, connected, countFrames, disconnect, out, run, sleep, subscribe, until,
} from './lib.mjs';

const membersOf = (channel) => {
  const list = [];
  channel.members.each((m) => list.push({ id: m.id, info: m.info }));
  list.sort((x, y) => (x.id < y.id ? -1 : 1));
  return { count: channel.members.count, me: channel.members.me, members: list };
};

run(async () => {
  const name = channelName('presence-room');
  const alice1 = client('alice1', { user: 'alice' });
  const bob = client('bob', { user: 'bob' });
  const alice2 = client('alice2', { user: 'alice' });
  await Promise.all([connected(alice1), connected(bob), connected(alice2)]);

  // Raw frames, whatever pusher-js's member bookkeeping makes of them.
  const bobAdded = countFrames(bob, 'pusher_internal:member_added', name);
  const bobRemoved = countFrames(bob, 'pusher_internal:member_removed', name);
  const alice1Added = countFrames(alice1, 'pusher_internal:member_added', name);

  at('alice1 joins');
  const { channel: chAlice1 } = await subscribe(alice1, name);
  out('members', { client: 'alice1', after: 'alice1 joined', ...membersOf(chAlice1) });

  at('bob joins');
  const aliceSawBob = new Promise((resolve) => chAlice1.bind('pusher:member_added', resolve));
  const { channel: chBob } = await subscribe(bob, name);
  out('members', { client: 'bob', after: 'bob joined', ...membersOf(chBob) });
  const added = await aliceSawBob;
  out('member_added', { client: 'alice1', member: added });
  const bobEvents = { added: [], removed: [] };
  chBob.bind('pusher:member_added', (m) => bobEvents.added.push(m));
  chBob.bind('pusher:member_removed', (m) => bobEvents.removed.push(m));

  at('alice2 joins (same user)');
  const { channel: chAlice2 } = await subscribe(alice2, name);
  out('members', { client: 'alice2', after: 'alice2 joined', ...membersOf(chAlice2) });
  await sleep(500);
  out('frames_seen', { client: 'bob', after: 'alice2 joined', member_added: bobAdded.frames, member_removed: bobRemoved.frames });

  at('alice1 leaves (alice still connected as alice2)');
  await disconnect(alice1);
  await sleep(700);
  out('frames_seen', { client: 'bob', after: 'alice1 left', member_added: bobAdded.frames, member_removed: bobRemoved.frames });
  out('members', { client: 'bob', after: 'alice1 left', ...membersOf(chBob) });

  at('alice2 leaves (last alice connection)');
  await disconnect(alice2);
  await until(() => bobEvents.removed.length > 0, 'member_removed for alice on bob', 5000);
  await sleep(400); // catch duplicates
  out('frames_seen', { client: 'bob', after: 'alice2 left', member_added: bobAdded.frames, member_removed: bobRemoved.frames });
  out('member_events', { client: 'bob', added: bobEvents.added, removed: bobEvents.removed });
  out('members', { client: 'bob', after: 'alice2 left', ...membersOf(chBob) });
  out('frames_seen', { client: 'alice1', member_added: alice1Added.frames });
});

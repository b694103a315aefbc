// User-first routing (docs/user-first-delivery.md): TABS pusher-js clients sign in as ROUTED_USER (their
// #server-to-user- channel subscribed, as pusher-js does after signin()), then the official Beams Node server
// SDK publishes to that user with a `channels` object next to `web`. Each tab must get the event through
// pusher.user.bind; with TABS=0 the script only publishes (the user is not signed in: the push goes out).
//
// Environment: lib.mjs's (PUSHER_PORT: the node the tabs connect to), user_lib.mjs's, beams_lib.mjs's
// (BEAMS_PORT: the node the publish goes to), ROUTED_USER, TABS.
import { at, connected, out, run, sleep, until } from './lib.mjs';
import { beams, settle } from './beams_lib.mjs';
import { signIn, userClient } from './user_lib.mjs';

const env = process.env;
const user = env.ROUTED_USER;
const tabs = Number(env.TABS || '0');
const EVENT = 'order-shipped';

run(async () => {
  const clients = [];
  for (let i = 1; i <= tabs; i++) clients.push(userClient(`tab${i}`, user, { record: [EVENT] }));
  await Promise.all(clients.map(connected));
  at('sign in');
  await Promise.all(clients.map((c) => signIn(c, 10000)));
  out('ready');

  at('publishToUsers');
  const published = await settle(beams().publishToUsers([user], {
    web: { notification: { title: 'Shipped', body: 'Order 42' } },
    channels: { event: EVENT, data: { order: 42, items: ['book'] } },
  }));
  out('published', published);
  if (!published.ok) throw new Error(`publishToUsers failed: ${published.message}`);

  if (tabs) {
    at('the event on every tab');
    await until(() => clients.every((c) => c.userEvents.length >= 1), 'the event on every tab', 15000);
    await sleep(500); // a duplicate would arrive in this time
    out('received', Object.fromEntries(clients.map((c) => [c.compatName, c.userEvents])));
  }
});

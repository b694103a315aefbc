// The offline user mailbox (docs/user-first-delivery.md): bob signs in with pusher-js after events were sent to him while
// he had no connection; `pusher.user.bind` must get them, in order, once. Then, if MAILBOX_LIVE is set, the
// test sends one more event (bob is reachable now: it goes live) after the "kept" line.
//
// Extra environment: MAILBOX_USER (bob's user id), MAILBOX_EVENTS (event names to bind, comma-separated),
// MAILBOX_EXPECT (how many kept events to wait for), MAILBOX_LIVE (a name among MAILBOX_EVENTS, optional).
import { at, out, run, sleep, until } from './lib.mjs';
import { signIn, state, userClient } from './user_lib.mjs';

const env = process.env;

run(async () => {
  const names = env.MAILBOX_EVENTS.split(',');
  const expect = Number(env.MAILBOX_EXPECT || 0);
  const bob = userClient('bob', env.MAILBOX_USER, { record: names });
  await state(bob, 'connected');
  at('sign in');
  await signIn(bob);
  at('kept events');
  await until(() => bob.userEvents.length >= expect, `${expect} kept event(s)`, 8000);
  await sleep(800); // a duplicate or a stray would arrive by now
  out('kept', { events: [...bob.userEvents] });
  if (env.MAILBOX_LIVE) {
    at('live event');
    const live = () => bob.userEvents.filter((e) => e.name === env.MAILBOX_LIVE).length;
    await until(() => live() >= 1, `${env.MAILBOX_LIVE} live`, 8000);
    await sleep(500);
    out('live', { events: bob.userEvents.slice(expect) });
  }
});

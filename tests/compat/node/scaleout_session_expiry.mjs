// A session's end across nodes: carol signs in on node 0 and node 1 with user_data.expires_at 3 s ahead
// (signed by the backend): both connections are closed with 4009 when it comes, and pusher-js does not
// reconnect. dave, without expires_at, stays connected.
import { at, out, run, sleep } from './lib.mjs';
import { on } from './scaleout_lib.mjs';
import { signIn, state, uid, userClient } from './user_lib.mjs';

run(async () => {
  const carol = uid('carol');
  const c0 = userClient('carol0', carol, { options: on(0), expiresIn: 3 });
  const c1 = userClient('carol1', carol, { options: on(1), expiresIn: 3 });
  const d = userClient('dave', uid('dave'), { options: on(1) });
  await Promise.all([state(c0, 'connected'), state(c1, 'connected'), state(d, 'connected')]);
  await Promise.all([signIn(c0), signIn(c1), signIn(d)]);
  at('waiting for the session to end');
  await Promise.all([state(c0, 'disconnected'), state(c1, 'disconnected')]);
  await sleep(1500);
  out('states', { carol0: c0.connection.state, carol1: c1.connection.state, dave: d.connection.state });
});

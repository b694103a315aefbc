// Helpers for the "authenticated users" scripts (user_*.mjs): pusher-js clients that sign in through the
// test's user-auth endpoint (tests/support/user_auth.py, the Python SDK's authenticate_user).
//
// Extra environment: USER_AUTH_ENDPOINT (http://127.0.0.1:N/pusher/user-auth) and USER_CHANNEL_AUTH_ENDPOINT
// (http://127.0.0.1:N/pusher/auth, answering presence channels with `auth` only, no channel_data).
import { cfg, client, out, until } from './lib.mjs';

const env = process.env;
export const userAuthEndpoint = env.USER_AUTH_ENDPOINT || 'http://127.0.0.1:4568/pusher/user-auth';
export const userChannelAuthEndpoint = env.USER_CHANNEL_AUTH_ENDPOINT || 'http://127.0.0.1:4568/pusher/auth';

/** A user id unique to this run, so that scenarios never meet on a long-lived server. */
export function uid(base) {
  return `${base}-${cfg.suffix}`;
}

/**
 * A pusher-js client whose `signin()` authenticates as `user` (watching `watch`, user_info.name `name`,
 * the session ending `expiresIn` seconds after the sign-in when given).
 * Every event delivered to `pusher.user` for the names in `record` is printed as
 * {"event":"user_event","client":name,"name":...,"data":...} and kept in `pusher.userEvents`.
 */
export function userClient(name, user, { watch = [], displayName, record = [], options = {}, expiresIn } = {}) {
  const q = new URLSearchParams({ user });
  if (watch.length) q.set('watch', watch.join(','));
  if (expiresIn) q.set('expires_in', String(expiresIn)); // user_data.expires_at = now + expiresIn
  if (displayName) q.set('name', displayName);
  const pusher = client(name, {
    user,
    options: { userAuthentication: { endpoint: `${userAuthEndpoint}?${q}`, transport: 'ajax' }, ...options },
  });
  pusher.userEvents = [];
  for (const ev of record) {
    pusher.user.bind(ev, (data) => {
      pusher.userEvents.push({ name: ev, data });
      out('user_event', { client: name, name: ev, data });
    });
  }
  pusher.bind('pusher:signin_success', (data) => out('signin_success', { client: name, data }));
  pusher.user.bind('pusher:signin_error', (err) => out('signin_error', { client: name, error: err }));
  return pusher;
}

/**
 * Call signin() and resolve once pusher-js considers the user signed in (user_data set from
 * pusher:signin_success) and its `#server-to-user-{id}` channel is subscribed.
 */
export async function signIn(pusher, ms = 5000) {
  pusher.signin();
  const who = pusher.compatName;
  await until(() => pusher.user.user_data !== null, `${who}: signed in (pusher.user.user_data)`, ms);
  await until(
    () => pusher.user.serverToUserChannel && pusher.user.serverToUserChannel.subscribed,
    `${who}: #server-to-user channel subscribed`,
    ms,
  );
  out('signed_in', {
    client: who, user_data: pusher.user.user_data, socket_id: pusher.connection.socket_id,
    user_channel: pusher.user.serverToUserChannel.name,
  });
  return pusher.user.user_data;
}

/** Resolve when the client's connection state becomes `state` (at once if it already is). */
export function state(pusher, wanted) {
  return new Promise((resolve) => {
    if (pusher.connection.state === wanted) return resolve();
    const onChange = ({ current }) => {
      if (current === wanted) {
        pusher.connection.unbind('state_change', onChange);
        resolve();
      }
    };
    pusher.connection.bind('state_change', onChange);
  });
}

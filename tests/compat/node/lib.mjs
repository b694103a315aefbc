// Shared helpers for the compatibility scripts that drive the official Pusher Node SDKs
// (pusher-js 8.6.0 as the WebSocket client, pusher 5.3.4 as the HTTP server SDK) against a running server.
//
// Every script prints one JSON object per line on stdout ({"event": ..., ...fields}) describing what
// happened; the pytest side (tests/compat/test_pusher_js.py) asserts on those lines. A script exits 0
// when its scenario ran to the end, and 1 on any error or when COMPAT_TIMEOUT_MS (default 10 s) passes.
//
// Environment: PUSHER_HOST, PUSHER_PORT, PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET, AUTH_ENDPOINT
// (e.g. http://127.0.0.1:4567/pusher/auth; the user id is passed as ?user=<id>).
import Pusher from 'pusher-js';
import PusherServer from 'pusher';

const env = process.env;

export const cfg = {
  host: env.PUSHER_HOST || '127.0.0.1',
  port: Number(env.PUSHER_PORT || 6001),
  appId: env.PUSHER_APP_ID || '123456',
  key: env.PUSHER_KEY || 'test-key',
  secret: env.PUSHER_SECRET || 'test-secret',
  authEndpoint: env.AUTH_ENDPOINT || 'http://127.0.0.1:4567/pusher/auth',
  timeoutMs: Number(env.COMPAT_TIMEOUT_MS || 10000),
  // Channel names are suffixed so that scenarios never share state on a long-lived server.
  suffix: env.COMPAT_SUFFIX || String(process.pid),
};

export function out(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

let step = 'start';
/** Name the current step; it is reported if the script times out. */
export function at(name) {
  step = name;
  out('step', { step: name });
}

const deadline = setTimeout(() => {
  out('timeout', { step, after_ms: cfg.timeoutMs });
  process.exit(1);
}, cfg.timeoutMs);

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function channelName(base) {
  return `${base}-${cfg.suffix}`;
}

const clients = [];

// Tap pusher-js's WebSocket (faye-websocket in the Node build) so that every raw frame, in and out, and
// every close code is reported: {"event":"wire","socket":n,"dir":"in"|"out","data":"<raw text>"}.
// A client's socket number is reported as {"event":"socket","client":<name>,"socket":n} on connect.
const OriginalWebSocket = Pusher.Runtime.getWebSocketAPI();
let socketSeq = 0;
Pusher.Runtime.getWebSocketAPI = () =>
  function TappedWebSocket(url) {
    const sock = new OriginalWebSocket(url);
    const id = ++socketSeq;
    sock.compatSeq = id;
    out('ws_open', { socket: id, url });
    sock.addEventListener('message', (e) => out('wire', { socket: id, dir: 'in', data: String(e.data) }));
    sock.addEventListener('close', (e) => out('ws_close', { socket: id, code: e.code, reason: e.reason }));
    const send = sock.send.bind(sock);
    sock.send = (data) => {
      out('wire', { socket: id, dir: 'out', data: String(data) });
      return send(data);
    };
    return sock;
  };

/**
 * A pusher-js client pointed at the server under test. `user` selects the user id the auth
 * endpoint puts in presence channel_data. Raw frames are reported through the WebSocket tap above.
 */
export function client(name, { user = name, key = cfg.key, options = {} } = {}) {
  const endpoint = `${cfg.authEndpoint}?user=${encodeURIComponent(user)}`;
  const pusher = new Pusher(key, {
    cluster: 'mt1',
    wsHost: cfg.host,
    wsPort: cfg.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: { endpoint, transport: 'ajax' },
    ...options,
  });
  pusher.connection.bind('state_change', ({ previous, current }) => {
    out('state_change', { client: name, previous, current });
    if (current === 'connected') {
      const socket = pusher.connection.connection?.transport?.socket?.compatSeq ?? null;
      out('socket', { client: name, socket, socket_id: pusher.connection.socket_id });
    }
  });
  pusher.connection.bind('error', (err) =>
    out('connection_error', { client: name, error: safe(err) }),
  );
  pusher.compatName = name;
  clients.push(pusher);
  return pusher;
}

/** The official Node server SDK, pointed at the server under test. */
export function serverSdk(overrides = {}) {
  return new PusherServer({
    appId: cfg.appId,
    key: cfg.key,
    secret: cfg.secret,
    host: cfg.host,
    port: String(cfg.port),
    useTLS: false,
    ...overrides,
  });
}

function safe(value) {
  try {
    return JSON.parse(JSON.stringify(value ?? null));
  } catch {
    return String(value);
  }
}

/** Resolve once the client is connected; reject if it fails or becomes unavailable. */
export function connected(pusher) {
  return new Promise((resolve, reject) => {
    const state = pusher.connection.state;
    if (state === 'connected') return resolve(pusher.connection.socket_id);
    const onChange = ({ current }) => {
      if (current === 'connected') {
        pusher.connection.unbind('state_change', onChange);
        resolve(pusher.connection.socket_id);
      } else if (current === 'failed' || current === 'unavailable') {
        pusher.connection.unbind('state_change', onChange);
        reject(new Error(`${pusher.compatName}: connection state became '${current}'`));
      }
    };
    pusher.connection.bind('state_change', onChange);
  });
}

/** Subscribe and resolve with the subscription_succeeded payload; reject on pusher:subscription_error. */
export function subscribe(pusher, name) {
  const channel = pusher.subscribe(name);
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', (data) => resolve({ channel, data }));
    channel.bind('pusher:subscription_error', (err) =>
      reject(new Error(`${pusher.compatName}: subscription to ${name} failed: ${JSON.stringify(err)}`)),
    );
  });
}

/** Subscribe and resolve with the pusher:subscription_error payload; reject if the subscription succeeds. */
export function subscribeExpectingError(pusher, name) {
  const channel = pusher.subscribe(name);
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', () =>
      reject(new Error(`${pusher.compatName}: subscription to ${name} unexpectedly succeeded`)),
    );
    channel.bind('pusher:subscription_error', (err) => resolve({ channel, error: safe(err) }));
  });
}

/** Resolve with [data, metadata] of the next `event` on `channel`. */
export function nextEvent(channel, event) {
  return new Promise((resolve) => {
    const handler = (data, metadata) => {
      channel.unbind(event, handler);
      resolve([data, metadata]);
    };
    channel.bind(event, handler);
  });
}

/** Record every `event` on `channel` into an array (data and metadata) and return that array. */
export function record(channel, event) {
  const seen = [];
  channel.bind(event, (data, metadata) => seen.push({ data: safe(data), metadata: safe(metadata) }));
  return seen;
}

/** Count raw frames with this event name (and channel) received by a client, whatever pusher-js makes of them. */
export function countFrames(pusher, event, channel) {
  const counter = { n: 0, frames: [] };
  pusher.connection.bind('message', (m) => {
    if (m.event === event && (!channel || m.channel === channel)) {
      counter.n += 1;
      counter.frames.push(safe(m));
    }
  });
  return counter;
}

/** Wait until predicate() is true, polling; throw with `what` after `ms`. */
export async function until(predicate, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Disconnect a client and resolve when its state is 'disconnected'. */
export function disconnect(pusher) {
  return new Promise((resolve) => {
    if (pusher.connection.state === 'disconnected') return resolve();
    const onChange = ({ current }) => {
      if (current === 'disconnected') {
        pusher.connection.unbind('state_change', onChange);
        resolve();
      }
    };
    pusher.connection.bind('state_change', onChange);
    pusher.disconnect();
  });
}

/** Serialise an SDK HTTP response: status and parsed JSON body (or raw text). */
export async function httpResult(promise) {
  try {
    const res = await promise;
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  } catch (err) {
    // pusher (Node) throws RequestError for status >= 400; it carries status and body.
    return { status: err.status ?? null, body: err.body ?? null, error: String(err.message || err) };
  }
}

/** Run a scenario: exit 0 after it resolves, exit 1 (with the error) if it throws. */
export async function run(scenario) {
  try {
    await scenario();
    out('done');
    clearTimeout(deadline);
    for (const c of clients) c.disconnect();
    // Give close frames a moment to go out, then exit regardless of open handles.
    setTimeout(() => process.exit(0), 50);
  } catch (err) {
    out('error', { step, message: String(err && err.message ? err.message : err), stack: err && err.stack });
    process.exit(1);
  }
}

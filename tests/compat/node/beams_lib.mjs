// Shared helpers for the Beams compatibility scripts (beams_*.mjs) that drive the official Node Beams server
// SDK (@pusher/push-notifications-server 1.2.7) against a running Tidings server over plain HTTP.
//
// Like lib.mjs, every script prints one JSON object per line on stdout ({"event": ..., ...fields}); the pytest
// side (tests/compat/beams/test_node_sdk.py) asserts on those lines. A script exits 0 when its scenario ran to
// the end ("done" printed), and 1 on an unexpected error or when COMPAT_TIMEOUT_MS (default 10 s) passes.
//
// Environment: BEAMS_HOST, BEAMS_PORT (the Tidings server), BEAMS_INSTANCE_ID, BEAMS_SECRET_KEY.
import PushNotifications from '@pusher/push-notifications-server';

const env = process.env;

export const cfg = {
  host: env.BEAMS_HOST || '127.0.0.1',
  port: Number(env.BEAMS_PORT || 6001),
  instanceId: env.BEAMS_INSTANCE_ID || '',
  secretKey: env.BEAMS_SECRET_KEY || '',
  timeoutMs: Number(env.COMPAT_TIMEOUT_MS || 10000),
};

export const baseUrl = `http://${cfg.host}:${cfg.port}`;

export function out(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

let step = 'start';
/** Name the current step; it is reported if the script times out or fails. */
export function at(name) {
  step = name;
  out('step', { step: name });
}

const deadline = setTimeout(() => {
  out('timeout', { step, after_ms: cfg.timeoutMs });
  process.exit(1);
}, cfg.timeoutMs);

/** The SDK exactly as the README shows it, plus the (undocumented) endpoint/port override. */
export function beams(overrides = {}) {
  return new PushNotifications({
    instanceId: cfg.instanceId,
    secretKey: cfg.secretKey,
    endpoint: cfg.host,
    port: cfg.port,
    ...overrides,
  });
}

/** Settle an SDK promise into a JSON-friendly record: {ok, value, undefined} or {ok: false, message}. */
export async function settle(promise) {
  try {
    const value = await promise;
    return { ok: true, undefined: value === undefined, value: value === undefined ? null : value };
  } catch (err) {
    return { ok: false, message: String(err && err.message ? err.message : err) };
  }
}

/** A plain HTTP call (Node's fetch) to the device API, as a phone or browser would make it. */
export async function http(method, path, { headers = {}, body } = {}) {
  const opts = { method, headers: { ...headers }, signal: AbortSignal.timeout(5000) };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, opts);
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  return { status: res.status, text, json };
}

export function devicePath(rest = '') {
  return `/device_api/v1/instances/${encodeURIComponent(cfg.instanceId)}${rest}`;
}

export async function run(scenario) {
  try {
    await scenario();
    out('done');
    clearTimeout(deadline);
    setTimeout(() => process.exit(0), 10);
  } catch (err) {
    out('error', { step, message: String(err && err.message ? err.message : err), stack: err && err.stack });
    process.exit(1);
  }
}

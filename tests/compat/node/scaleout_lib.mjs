// Helpers for the scale-out scripts (scaleout_*.mjs): several Tidings nodes behind no load balancer, each
// client pointed at one node. PUSHER_PORTS lists the nodes' ports ("6001,6002,6003"); on(i) is the client
// option that connects to node i, sdkOn(i) the Node server SDK talking to node i.
import { serverSdk } from './lib.mjs';

export const ports = (process.env.PUSHER_PORTS || '').split(',').filter(Boolean).map(Number);

export const on = (i) => ({ wsPort: ports[i] });

export const sdkOn = (i) => serverSdk({ port: String(ports[i]) });

/** Sorted member ids of a presence channel, as pusher-js keeps them. */
export function memberIds(channel) {
  const ids = [];
  channel.members.each((m) => ids.push(m.id));
  return ids.sort();
}

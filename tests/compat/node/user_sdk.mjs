// The Node server SDK's user features, one call per entry of the COMMANDS environment variable (JSON list):
//   {"op": "authenticate", "socket_id": "...", "user_data": {...}}  -> authenticateUser(socketId, userData)
//   {"op": "send", "user_id": "...", "event": "...", "data": ...}    -> sendToUser(userId, event, data)
//   {"op": "terminate", "user_id": "..."}                           -> terminateUserConnections(userId)
// Each result is printed as {"event": "result", "op": ..., ...}. No pusher-js client is involved.
import { at, httpResult, out, run, serverSdk } from './lib.mjs';

run(async () => {
  const sdk = serverSdk();
  const commands = JSON.parse(process.env.COMMANDS || '[]');
  for (const [i, cmd] of commands.entries()) {
    at(`${i}: ${cmd.op}`);
    if (cmd.op === 'authenticate') {
      out('result', { op: cmd.op, i, value: sdk.authenticateUser(cmd.socket_id, cmd.user_data) });
    } else if (cmd.op === 'send') {
      out('result', { op: cmd.op, i, ...(await httpResult(sdk.sendToUser(cmd.user_id, cmd.event, cmd.data))) });
    } else if (cmd.op === 'terminate') {
      out('result', { op: cmd.op, i, ...(await httpResult(sdk.terminateUserConnections(cmd.user_id))) });
    } else {
      throw new Error(`unknown op ${cmd.op}`);
    }
  }
});

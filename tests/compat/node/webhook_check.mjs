// Validate captured webhook requests with the Node server SDK (pusher 5.3.4): `pusher.webhook({headers,
// rawBody})`, then isValid() and getEvents() / getTime().
//
// stdin: {"key": ..., "secret": ..., "requests": [{"headers": {lower-case name: value}, "body": "<raw>"}]}
// stdout: one line {"event":"checked","results":[{"valid","content_type_valid","body_valid","events","time_ms"}]}
// then {"event":"done"}. Uses the PUSHER_* environment only through the explicit key/secret given.
import PusherServer from 'pusher';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  try {
    const { key, secret, requests } = JSON.parse(input);
    const sdk = new PusherServer({ appId: '1', key, secret });
    const results = requests.map(({ headers, body }) => {
      const hook = sdk.webhook({ headers, rawBody: body });
      const valid = hook.isValid();
      const result = {
        valid,
        content_type_valid: hook.isContentTypeValid(),
        body_valid: hook.isBodyValid(),
      };
      if (hook.isBodyValid()) {
        result.events = hook.getEvents();
        result.time_ms = hook.getTime().getTime();
      }
      return result;
    });
    process.stdout.write(JSON.stringify({ event: 'checked', results }) + '\n');
    process.stdout.write(JSON.stringify({ event: 'done' }) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ event: 'error', message: String(err && err.stack) }) + '\n');
    process.exit(1);
  }
});

"""One webhook outbox for both products.

    outbox.py    the core (no I/O): per-target queues, in-flight limits, retry schedules, memory bounds, drops
    runner.py    the asyncio driver: sends what the core says is ready, over aiohttp, and reports back
    channels.py  Channels webhooks: events -> Pusher-signed requests (held removals, batching), into the outbox
    wiring.py    start the outbox and both products' listeners for `serve` and `worker`

Beams webhooks (events -> signed requests) live in tidings.beams_webhooks and feed the same outbox.
"""

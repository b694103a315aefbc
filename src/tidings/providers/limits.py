"""What every push gateway request is held to: a total deadline and a bounded answer.

A gateway's answer is a status, a few headers and at most a short JSON reason. Anything longer is a proxy's error
page or a misbehaving endpoint, so only the first MAX_RESPONSE_BODY bytes are read (enough to classify the answer)
and the rest is never held in memory: the connection is closed instead of drained. The deadline covers the whole
exchange, connecting, waiting for the headers and reading the body together: a per-read timeout restarts at each
byte, so an endpoint trickling one byte every few seconds would hold a delivery slot for ever.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

REQUEST_TIMEOUT = 10.0  # seconds; the default of Settings.delivery_request_timeout
MAX_RESPONSE_BODY = 4096  # bytes of an answer kept for classification


async def read_bounded(chunks: AsyncIterable[bytes], limit: int = MAX_RESPONSE_BODY) -> tuple[bytes, bool]:
    """The first `limit` bytes of a streamed body, and whether it went on past them.

    Stops reading at the limit: the caller then closes the response (and its connection) rather than reuse it.
    """
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        room = limit - size
        if len(chunk) > room:
            kept.append(chunk[:room])
            return b"".join(kept), True
        kept.append(chunk)
        size += len(chunk)
    return b"".join(kept), False

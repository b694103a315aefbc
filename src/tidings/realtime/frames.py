"""Server-to-client WebSocket frames (RFC 6455), built once per message.

Server frames are never masked, so one text frame's bytes can be written unchanged to every subscriber:
that is what keeps per-subscriber fan-out work down to a `transport.write`.
"""

from __future__ import annotations

import struct

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return _LEN16.pack(0x81, 126, n) + payload
    return _LEN64.pack(0x81, 127, n) + payload

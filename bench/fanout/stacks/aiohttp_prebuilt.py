"""Stack candidate (b): aiohttp, the frame built once, `transport.write(frame)` for every subscriber.

The event is serialized once and framed once (server frames are unmasked: ``0x81``, length, payload); the
same bytes object is written to each subscriber's transport. WebSocketResponse(compress=False) so no
per-connection deflate context applies; runs on uvloop.
"""

from __future__ import annotations

from bench.fanout.common import ws_server_frame
from bench.fanout.stacks import _aiohttp_app
from bench.fanout.stacks._args import parse


def fan_out(channels: _aiohttp_app.Channels, chans: list[str], message: bytes) -> None:
    frame = ws_server_frame(message)
    for ch in chans:
        for transport in channels.get(ch, {}).values():
            if not transport.is_closing():
                transport.write(frame)


def main() -> None:
    args = parse(__doc__ or "")
    _aiohttp_app.run(_aiohttp_app.make_app(args.creds, fan_out), args.host, args.port, args.loop)


if __name__ == "__main__":
    main()

"""Stack candidate (a): aiohttp, `await ws.send_str(text)` for every subscriber (the naive way).

Each send goes through aiohttp's WebSocketWriter: the frame header is built and the payload copied for every
connection, and each call is a coroutine.
"""

from __future__ import annotations

from bench.fanout.stacks import _aiohttp_app
from bench.fanout.stacks._args import parse


async def fan_out(channels: _aiohttp_app.Channels, chans: list[str], message: bytes) -> None:
    text = message.decode()
    for ch in chans:
        for ws in list(channels.get(ch, ())):
            await ws.send_str(text)


def main() -> None:
    args = parse(__doc__ or "")
    _aiohttp_app.run(_aiohttp_app.make_app(args.creds, fan_out), args.host, args.port, args.loop)


if __name__ == "__main__":
    main()

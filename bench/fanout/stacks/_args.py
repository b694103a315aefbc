"""Command line shared by the stack candidates."""

from __future__ import annotations

import argparse

from bench.fanout.common import AppCreds


def parse(description: str, argv: list[str] | None = None, ws_choices: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6001)
    p.add_argument("--app-id", default=AppCreds.app_id)
    p.add_argument("--key", default=AppCreds.key)
    p.add_argument("--secret", default=AppCreds.secret)
    p.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    if ws_choices:
        p.add_argument("--ws", choices=ws_choices, default=ws_choices[0])
    args = p.parse_args(argv)
    args.creds = AppCreds(args.app_id, args.key, args.secret)
    return args

"""Command line of the Beams bench: ``python -m bench.beams [options]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

from bench.beams import report
from bench.beams.runner import WORK, Options, run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.beams", description=__doc__)
    p.add_argument("-u", "--users", type=int, default=1000, help="users, each with a web and an APNs device "
                   "(default 1000: the most one publish may name)")
    p.add_argument("-r", "--rounds", type=int, default=3, help="measured publishes to all users (default 3)")
    p.add_argument("--warmup-users", type=int, default=20, help="users of the unmeasured warm-up publish")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a round may take (default 60)")
    p.add_argument("--quiet-pct", type=float, default=30.0,
                   help="before each round, wait until the machine is below this busy %% (100 = one core)")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="... for at most this many seconds")
    p.add_argument("--server-log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="the server's log level (debug logs every delivery retry; default warning)")
    p.add_argument("--markdown", metavar="FILE", help="append a Markdown section to FILE")
    p.add_argument("--title", default="", help="title of the Markdown section")
    return p


def main() -> None:
    args = _parser().parse_args()
    if not 1 <= args.users <= 1000:
        sys.exit("--users must be 1..1000 (a publish names at most 1000 users)")
    opts = Options(users=args.users, rounds=args.rounds, warmup_users=min(args.warmup_users, args.users),
                   timeout=args.timeout, server_log_level=args.server_log_level, quiet_pct=args.quiet_pct,
                   quiet_wait=args.quiet_wait)
    print(f"bench/beams: {opts.users} users x 2 devices (web + APNs), {opts.rounds} publishes ...", flush=True)
    started = time.monotonic()
    result = asyncio.run(run(opts))
    info = report.machine_info()
    command = "python -m bench.beams " + " ".join(sys.argv[1:])
    print(report.table(result))
    print(f"total {time.monotonic() - started:.0f}s; server log {result.log}")
    out = WORK / f"beams-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": info, "command": command, "result": asdict(result)}, indent=2))
    if args.markdown:
        with open(args.markdown, "a") as f:  # append only: other benches write their own sections
            f.write(report.markdown(result, info, command, args.title))
        print(f"appended to {args.markdown}")


if __name__ == "__main__":
    main()

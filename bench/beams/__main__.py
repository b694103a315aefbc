"""Command line of the Beams bench: ``python -m bench.beams [options]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

from bench.beams import report
from bench.beams.fairness import Fairness, run_fairness
from bench.beams.runner import Options, Run, run
from bench.beams.stack import WORK


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.beams", description=__doc__)
    p.add_argument("-u", "--users", type=int, default=1000, help="users, each with a web and an APNs device "
                   "(default 1000: the most one publish may name)")
    p.add_argument("-r", "--rounds", type=int, default=3, help="measured publishes to all users (default 3); "
                   "with --fairness, pairs of rounds (B alone, B under A)")
    p.add_argument("--warmup-users", type=int, default=20, help="users of the unmeasured warm-up publish")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a round may take (default 60; "
                   "--fairness adds 1 s per 200 devices of A)")
    p.add_argument("--quiet-pct", type=float, default=30.0,
                   help="before each round, wait until the machine is below this busy %% (100 = one core)")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="... for at most this many seconds")
    p.add_argument("--server-log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="the server's log level (debug logs every delivery retry; default warning)")
    p.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"],
                   help="sqlite (default: a file in bench/.work) or postgres: a fresh database "
                   "tidings_bench_<random> on 127.0.0.1:5432 (user postgres), dropped at the end")
    p.add_argument("--workers-processes", metavar="N[,M...]", default="",
                   help="`tidings serve` with TIDINGS_DELIVERY_WORKERS=0 plus N `tidings worker` processes "
                   "(needs --database postgres); several values, e.g. 1,2: rounds alternate between them")
    p.add_argument("--pin", action="store_true",
                   help="server side on CPU 0 (taskset), gateways and this driver on CPU 1")
    p.add_argument("--lean-gateways", action="store_true",
                   help="the lean gateways of bench/beams/lean.py instead of the test suite's emulators "
                   "(which cannot take much more than 1,000 notifications/s on one CPU)")
    p.add_argument("--fairness", action="store_true",
                   help="instead: a small publish of instance B during a big one of instance A, vs B alone")
    p.add_argument("--big", type=int, default=20_000, help="--fairness: devices of A (default 20000)")
    p.add_argument("--small", type=int, default=10, help="--fairness: devices of B (default 10)")
    p.add_argument("--big-start", type=int, default=1000,
                   help="--fairness: B publishes once this many of A's notifications arrived (default 1000)")
    p.add_argument("--tidings-src", metavar="DIR", help="run the server side from another checkout's src "
                   "(PYTHONPATH), e.g. a `git worktree` of an older commit")
    p.add_argument("--compare-src", metavar="DIR", help="also run the server side from DIR (\"before\"), with "
                   "gateways, database and server of its own, rounds alternating with this code's (\"after\")")
    p.add_argument("--markdown", metavar="FILE", help="append a Markdown subsection to FILE")
    p.add_argument("--title", default="", help="title of the Markdown subsection")
    return p


def main() -> None:
    args = _parser().parse_args()
    if not 1 <= args.users <= 1000:
        sys.exit("--users must be 1..1000 (a publish names at most 1000 users)")
    try:
        variants = [int(n) for n in args.workers_processes.split(",") if n.strip()]
    except ValueError:
        sys.exit("--workers-processes: numbers separated by commas, e.g. 1,2")
    if variants and (min(variants) < 1 or args.database != "postgres"):
        sys.exit("--workers-processes needs --database postgres and counts of at least 1")
    if args.fairness and (args.small < 2 or args.big < args.big_start):
        sys.exit("--fairness needs --small >= 2 and --big >= --big-start")
    opts = Options(users=args.users, rounds=args.rounds, warmup_users=min(args.warmup_users, args.users),
                   timeout=args.timeout, server_log_level=args.server_log_level, quiet_pct=args.quiet_pct,
                   quiet_wait=args.quiet_wait, database=args.database, workers_processes=variants, pin=args.pin,
                   lean_gateways=args.lean_gateways, tidings_src=args.tidings_src, compare_src=args.compare_src,
                   big_devices=args.big, small_devices=args.small, big_start=args.big_start)
    if args.fairness:
        print(f"bench/beams --fairness: B's {opts.small_devices} devices alone and during A's "
              f"{opts.big_devices}, {opts.rounds} rounds each ...", flush=True)
    else:
        print(f"bench/beams: {opts.users} users x 2 devices (web + APNs), {opts.rounds} publishes ...", flush=True)
    started = time.monotonic()
    result: Run | Fairness = asyncio.run(run_fairness(opts)) if args.fairness else asyncio.run(run(opts))
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

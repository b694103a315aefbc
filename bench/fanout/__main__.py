"""Command line of the fan-out bench: ``python -m bench.fanout {run,install,list}``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys

from bench.fanout import report
from bench.fanout.runner import Options, Result, run
from bench.fanout.targets import DEFAULT_TARGETS, TARGETS, WORK, install_soketi, with_sources


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="npm install soketi into bench/.work/soketi")
    inst.add_argument("--force", action="store_true")
    sub.add_parser("list", help="list the targets")
    run = sub.add_parser("run", help="run the bench")
    run.add_argument("-t", "--targets", default=",".join(DEFAULT_TARGETS),
                     help=f"comma-separated, in order (default {','.join(DEFAULT_TARGETS)})")
    run.add_argument("-n", "--subscribers", default="2000",
                     help="subscriber count; a comma-separated list runs every target at each (default 2000)")
    run.add_argument("-k", "--events", type=int, default=1000, help="events triggered (default 1000)")
    run.add_argument("-r", "--rate", type=float, default=100.0, help="events per second (default 100)")
    run.add_argument("-c", "--clients", type=int, default=1, help="subscriber processes (default 1)")
    run.add_argument("--sample", type=int, default=50, help="subscribers that decode for latency (default 50)")
    run.add_argument("--warmup", type=int, default=20, help="warm-up events before measuring (default 20)")
    run.add_argument("--stall", type=float, default=10.0, help="give up after this long without a delivery")
    run.add_argument("--timeout", type=float, default=None, help="limit of one round (default 3*K/rounds/R+30 s)")
    run.add_argument("--quiet-pct", type=float, default=30.0,
                     help="before the run, wait until the machine is below this busy %% (100 = one core)")
    run.add_argument("--quiet-wait", type=float, default=30.0, help="... for at most this many seconds")
    run.add_argument("--pin", default="auto",
                     help="SERVER_CPUS:CLIENT_CPUS (e.g. 0:1), 'off', or 'auto' (0:1-N on a machine with 2+ CPUs): "
                          "the server runs on its CPUs, the subscriber and trigger processes on theirs")
    run.add_argument("--rounds", type=int, default=5,
                     help="split the K events of each target into this many rounds, interleaved across targets")
    run.add_argument("--markdown", metavar="FILE", help="append a Markdown section to FILE")
    run.add_argument("--title", default="", help="title of the Markdown section")
    run.add_argument("--no-install", action="store_true", help="do not npm install soketi when it is missing")
    run.add_argument("--tidings-src", metavar="DIR",
                     help="run the tidings targets from another checkout's src (PYTHONPATH), e.g. a `git worktree`")
    run.add_argument("--compare-src", metavar="DIR",
                     help="also run 'tidings-before' from DIR (PYTHONPATH), right after 'tidings'")
    return p


def _cpus(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _pinning(spec: str) -> tuple[list[int] | None, list[int] | None]:
    """(server CPUs, client CPUs) from --pin."""
    if spec == "off":
        return None, None
    if spec == "auto":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return None, None
        return cpus[:1], cpus[1:]
    server, _, client = spec.partition(":")
    return _cpus(server), (_cpus(client) if client else None)


async def _run_all(targets: list[str], sizes: list[int], base: Options) -> list[Result]:
    results = []
    for n in sizes:
        opts = Options(**{**base.__dict__, "subscribers": n})
        print(f"[{dt.datetime.now():%H:%M:%S}] {n} subscribers per target, {opts.events} events per target at "
              f"{opts.rate:g}/s in {len(opts.round_events())} interleaved rounds: {', '.join(targets)}", flush=True)

        def log(msg: str) -> None:
            print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)

        results += await run([TARGETS[t] for t in targets], opts, log)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "install":
        install_soketi(force=args.force)
        return 0
    if args.cmd == "list":
        for t in TARGETS.values():
            print(f"{t.name:26} {t.description}")
        return 0
    targets = with_sources(args, TARGETS, [t.strip() for t in args.targets.split(",") if t.strip()])
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        print(f"unknown targets: {unknown}; see `python -m bench.fanout list`", file=sys.stderr)
        return 2
    if "soketi" in targets and not args.no_install and TARGETS["soketi"].missing() is not None:
        install_soketi()
    sizes = [int(s) for s in args.subscribers.split(",")]
    base = Options(events=args.events, rate=args.rate, rounds=args.rounds, clients=args.clients, sample=args.sample,
                   warmup=args.warmup, stall=args.stall, timeout=args.timeout,
                   quiet_pct=args.quiet_pct, quiet_wait=args.quiet_wait)
    info = report.machine_info()
    server_cpus, client_cpus = _pinning(args.pin)
    base.server_cpus = server_cpus
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # the subscriber processes inherit it
    info["pinning"] = (f"server on CPU {server_cpus}, subscribers and trigger on CPU {client_cpus}"
                       if server_cpus else "none")
    command = report.command_line()
    try:
        import uvloop

        results = uvloop.run(_run_all(targets, sizes, base))
    except ImportError:
        results = asyncio.run(_run_all(targets, sizes, base))
    print()
    print(report.table(results))
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (WORK / f"fanout-{stamp}.json").write_text(report.to_json(results, base, info, command))
    if args.markdown:
        section = report.markdown(results, base, info, command, args.title or f"Run of {info['date']}")
        with open(args.markdown, "a") as f:
            f.write(section + "\n")
        print(f"\nappended to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

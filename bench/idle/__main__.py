"""Command line of the idle bench: ``python -m bench.idle {run,list}``.

Memory per idle subscribed WebSocket connection, and connects per second, for each target in turn.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass

import uvloop

from bench.fanout.__main__ import _pinning
from bench.fanout.report import machine_info as fanout_machine_info
from bench.fanout.targets import TARGETS, WORK, Target, install_soketi, with_sources
from bench.idle import report
from bench.idle.runner import Options, Result, raise_nofile, run

DEFAULT_TARGETS = ["tidings", "soketi"]


def machine_info() -> dict[str, str]:
    info = fanout_machine_info()
    info["uname"] = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return info


def add_run_options(run: argparse.ArgumentParser, default_targets: list[str]) -> None:
    run.add_argument("-t", "--targets", default=",".join(default_targets),
                     help=f"comma-separated, in order (default {','.join(default_targets)})")
    run.add_argument("-n", "--connections", type=int, default=10_000, help="connections per target (default 10000)")
    run.add_argument("--channels", type=int, default=100, help="public channels, round robin (default 100)")
    run.add_argument("-c", "--clients", type=int, default=2, help="client processes (default 2)")
    run.add_argument("--inflight", type=int, default=200,
                     help="connections in setup at once, over all client processes (default 200)")
    run.add_argument("--idle", type=float, default=5.0, help="seconds idle before the 'after' RSS (default 5)")
    run.add_argument("--warmup", type=int, default=100, help="warm-up connections before 'before' (default 100)")
    run.add_argument("--settle", type=float, default=2.0, help="seconds between warm-up and 'before' (default 2)")
    run.add_argument("--quiet-pct", type=float, default=30.0,
                     help="before each target, wait until the machine is below this busy %% (100 = one core)")
    run.add_argument("--quiet-wait", type=float, default=20.0, help="... for at most this many seconds")
    run.add_argument("--repeat", type=int, default=1, help="run the whole target sequence this many times")
    run.add_argument("--pin", default="auto",
                     help="SERVER_CPUS:CLIENT_CPUS (e.g. 0:1), 'off', or 'auto' (0:1-N on a machine with 2+ CPUs)")
    run.add_argument("--markdown", metavar="FILE", help="append a Markdown section to FILE")
    run.add_argument("--title", default="", help="title of the Markdown section")
    run.add_argument("--no-install", action="store_true", help="do not npm install soketi when it is missing")
    run.add_argument("--tidings-src", metavar="DIR",
                     help="run the tidings targets from another checkout's src (PYTHONPATH), e.g. a `git worktree`")
    run.add_argument("--compare-src", metavar="DIR",
                     help="also run 'tidings-before' from DIR (PYTHONPATH), right after 'tidings'")


def options(args: argparse.Namespace) -> Options:
    return Options(connections=args.connections, channels=args.channels, clients=args.clients,
                   inflight=args.inflight, idle=args.idle, warmup=args.warmup, settle=args.settle, repeat=args.repeat,
                   quiet_pct=args.quiet_pct, quiet_wait=args.quiet_wait)


def prepare(args: argparse.Namespace, opts: Options, info: dict[str, str]) -> None:
    """Pinning and the file descriptor limit, for this process and (inherited) the servers and clients."""
    server_cpus, client_cpus = _pinning(args.pin)
    opts.server_cpus = server_cpus
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # the client processes inherit it
    info["pinning"] = (f"server on CPU {server_cpus}, clients on CPU {client_cpus}" if server_cpus else "none")
    # The server holds N sockets plus its own; a client process holds N / clients.
    need = opts.connections + opts.warmup + 1024
    soft, hard = raise_nofile(need)
    info["nofile"] = f"{soft} (hard {hard})"
    if soft < need:
        print(f"warning: RLIMIT_NOFILE is {soft} (hard {hard}), below the {need} the server needs for "
              f"{opts.connections} connections; connections will fail past it", file=sys.stderr)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


@dataclass
class Run:
    results: list[Result]
    opts: Options
    info: dict[str, str]
    command: str


def execute(args: argparse.Namespace, targets: dict[str, Target], prog: str) -> Run | None:
    """Run the targets named by ``args``; print the table and write the JSON. None if the targets are wrong."""
    targets = dict(targets)
    names = with_sources(args, targets, [t.strip() for t in args.targets.split(",") if t.strip()])
    unknown = [t for t in names if t not in targets]
    if unknown:
        print(f"unknown targets: {unknown}; known: {', '.join(targets)}", file=sys.stderr)
        return None
    if "soketi" in names and not args.no_install and targets["soketi"].missing() is not None:
        install_soketi()
    opts = options(args)
    info = machine_info()
    prepare(args, opts, info)
    command = f"python -m {prog} " + shlex.join(sys.argv[1:])
    log(f"{opts.connections} connections per target, {opts.channels} channels, {opts.clients} client processes, "
        f"{opts.inflight} in flight: {', '.join(names)}")
    results = uvloop.run(run([targets[n] for n in names], opts, log))
    print()
    print(report.table(results))
    print()
    for r in results:
        print(report.details(r))
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (WORK / f"{prog.rsplit('.', 1)[-1]}-{stamp}.json").write_text(report.to_json(results, opts, info, command))
    return Run(results, opts, info, command)


def append_markdown(path: str, section: str) -> None:
    with open(path, "a") as f:
        f.write(section + "\n")
    print(f"\nappended to {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the targets")
    add_run_options(sub.add_parser("run", help="run the bench"), DEFAULT_TARGETS)
    args = p.parse_args(argv)
    if args.cmd == "list":
        for t in TARGETS.values():
            print(f"{t.name:26} {t.description}")
        return 0
    done = execute(args, TARGETS, "bench.idle")
    if done is None:
        return 2
    if args.markdown:
        append_markdown(args.markdown, report.markdown(done.results, done.opts, done.info, done.command,
                                                       args.title or f"Run of {done.info['date']}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

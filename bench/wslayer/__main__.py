"""The WebSocket layer, chosen by measurement: ``python -m bench.wslayer``.

Two measures of each layer for a server-side connection past the handshake:

1. memory: N connections (default 10,000) to a minimal Pusher-speaking server built on the layer
   (``bench/wslayer/server.py``), subscribed and idle, through ``bench/idle``'s runner: (RSS after - RSS
   before) / N, and connects per second on the way. The floor (``bench/fanout/floor.py``, hand-rolled
   framing) runs too, as the cost of a connection with no layer at all.
2. frames: CPU per small text frame parsed and answered, in this process (``bench/wslayer/frames.py``).
"""

from __future__ import annotations

import argparse
import sys

from bench.fanout.report import _version
from bench.fanout.targets import TARGETS as FANOUT_TARGETS
from bench.fanout.targets import Ctx, Target
from bench.idle import report as idle_report
from bench.idle.__main__ import Run, add_run_options, append_markdown, execute, log, machine_info
from bench.idle.runner import Result
from bench.wslayer import frames
from bench.wslayer.frames import FrameResult

LAYER_DESCRIPTIONS = {
    "aiohttp": "aiohttp.web on uvloop, a handler holding WebSocketResponse(compress=False) in `async for`",
    "websockets": "websockets.server.ServerProtocol (sans-I/O) in an asyncio.Protocol on uvloop",
    "websockets-lean": "the same, emptying the handshake request's and response's headers once answered",
    "wsproto": "wsproto.WSConnection(SERVER) (sans-I/O, h11 upgrade) in an asyncio.Protocol on uvloop",
}


def _server(layer: str) -> Target:
    def argv(ctx: Ctx) -> list[str]:
        return [sys.executable, "-m", "bench.wslayer.server", "--layer", layer, "--host", ctx.host,
                "--port", str(ctx.port)]

    return Target(layer, LAYER_DESCRIPTIONS[layer], argv, ready_path=None)


TARGETS: dict[str, Target] = {"floor": FANOUT_TARGETS["floor"], **{n: _server(n) for n in LAYER_DESCRIPTIONS}}
DEFAULT_TARGETS = ["floor", "aiohttp", "websockets", "websockets-lean", "wsproto"]

COLUMNS = ["layer", "KB/conn (RSS)", "anon KB/conn", "heap KB/conn", "connects/s", "srv us/connect",
           "frames/s", "us/frame", "frames/s via loop"]


def _summary_rows(memory: list[Result], fr: list[FrameResult]) -> list[list[str]]:
    by_mem = {r.target: r for r in memory}
    by_fr = {r.layer: r for r in fr}
    rows = []
    for name in dict.fromkeys([*by_mem, *by_fr]):
        m, f = by_mem.get(name), by_fr.get(name)
        ok = m is not None and not m.status.startswith(("failed", "skipped"))
        rows.append([
            name,
            f"{m.kb_per_conn:.2f}" if m and ok else (m.status if m else "-"),
            f"{m.anon_kb_per_conn:.2f}" if m and ok else "-",
            f"{f.heap_kb:.2f}" if f and f.heap_kb is not None else "-",
            f"{m.connects_per_s:,.0f}" if m and ok else "-",
            f"{m.server_us_per_connect:.0f}" if m and ok else "-",
            f"{f.tight_fps:,.0f}" if f else "-",
            f"{1e6 / f.tight_fps:.2f}" if f and f.tight_fps else "-",
            f"{f.loop_fps:,.0f}" if f else "-",
        ])
    return rows


def summary_table(memory: list[Result], fr: list[FrameResult]) -> str:
    rows = _summary_rows(memory, fr)
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [COLUMNS, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(run: Run | None, fr: list[FrameResult], info: dict[str, str], command: str, title: str,
             n_frames: int, rounds: int) -> str:
    memory = run.results if run else []
    lines = [
        f"### {title}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, Python {info['python']}",
        f"- `uname -a`: {info['uname']}",
        f"- versions: {info['versions']}",
        f"- command: `{command}`",
    ]
    if run:
        o = run.opts
        lines.append(f"- memory: {o.connections} connections per server on {o.channels} channels, {o.clients} client "
                     f"processes, {o.inflight} in setup at once, {o.idle:g} s idle; CPU pinning: "
                     f"{run.info.get('pinning', 'none')}; RLIMIT_NOFILE {run.info.get('nofile', '?')}")
    if fr:
        lines.append(f"- frames: {n_frames} frames per loop, best of {rounds} rounds (layers take turns in each), "
                     "in the bench process (pinned like the clients)")
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _summary_rows(memory, fr)]
    lines += ["", "<details><summary>details</summary>", ""]
    if memory:
        lines += ["Memory measure, all columns:", "", *idle_report.md_table(memory), ""]
        lines += [idle_report.details(r) for r in memory]
        lines.append("")
    for f in fr:
        lines.append(f"- {f.layer} frames: tight CPU s per round {' '.join(f'{x:.3f}' for x in f.tight_cpu_s)}, "
                     f"via loop {' '.join(f'{x:.3f}' for x in f.loop_cpu_s)}")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.wslayer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, DEFAULT_TARGETS)
    p.add_argument("--frames", type=int, default=200_000, help="frames per loop in the frames measure (default 200000)")
    p.add_argument("--frame-rounds", type=int, default=5, help="rounds of the frames measure, best counts (default 5)")
    p.add_argument("--skip-memory", action="store_true", help="only the frames measure")
    p.add_argument("--skip-frames", action="store_true", help="only the memory measure")
    args = p.parse_args(argv)
    run: Run | None = None
    if not args.skip_memory:
        run = execute(args, TARGETS, "bench.wslayer")
        if run is None:
            return 2
    info = run.info if run else machine_info()
    info["versions"] += ", " + ", ".join(f"{d} {_version(d)}" for d in ("wsproto", "h11", "orjson"))
    fr: list[FrameResult] = []
    if not args.skip_frames:
        layers = [t for t in (t.strip() for t in args.targets.split(",")) if t in frames.LAYERS]
        log(f"frames: {args.frames} per loop, {args.frame_rounds} rounds: {', '.join(layers)}")
        fr = frames.run(layers, args.frames, args.frame_rounds, log)
    print()
    print(summary_table(run.results if run else [], fr))
    command = run.command if run else "python -m bench.wslayer " + " ".join(sys.argv[1:])
    if args.markdown:
        append_markdown(args.markdown, markdown(run, fr, info, command, args.title or f"Run of {info['date']}",
                                                args.frames, args.frame_rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

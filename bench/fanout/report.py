"""Machine description, the text table and the Markdown section for bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict

from bench.fanout.runner import Options, Result
from bench.fanout.targets import SOKETI_DIR


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, str]:
    node = shutil.which("node")
    node_v = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else "-"
    soketi_v = "-"
    pkg = SOKETI_DIR / "node_modules" / "@soketi" / "soketi" / "package.json"
    if pkg.exists():
        soketi_v = json.loads(pkg.read_text())["version"]
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node_v,
        "versions": ", ".join(
            f"{d} {_version(d)}" for d in ("aiohttp", "uvloop", "uvicorn", "starlette", "websockets", "httptools")
        )
        + f", soketi {soketi_v}",
    }


COLUMNS = [
    ("target", "target"),
    ("deliv/s", "deliveries per second, first trigger to last delivery"),
    ("p50 ms", "trigger-to-receive latency, median"),
    ("p99 ms", "trigger-to-receive latency, 99th percentile"),
    ("srv us/deliv", "server CPU (user+sys, whole process tree) per delivery"),
    ("x floor", "srv us/deliv divided by the floor's, same run"),
    ("srv CPU%", "server CPU over the window (100% = one core)"),
    ("cli us/deliv", "subscriber processes' CPU per delivery"),
    ("ev/s", "triggers per second actually sent (one kept-alive connection)"),
    ("received", "deliveries received / expected"),
    ("RSS MB", "server resident memory at the end (process tree)"),
    ("foreign%", "CPU used by anything else on the machine during the window (noise indicator)"),
]


def _row(r: Result, ratio: float | None) -> list[str]:
    if r.status.startswith(("skipped", "failed")):
        return [r.target, r.status] + [""] * (len(COLUMNS) - 2)
    recv = f"{r.received}/{r.expected}" + ("" if r.status == "ok" else f" {r.status}")
    return [
        r.target,
        f"{r.deliveries_per_s:,.0f}",
        f"{r.lat_p50_ms:.1f}",
        f"{r.lat_p99_ms:.1f}",
        f"{r.server_us_per_delivery:.2f}",
        f"{ratio:.2f}" if ratio else "-",
        f"{r.server_cpu_pct:.0f}",
        f"{r.client_us_per_delivery:.2f}",
        f"{r.trigger_rate:.0f}",
        recv,
        f"{r.server_rss_mb:.0f}",
        f"{r.foreign_cpu_pct:.0f}",
    ]


def _ok(r: Result) -> bool:
    return r.status == "ok"


def _ratio(results: list[Result], r: Result) -> float | None:
    """``r``'s server CPU per delivery over the floor's, same run and size."""
    for f in results:
        if f.target == "floor" and f.subscribers == r.subscribers and _ok(f) and r.received:
            return r.server_us_per_delivery / f.server_us_per_delivery
    return None


def _text(rows: list[list[str]]) -> str:
    head = [c for c, _ in COLUMNS]
    widths = [max(len(row[i]) for row in [head, *rows] if not row[1].startswith(("skipped", "failed")))
              for i in range(len(COLUMNS))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(head, widths, strict=True))),
           "  ".join("-" * w for w in widths)]
    for row in rows:
        if row[1].startswith(("skipped", "failed")):
            out.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        cells = zip(row, widths, strict=True)
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    return "\n".join(out)


def _md(rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def table(results: list[Result]) -> str:
    return _text([_row(r, _ratio(results, r)) for r in results])


def markdown(results: list[Result], opts: Options, info: dict[str, str], command: str, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, "
        f"Python {info['python']}, Node {info['node']}",
        f"- versions: {info['versions']}",
        f"- CPU pinning: {info.get('pinning', 'none')}",
        f"- command: `{command}`",
        f"- {opts.events} events at {opts.rate:g}/s after {opts.warmup} warm-up events, "
        f"{opts.clients} subscriber process(es), latency sampled on {opts.sample} subscribers, "
        f"{opts.rounds} interleaved rounds (all targets up at once, measured one at a time)",
        "",
    ]
    busy = {round(r.busy_before_pct) for r in results}
    lines.insert(-1, f"- machine busy before the run: {', '.join(f'{b}%' for b in sorted(busy))} (100% = one CPU)")
    for n in sorted({r.subscribers for r in results}, reverse=True):
        sub = [r for r in results if r.subscribers == n]
        lines += [f"**{n} subscribers**", ""]
        lines += _md([_row(r, _ratio(results, r)) for r in sub])
        lines.append("")
        lines.append("<details><summary>details</summary>")
        lines.append("")
        for r in sub:
            if r.status.startswith("skipped"):
                continue
            lines.append(
                f"- {r.target}: setup {r.setup_s:.1f}s, window {r.window_s:.2f}s over {r.rounds} rounds, "
                f"us/delivery per round {' '.join(f'{x:.2f}' for x in r.round_us_per_delivery)}, "
                f"server user {r.server_user_s:.2f}s "
                f"+ sys {r.server_sys_s:.2f}s over {r.server_procs} process(es), client CPU {r.client_cpu_pct:.0f}% "
                f"(sys {r.client_sys_s:.2f}s), trigger CPU {r.trigger_cpu_s:.2f}s, machine busy "
                f"{r.machine_busy_pct:.0f}% (foreign {r.foreign_cpu_pct:.0f}%), "
                f"trigger request p50/p99 {r.trigger_p50_ms:.1f}/{r.trigger_p99_ms:.1f} ms, latency max "
                f"{r.lat_max_ms:.1f} ms ({r.lat_samples} samples), other frames {r.other_frames}, "
                f"closed {r.closed}" + (f", trigger errors {r.trigger_failed}: {r.trigger_error}"
                                        if r.trigger_failed else "")
            )
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def to_json(results: list[Result], opts: Options, info: dict[str, str], command: str) -> str:
    return json.dumps(
        {"machine": info, "command": command, "options": {k: v for k, v in asdict(opts).items() if k != "creds"},
         "results": [asdict(r) for r in results]},
        indent=2,
    )


def command_line() -> str:
    return "python -m bench.fanout " + shlex.join(sys.argv[1:])

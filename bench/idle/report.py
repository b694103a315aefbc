"""Text table, Markdown section and JSON of an idle run."""

from __future__ import annotations

import json
from dataclasses import asdict

from bench.idle.runner import Options, Result

COLUMNS = [
    ("target", "target"),
    ("conns", "connections subscribed (of N)"),
    ("RSS before MB", "server tree VmRSS after start-up and warm-up, before the N connections"),
    ("RSS after MB", "server tree VmRSS with the N connections subscribed and idle"),
    ("KB/conn", "(RSS after - RSS before) / N"),
    ("anon KB/conn", "the same over RssAnon (heap only, no mapped files)"),
    ("connects/s", "N / (first connect to last pusher:connection_established)"),
    ("connect p50/p99 ms", "one connection: TCP connect + upgrade + connection_established"),
    ("srv us/connect", "server CPU (user+sys, process tree) during the connect phase, per connection"),
    ("srv CPU%", "server CPU over the connect phase (100% = one core)"),
    ("cli CPU%", "client processes' CPU over the connect phase"),
    ("subs/s", "subscriptions per second (same bound in flight)"),
    ("after close MB", "server tree VmRSS 2 s after every connection was closed"),
]


def _row(r: Result) -> list[str]:
    if r.status.startswith(("skipped", "failed")):
        return [r.target, r.status] + [""] * (len(COLUMNS) - 2)
    return [
        r.target + (f" #{r.round}" if r.round > 1 else ""),
        f"{r.subscribed}" + ("" if r.subscribed == r.connections else f"/{r.connections}"),
        f"{r.rss_before / 2**20:.1f}",
        f"{r.rss_after / 2**20:.1f}",
        f"{r.kb_per_conn:.2f}",
        f"{r.anon_kb_per_conn:.2f}",
        f"{r.connects_per_s:,.0f}",
        f"{r.connect_p50_ms:.1f}/{r.connect_p99_ms:.1f}",
        f"{r.server_us_per_connect:.0f}",
        f"{r.server_connect_cpu_pct:.0f}",
        f"{r.client_connect_cpu_pct:.0f}",
        f"{r.subscribes_per_s:,.0f}",
        f"{r.rss_after_close / 2**20:.1f}",
    ]


def table(results: list[Result]) -> str:
    head = [c for c, _ in COLUMNS]
    rows = [_row(r) for r in results]
    full = [row for row in rows if not row[1].startswith(("skipped", "failed"))]
    widths = [max(len(row[i]) for row in [head, *full]) for i in range(len(COLUMNS))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(head, widths, strict=True))),
           "  ".join("-" * w for w in widths)]
    for row in rows:
        if row[1].startswith(("skipped", "failed")):
            out.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)


def details(r: Result) -> str:
    if r.status.startswith("skipped"):
        return f"- {r.target}: {r.status}"
    return (
        f"- {r.target}{f' #{r.round}' if r.round > 1 else ''}: {r.status}; RSS before/after/after close "
        f"{r.rss_before / 2**20:.1f}/{r.rss_after / 2**20:.1f}/{r.rss_after_close / 2**20:.1f} MB, "
        f"RssAnon {r.anon_before / 2**20:.1f}/{r.anon_after / 2**20:.1f} MB, {r.server_procs} process(es); "
        f"connect {r.connected} ok {r.connect_failed} failed in {r.connect_s:.2f}s "
        f"(max {r.connect_max_ms:.0f} ms, server CPU {r.server_connect_cpu_s:.2f}s, foreign CPU "
        f"{r.foreign_connect_cpu_pct:.0f}%, machine busy before {r.busy_before_pct:.0f}%); "
        f"subscribe {r.subscribed} ok {r.subscribe_failed} failed in {r.subscribe_s:.2f}s "
        f"(p50/p99 {r.subscribe_p50_ms:.1f}/{r.subscribe_p99_ms:.1f} ms, server {r.server_us_per_subscribe:.0f} us "
        f"each); idle {r.idle_s:.1f}s at {r.server_idle_cpu_pct:.1f}% server CPU, then {r.live_after_idle} live, "
        f"{r.closed_by_server} closed, {r.pings} pings and {r.other_frames} other frames received while idle; "
        f"first connect to the 'after' read {r.first_connect_to_after_s:.0f}s"
        + (f"; errors: {'; '.join(r.errors)}" if r.errors else "")
        + f"; log {r.log}"
    )


def md_table(results: list[Result]) -> list[str]:
    return (["| " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
            + ["| " + " | ".join(_row(r)) + " |" for r in results])


def markdown(results: list[Result], opts: Options, info: dict[str, str], command: str, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, "
        f"Python {info['python']}, Node {info['node']}",
        f"- `uname -a`: {info.get('uname', '-')}",
        f"- versions: {info['versions']}",
        f"- CPU pinning: {info.get('pinning', 'none')}; RLIMIT_NOFILE {info.get('nofile', '?')}",
        f"- command: `{command}`",
        f"- {opts.connections} connections per target on {opts.channels} public channels (round robin), "
        f"{opts.clients} client process(es), {opts.inflight} in setup at once, {opts.warmup} warm-up connections, "
        f"{opts.idle:g} s idle before the 'after' read; targets one after the other",
        "",
    ]
    lines += md_table(results)
    lines += ["", "<details><summary>details</summary>", ""]
    lines += [details(r) for r in results]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def to_json(results: list[Result], opts: Options, info: dict[str, str], command: str) -> str:
    return json.dumps(
        {"machine": info, "command": command, "options": {k: v for k, v in asdict(opts).items() if k != "creds"},
         "results": [asdict(r) for r in results]},
        indent=2,
    )

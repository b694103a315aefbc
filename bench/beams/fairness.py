"""`--fairness`: a small publish of instance B while a big publish of instance A is in progress.

Set-up, not measured: instance A (the default one) with `big_devices` devices (half web, half APNs) and instance B
(`tidings instances create` + `configure`, same APNs key and topic) with `small_devices` devices, all inserted
straight into the database (database.insert_devices: 20,000 registrations through the device API would take
minutes), each subscribed to one interest ("big" for A, "small" for B); their tokens are real ones of the
gateways (Web Push subscriptions bound to each instance's VAPID key, registered APNs tokens). One unmeasured
warm-up publish of B.

Then, `rounds` times, two measured rounds:

- alone: B publishes to "small" with nothing else to do; measured from B's publish request to B's last
  notification at a gateway;
- under: A publishes to "big"; once `big_start` of A's notifications have reached the gateways, B publishes to
  "small": the same measurement, plus where A was then and how long A still took (what B would have waited
  behind A if publishes were served one after the other).

Every notification is told apart by its device token (APNs) or subscription id (Web Push) at the gateways.
With `--compare-src DIR`, a second set-up runs the server side from DIR and the rounds alternate between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from bench.beams.database import insert_devices
from bench.beams.runner import Options, arrived, codes, publish, quiet, until_done
from bench.beams.stack import TOPIC, Stack


@dataclass
class FairRound:
    kind: str  # "alone" | "under"
    b_ms: float  # B's publish request sent -> B's last notification at a gateway
    b_first_ms: float  # ... -> B's first
    b_arrived: int
    a_before: int = 0  # A's notifications at the gateways when B's publish was sent
    a_window_s: float = 0.0  # A's publish -> A's last notification
    a_per_s: float = 0.0  # A's notifications per second over that window
    a_left_s: float = 0.0  # B's publish -> A's last notification
    server_us_per_notification: float = 0.0  # server side CPU over the round, per notification (A's + B's)
    db_us_per_notification: float = 0.0
    foreign_cpu_pct: float = 0.0
    busy_before_pct: float = 0.0
    failed: int = 0  # gateway answers other than success
    code: str = ""  # with --compare-src: "after" or "before"


@dataclass
class Fairness:
    options: Options
    database: str = ""
    insert_s: float = 0.0
    setup_s: float = 0.0
    server_rss_mb: float = 0.0
    rounds: list[FairRound] = field(default_factory=list)
    log: str = ""


async def _until_count(stack: Stack, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(g.ask("count") for g in stack.gateways) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} notifications at the gateways after {timeout}s")
        await asyncio.sleep(0.005)


async def _round(stack: Stack, kind: str, b: tuple[str, str], b_keys: set[str], opts: Options) -> FairRound:
    for g in stack.gateways:
        g.ask("clear")
    big = opts.big_devices if kind == "under" else 0
    timeout = opts.timeout + big / 200
    meter = await stack.meter()
    t_a = time.time()
    if big:
        a_id = await publish(stack.http, stack.base, stack.instance_id, stack.secret, "interests", ["big"])
        await _until_count(stack, opts.big_start, timeout)
    t_b = time.time()
    b_id = await publish(stack.http, stack.base, b[0], b[1], "interests", ["small"])
    await arrived(stack.gateways, big + opts.small_devices, timeout)
    await until_done(stack, b[0], b[1], b_id, t_b, timeout)
    if big:
        await until_done(stack, stack.instance_id, stack.secret, a_id, t_a, timeout)
    usage = await meter.stop()
    arrivals = [a for g in stack.gateways for a in g.ask("arrivals")]
    ok = [(t, key) for t, code, key in arrivals if code in (200, 201)]
    b_times = sorted(t for t, key in ok if key in b_keys)
    a_times = sorted(t for t, key in ok if key not in b_keys)
    total = big + opts.small_devices
    r = FairRound(
        kind=kind,
        b_ms=(b_times[-1] - t_b) * 1000,
        b_first_ms=(b_times[0] - t_b) * 1000,
        b_arrived=len(b_times),
        server_us_per_notification=usage.server_s * 1e6 / total,
        db_us_per_notification=usage.db_s * 1e6 / total,
        foreign_cpu_pct=100 * usage.foreign_s / usage.wall_s,
        failed=len(arrivals) - len(ok),
    )
    if a_times:
        r.a_before = sum(1 for t in a_times if t < t_b)
        r.a_window_s = a_times[-1] - t_a
        r.a_per_s = len(a_times) / r.a_window_s
        r.a_left_s = a_times[-1] - t_b
    return r


async def _prepare(stack: Stack, opts: Options) -> tuple[tuple[str, str], set[str]]:
    """Instance B, both instances' devices in the database; returns (B's id and secret, B's gateway keys)."""
    b = await stack.add_instance()
    a_web = stack.web.ask("more", opts.big_devices // 2, stack.vapid_keys[stack.instance_id])
    a_apns = stack.apns.ask("more", opts.big_devices - opts.big_devices // 2)
    b_web = stack.web.ask("more", opts.small_devices // 2, stack.vapid_keys[b[0]])
    b_apns = stack.apns.ask("more", opts.small_devices - opts.small_devices // 2)
    await insert_devices(stack.db.url, stack.instance_id, [("web", tok) for tok in a_web["tokens"]]
                         + [("apns", tok) for tok in a_apns["tokens"]], "big", TOPIC)
    await insert_devices(stack.db.url, b[0], [("web", tok) for tok in b_web["tokens"]]
                         + [("apns", tok) for tok in b_apns["tokens"]], "small", TOPIC)
    return b, set(b_web["ids"]) | set(b_apns["ids"])


async def run_fairness(opts: Options) -> Fairness:
    result = Fairness(opts)
    started = time.monotonic()
    procs = max(opts.workers_processes or [0])
    async with contextlib.AsyncExitStack() as stacks:
        setups: dict[str, tuple[Stack, tuple[str, str], set[str]]] = {}
        for code, code_opts in codes(opts):
            stack = await stacks.enter_async_context(
                Stack(code_opts, web_devices=0, apns_devices=0, worker_processes=procs, tag=code))
            result.log = ", ".join(filter(None, [result.log, stack.log]))
            result.database = stack.db.describe()
            t = time.monotonic()
            b, b_keys = await _prepare(stack, opts)
            result.insert_s = time.monotonic() - t
            await _round(stack, "alone", b, b_keys, opts)  # warm-up: connections, JWTs, code paths
            setups[code] = (stack, b, b_keys)
        result.setup_s = time.monotonic() - started
        for i in range(opts.rounds):
            for code, (stack, b, b_keys) in setups.items():
                for kind in ("alone", "under"):
                    busy = await quiet(opts.quiet_pct, opts.quiet_wait)
                    r = await _round(stack, kind, b, b_keys, opts)
                    r.busy_before_pct, r.code = busy, code
                    print(f"    round {i + 1}{' ' + code if code else ''} {kind:5s}: B's {r.b_arrived} "
                          f"notifications {r.b_first_ms:.0f}-{r.b_ms:.0f} ms after its publish"
                          + (f"; A had {r.a_before} of {opts.big_devices} out then, {r.a_per_s:,.0f}/s over "
                             f"{r.a_window_s:.1f}s, {r.a_left_s:.1f}s after B's publish" if kind == "under" else "")
                          + f"; server {r.server_us_per_notification:.0f} us/notification, busy before "
                          f"{busy:.0f}%, foreign {r.foreign_cpu_pct:.0f}%", flush=True)
                    result.rounds.append(r)
        result.server_rss_mb = max(stack.server.rss_mb() for stack, _, _ in setups.values())
    return result

"""The outbox core, with time passed in: per-target slots, retries, probing a failing target, bounds and drops."""

from __future__ import annotations

import pytest

from tidings.webhooks.outbox import OVERHEAD, Limits, Outbox, Request, Retry, Target, Verdict, identity

NO_RETRY = Retry((), max_retries=0)
BEAMS = Retry((10.0, 30.0, 120.0, 300.0), max_retries=4)


def target(scope: str = "a", url: str = "http://hooks.example/a", retry: Retry = BEAMS) -> Target:
    return Target("channels", scope, url, retry, timeout=3.0)


class Box:
    """An outbox and the drops it reported, one (scope, target, reason) per event."""

    def __init__(self, **limits: int) -> None:
        self.drops: list[tuple[str, str, str]] = []
        self.outbox = Outbox(Limits(**limits), on_drop=self.dropped, rand=lambda: 0.5)

    def dropped(self, product: str, scope: str, target: str, reason: str, events: int) -> None:
        self.drops.extend([(scope, target, reason)] * events)

    def put(self, t: Target, name: str, events: int = 1, size: int = 0) -> None:
        self.outbox.put(t, name.encode().ljust(size, b" "), {}, events)

    def ready(self, now: float = 0.0) -> list[str]:
        return [r.body.decode().strip() for r in self.started(now)]

    def started(self, now: float = 0.0) -> list[Request]:
        self.last = self.outbox.ready(now)
        return self.last


# -- retry schedules ------------------------------------------------------------------------------------------------
def test_beams_schedule_is_four_retries_then_give_up() -> None:
    assert [BEAMS.after(n, 0.0, 0.5) for n in range(1, 6)] == [10.0, 30.0, 120.0, 300.0, None]


def test_doubling_schedule_caps_the_delay_and_stops_at_its_window() -> None:
    retry = Retry.doubling(1.0, 60.0, within=300.0, jitter=0.5)
    assert retry.delays == (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
    assert retry.after(10, elapsed=100.0, rand=0.5) == 60.0  # the last delay repeats
    assert retry.after(1, elapsed=0.0, rand=0.0) == 0.5 and retry.after(1, 0.0, rand=0.999) == pytest.approx(1.5, 0.01)
    assert retry.after(10, elapsed=241.0, rand=0.5) is None  # the retry would start after 5 minutes


def test_no_retries() -> None:
    assert NO_RETRY.after(1, 0.0, 0.5) is None


# -- slots -----------------------------------------------------------------------------------------------------------
def test_each_target_has_its_own_slots() -> None:
    box = Box(in_flight=2)
    a, b = target("a"), target("b", "http://other.example/b")
    for i in range(4):
        box.put(a, f"a{i}")
    box.put(b, "b0")
    assert sorted(box.ready()) == ["a0", "a1", "b0"]
    assert box.ready() == []  # a is full; b has nothing more


def test_a_finished_request_frees_its_slot() -> None:
    box = Box(in_flight=1)
    a = target()
    box.put(a, "first")
    box.put(a, "second")
    (first,) = box.started()
    assert box.ready() == []
    assert box.outbox.finished(first, 204, 1.0) is Verdict.SENT
    assert box.ready(1.0) == ["second"]


def test_a_failing_target_gets_one_probe_at_a_time_until_it_answers() -> None:
    box = Box(in_flight=3)  # probe_every: 1 s
    a = target()
    for i in range(6):
        box.put(a, f"r{i}")
    r0, r1, r2 = box.started()
    assert box.outbox.finished(r0, 500, 1.0) is Verdict.RETRY
    box.outbox.finished(r1, 0, 1.0)
    assert box.ready(1.0) == []  # failing: one at a time, and r2 is still out
    box.outbox.finished(r2, 503, 1.0)
    assert box.ready(1.5) == []  # and not before a second has passed
    assert box.outbox.next_due() == 2.0
    assert box.ready(2.0) == ["r3"]  # the probe
    (probe,) = box.last
    box.outbox.finished(probe, 200, 2.1)
    assert box.ready(2.1) == ["r4", "r5"]  # answered: all slots again


def test_retries_wait_without_a_slot_and_go_before_new_requests() -> None:
    box = Box(in_flight=1)
    a = target()
    box.put(a, "old")
    (old,) = box.started()
    box.outbox.finished(old, 500, 0.0)  # retry due at 10 s
    box.put(a, "new")
    assert box.outbox.next_due() == 1.0  # the target's pause ends; the retry is due at 10 s
    assert box.ready(5.0) == ["new"]  # the retry is not due: the probe is the new one
    (new,) = box.last
    box.outbox.finished(new, 500, 6.0)
    assert box.ready(10.0) == ["old"]  # due first, before "new" (due at 16 s)
    (old,) = box.last
    assert old.failures == 1 and old.first_try == 0.0


def test_gives_up_after_the_schedule_and_counts_the_events() -> None:
    box = Box()
    a = target(retry=Retry((1.0,), max_retries=1))
    box.put(a, "batch", events=5)
    (request,) = box.started()
    box.outbox.finished(request, 500, 0.0)
    (request,) = box.started(1.0)
    assert box.outbox.finished(request, 500, 1.0) is Verdict.GAVE_UP
    assert box.drops == [("a", "hooks.example", "retries exhausted")] * 5
    assert box.outbox.events == 0 and box.outbox.targets == 0  # an empty target is forgotten


# -- bounds ----------------------------------------------------------------------------------------------------------
def test_a_full_target_drops_its_oldest_and_counts_them() -> None:
    box = Box(in_flight=1, target_events=3)
    a = target()
    box.put(a, "sending")
    (sending,) = box.started()
    for name in ("w1", "w2", "w3", "w4"):
        box.put(a, name)
    # Never the one being sent, never the one just added: the oldest waiting ones go.
    assert box.outbox.queued(a)[0] == 3
    assert box.drops == [("a", "hooks.example", "target full")] * 2
    box.outbox.finished(sending, 200, 1.0)
    assert box.ready(1.0) == ["w3"]


def test_requests_waiting_for_a_retry_are_dropped_before_untried_ones() -> None:
    box = Box(in_flight=1, target_events=2)
    a = target()
    box.put(a, "failed")
    (failed,) = box.started()
    box.outbox.finished(failed, 500, 0.0)
    box.put(a, "fresh")
    box.put(a, "newest")
    assert box.drops == [("a", "hooks.example", "target full")]
    assert box.outbox.next_due() == 1.0  # the target's pause; the dropped retry's timer (10 s) is gone
    assert box.ready(100.0) == ["fresh"]


def test_bytes_are_bounded_per_target() -> None:
    box = Box(target_bytes=3 * (1000 + OVERHEAD))
    a = target()
    for i in range(10):
        box.put(a, f"r{i}", size=1000)
    events, size = box.outbox.queued(a)
    assert events == 3 and size <= 3 * (1000 + OVERHEAD)
    assert len(box.drops) == 7


def test_a_request_bigger_than_the_bound_is_taken_alone() -> None:
    box = Box(target_events=10)
    box.put(target(), "small")
    box.put(target(), "huge", events=50)
    assert box.outbox.queued(target())[0] == 50 and box.drops == [("a", "hooks.example", "target full")]


def test_over_the_overall_bound_the_biggest_target_loses_its_oldest() -> None:
    box = Box(total_events=10)
    dead, quiet = target("dead", "http://dead.example/"), target("quiet", "http://quiet.example/")
    box.put(quiet, "q0")
    for i in range(12):
        box.put(dead, f"d{i}")
    box.put(quiet, "q1")
    assert box.outbox.events == 10
    assert box.outbox.queued(quiet)[0] == 2  # the small target keeps everything
    assert set(box.drops) == {("dead", "dead.example", "outbox full")} and len(box.drops) == 4


def test_the_target_identity_never_carries_credentials() -> None:
    assert identity("https://user:pass@hooks.example.com:8443/path/SECRET?token=SECRET") == "hooks.example.com:8443"
    assert identity("http://[::1]:99999/") == "?"  # unparseable port: nothing from it is shown

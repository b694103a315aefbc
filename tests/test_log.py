"""What the log says: ids as fields (bound at the boundaries, never leaking between them), and URLs without the
credentials they may carry."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging

import pytest
import structlog

from tests.support.logcapture import json_logs
from tidings.log import MAX_FIELD, bound, bound_ids, configure, formatter, safe_url


@pytest.mark.parametrize(("url", "logged"), [
    ("https://hooks.example.com/beams", "https://hooks.example.com/beams"),
    ("https://user:pass@hooks.example.com/beams", "https://***@hooks.example.com/beams"),
    ("https://token@hooks.example.com:8443/x", "https://***@hooks.example.com:8443/x"),
    ("https://hooks.example.com/x?api_key=abc&b=2", "https://hooks.example.com/x?***"),
    ("https://u:p@hooks.example.com/x?k=v#frag", "https://***@hooks.example.com/x?***"),
    ("http://[::1]:8080/hook?k=v", "http://[::1]:8080/hook?***"),
    ("https://hooks.example.com/x#secret-fragment", "https://hooks.example.com/x"),
    ("http://h:notaport/x", "(unparseable URL)"),
    ("http://[::1/x", "(unparseable URL)"),
])
def test_safe_url(url: str, logged: str) -> None:
    assert safe_url(url) == logged


# -- ids as fields -------------------------------------------------------------------------------------------

log = logging.getLogger("tidings.test")


def test_a_bound_id_is_a_field_of_every_line_inside_the_block_in_json() -> None:
    with json_logs() as logs:
        with bound(app_id="123", socket_id="1.2", user_id=None):
            log.warning("subscribe failed: %s", "redis down")  # %-style calls keep working
        log.warning("outside")

    inside, outside = logs.lines()
    assert inside["event"] == "subscribe failed: redis down"
    assert (inside["app_id"], inside["socket_id"]) == ("123", "1.2")
    assert "user_id" not in inside  # None: left out, not "null"
    assert not {"app_id", "socket_id"} & outside.keys()


def test_a_bound_id_is_a_field_in_the_console_format_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("console"))
    log.addHandler(handler)
    try:
        with bound(instance_id="abc", publish_id="pub-1"):
            log.warning("worker %s finished", "w1")
    finally:
        log.removeHandler(handler)
    line = stream.getvalue()
    assert "worker w1 finished" in line
    assert "instance_id=abc" in line and "publish_id=pub-1" in line


def test_nested_blocks_restore_the_outer_value() -> None:
    with json_logs() as logs:
        with bound(app_id="outer"):
            with bound(app_id="inner", socket_id="1.1"):
                log.warning("a")
            log.warning("b")
    a, b = logs.lines()
    assert (a["app_id"], a["socket_id"]) == ("inner", "1.1")
    assert b["app_id"] == "outer" and "socket_id" not in b


def test_a_block_in_a_reused_context_leaves_nothing_behind() -> None:
    """Protocol callbacks (data_received) run, call after call, in one context owned by the loop, not by a
    task: what one call binds must be gone before the next, or it would label another connection's lines."""
    loop_context = contextvars.copy_context()
    with json_logs() as logs:
        def callback(socket_id: str | None) -> None:
            if socket_id is None:
                log.warning("unbound")
                return
            with bound(socket_id=socket_id):
                log.warning("bound")

        loop_context.run(callback, "1.1")
        loop_context.run(callback, None)
        loop_context.run(callback, "2.2")
    assert [line.get("socket_id") for line in logs.lines()] == ["1.1", None, "2.2"]
    assert loop_context.run(bound_ids) == {}


async def test_tasks_created_inside_a_block_inherit_it_and_do_not_mix() -> None:
    gate = asyncio.Event()

    async def work() -> None:
        await gate.wait()  # both tasks are alive at once
        log.warning("in a task")

    with json_logs() as logs:
        with bound(socket_id="1.1"):
            first = asyncio.create_task(work())
        with bound(socket_id="2.2"):
            second = asyncio.create_task(work())
        gate.set()
        await asyncio.gather(first, second)
        log.warning("the test's own line")
    assert sorted(line.get("socket_id", "-") for line in logs.lines()) == ["-", "1.1", "2.2"]


def test_extra_adds_id_fields_only() -> None:
    with json_logs() as logs:
        log.warning("sent", extra={"publish_id": "pub-1", "token": "a-device-token"})
    (line,) = logs.lines()
    assert line["publish_id"] == "pub-1"
    assert "token" not in line and "a-device-token" not in json.dumps(line)


@pytest.mark.parametrize(("given", "field"), [
    ("123", "123"),
    ("a\nfake line", "a\\nfake line"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("x" * 1000, "x" * MAX_FIELD),
])
def test_ids_from_outside_cannot_forge_a_line(given: str, field: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("console"))
    log.addHandler(handler)
    try:
        with json_logs() as logs, bound(app_id=given):
            log.warning("lookup")
    finally:
        log.removeHandler(handler)
    assert logs.lines()[0]["app_id"] == field
    assert len(stream.getvalue().splitlines()) == 1


def test_a_json_line_carries_the_traceback_as_text() -> None:
    with json_logs() as logs:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    (line,) = logs.lines()
    assert "RuntimeError: boom" in line["exception"] and "Traceback" in line["exception"]


def test_libraries_that_quote_frames_or_sql_parameters_stay_quiet_at_debug() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("debug", "json")
        for name in ("websockets.server", "aiosqlite"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert logging.getLogger("tidings.ws").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_structlog_s_own_contextvars_are_merged_too() -> None:
    with json_logs() as logs, structlog.contextvars.bound_contextvars(worker_id="w1"), bound(publish_id="p1"):
        log.warning("x")
    (line,) = logs.lines()
    assert (line["worker_id"], line["publish_id"]) == ("w1", "p1")

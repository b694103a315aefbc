"""The outbox's lines name the app or instance whose webhook they are about, as a field."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from tests.support.logcapture import json_logs
from tidings.events import Product
from tidings.webhooks.outbox import Retry, Target
from tidings.webhooks.runner import OutboxRunner


@pytest.mark.parametrize(("product", "field"), [("channels", "app_id"), ("beams", "instance_id")])
async def test_a_failed_webhook_line_carries_its_scope(product: Product, field: str) -> None:
    async def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        return 500

    runner = OutboxRunner(post)
    task = asyncio.create_task(runner.run())
    with json_logs() as logs:
        runner.put(Target(product, "scope-1", "https://u:p@hooks.example/x?k=v", Retry((), max_retries=0), 1.0),
                   b"{}", {"X-Token": "header-secret"})
        async with asyncio.timeout(5):
            while not logs.matching("giving up"):
                await asyncio.sleep(0.01)
    task.cancel()
    (line,) = logs.matching("giving up")
    assert line[field] == "scope-1"
    assert "u:p@" not in line["event"] and "header-secret" not in str(logs.lines())

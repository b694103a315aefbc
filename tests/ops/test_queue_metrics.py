"""The Beams queue in the metrics (depth, oldest publish's age) and delivery failures by gateway status: what the
alert rules and the dashboard in ops/ read."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tidings.beams import events as ev
from tidings.beams.models import Publish
from tidings.delivery import queue_metrics
from tidings.metrics import Metrics
from tidings.storage import open_storage


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_queue_depth_and_oldest_age_are_sampled_from_the_database(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}")
    await storage.migrate()
    metrics = Metrics()
    assert samples(metrics)[("tidings_beams_queue_oldest_age_seconds", ())] == 0.0
    instance_id = str(uuid.uuid4())
    accepted = datetime.now(UTC) - timedelta(seconds=120)
    for n in range(3):
        await storage.publishes.create(Publish(
            id=f"pubid-{uuid.uuid4()}", instance_id=instance_id, kind="interests", targets=("x",),
            payload={"web": {}}, created_at=accepted + timedelta(seconds=n),
        ))
    task = asyncio.create_task(queue_metrics.sample_forever(storage, metrics, interval=0.05))
    try:
        deadline = time.monotonic() + 30
        while samples(metrics)[("tidings_beams_queue_publishes", ())] != 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        found = samples(metrics)
        assert found[("tidings_beams_queue_publishes", ())] == 3
        assert 119 <= found[("tidings_beams_queue_oldest_age_seconds", ())] < 600
    finally:
        task.cancel()
        await storage.close()


def test_failures_are_counted_by_gateway_status() -> None:
    metrics = Metrics()
    for outcome, status in (("failed", 400), ("failed", 400), ("removed", 410), ("sent", 201), ("failed", None)):
        metrics.on_event(ev.BeamsDelivered("i1", "pubid-1", "web-1", "alice", "web", outcome, status, 1))
    found = samples(metrics)

    def failures(outcome: str, status: str) -> float:
        labels = (("instance_id", "i1"), ("outcome", outcome), ("platform", "web"), ("status", status))
        return found.get(("tidings_beams_failures_total", labels), 0.0)

    assert failures("failed", "400") == 2 and failures("removed", "410") == 1 and failures("failed", "0") == 1
    assert failures("sent", "201") == 0

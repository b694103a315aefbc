"""A delivery worker's log lines about a publish carry its instance_id and publish_id, and only its own."""

from __future__ import annotations

import json

import pytest

from tests.delivery.support import INSTANCE, add_devices, fresh_instance, providers, publish
from tests.storage.test_beams_instances import make_instance
from tests.support.logcapture import json_logs
from tidings.beams.models import Device
from tidings.delivery import DeliveryWorker
from tidings.providers.base import Delivered, Outcome
from tidings.storage import Storage

OTHER = "inst-2"


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await fresh_instance(storage)
    await storage.instances.create(make_instance(OTHER))
    return storage


async def test_lines_about_a_publish_carry_its_ids(beams: Storage) -> None:
    def script(device: Device, attempt: int) -> Outcome:
        if device.id.endswith("-broken"):
            raise RuntimeError(f"provider bug on {device.id}")
        return Delivered()

    # Each instance's publish has one device whose send raises: the provider's line is logged in the batch.
    await add_devices(beams, ["web-a", "web-a-broken"], interests=lambda d: ["news"])
    await add_devices(beams, ["web-b", "web-b-broken"], interests=lambda d: ["news"], instance_id=OTHER)
    await publish(beams, "pub-a", "interests", ["news"])
    await publish(beams, "pub-b", "interests", ["news"], instance_id=OTHER)

    with json_logs() as logs:
        await DeliveryWorker(beams, providers(script)).drain()

    owner = {"pub-a": INSTANCE, "pub-b": OTHER}
    raised = logs.matching("raised for device")
    assert len(raised) == 2
    for line in raised:
        publish_id = "pub-a" if "web-a-broken" in line["event"] else "pub-b"
        assert (line["instance_id"], line["publish_id"]) == (owner[publish_id], publish_id), line
    for what in ("started", "finished"):
        lines = [line for line in logs.matching(what) if line["logger"] == "tidings.delivery"]
        assert sorted((line["publish_id"], line["instance_id"]) for line in lines) == sorted(owner.items())
        for line in lines:
            assert line["event"].endswith(line["publish_id"])  # the line is about the publish it names
    # Payloads and push tokens stay out of our lines (libraries that quote them are silenced by log.configure).
    text = json.dumps([line for line in logs.lines() if line["logger"].startswith("tidings")])
    assert "token-of-" not in text and "notification" not in text

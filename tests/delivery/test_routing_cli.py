"""`tidings publishes show` of a routed publish: users sent the event over Channels, pushed, not reached yet."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from tests.delivery.test_cli import IID, instance, run
from tidings.beams.models import Publish
from tidings.storage import open_storage
from tidings.storage.routes import PUSH, Route

__all__ = ["instance"]  # fixture


def routed_publish(tmp_path: Path) -> str:
    async def make() -> str:
        storage = await open_storage(f"sqlite:///{tmp_path / 'data' / 'tidings.db'}")
        try:
            payload = {"web": {"notification": {"title": "T"}}, "channels": {"event": "e", "data": "{}"}}
            await storage.publishes.create(
                Publish(id="pubid-routed", instance_id=IID, kind="users", targets=("alice", "bob", "carol"),
                        payload=payload)
            )
            await storage.delivery.routes.decide(
                "pubid-routed", "w1", {"alice": Route("socket", "app-1"), "bob": PUSH}, lease_seconds=30,
                now=datetime.now(UTC),
            )
            return "pubid-routed"
        finally:
            await storage.close()

    return asyncio.run(make())


def test_show_counts_the_routes(tmp_path: Path, instance: str) -> None:
    publish_id = routed_publish(tmp_path)
    code, out = run(tmp_path, "publishes", "show", publish_id, "--json")
    assert code == 0, out
    assert json.loads(out)["routing"] == {"socket": 1, "push": 1, "pending": 1}
    code, out = run(tmp_path, "publishes", "show", publish_id)
    assert code == 0, out
    assert re.search(r"^socket\s+1 user\(s\) signed in: sent over Channels, not pushed$", out, re.M), out
    assert re.search(r"^pushed\s+1 user\(s\) not signed in", out, re.M), out
    assert re.search(r"^undecided\s+1 user\(s\) not reached yet$", out, re.M), out

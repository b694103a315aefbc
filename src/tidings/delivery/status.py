"""A publish's status as the status endpoint and `tidings publishes show` present it (one shape for both)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tidings.storage import Storage


async def publish_status(storage: Storage, instance_id: str, publish_id: str) -> dict[str, Any] | None:
    """{"publishId", "status", "kind", "targets", "devices": {sent, failed, removed, skipped}, "pending",
    "reports": {delivery, open}, "createdAt", "startedAt", "finishedAt"}; None if there is no such publish.

    `devices` counts recorded results (a device retried counts once); `pending` counts target devices without
    a result yet (being sent, or waiting for a retry); `reports` counts devices that reported the
    notification through the reporting API (the SDKs' delivery and open receipts).

    A routed publish (its body carried `channels`) also has "routing": {"socket", "push", "pending"}: users
    sent the event over their signed-in connections (no push), users pushed (their devices are counted in
    `devices`), and users not decided yet.
    """
    progress = await storage.delivery.status(instance_id, publish_id)
    if progress is None:
        return None
    reports = await storage.publishes.report_counts(instance_id, publish_id)
    publish = progress.publish
    body: dict[str, Any] = {
        "publishId": publish.id,
        "status": progress.state,
        "kind": publish.kind,
        "targets": list(publish.targets),
        "devices": dict(progress.devices),
        "pending": progress.pending,
        "reports": {"delivery": reports.get("delivery", 0), "open": reports.get("open", 0)},
        "createdAt": _iso(publish.created_at),
        "startedAt": _iso(progress.started_at),
        "finishedAt": _iso(progress.finished_at),
    }
    if progress.routing is not None:
        decided = progress.routing.socket + progress.routing.push
        body["routing"] = {
            "socket": progress.routing.socket,
            "push": progress.routing.push,
            "pending": max(len(set(publish.targets)) - decided, 0),
        }
    return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None

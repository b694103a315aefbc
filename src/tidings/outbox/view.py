"""The outbox as `tidings outbox --json` and `GET /outbox_api/v1/instances/{id}/notifications` show it (one shape)."""

from __future__ import annotations

from typing import Any

from tidings.storage.outbox import OutboxRecord

MAX_LIMIT = 1000


def notification(record: OutboxRecord) -> dict[str, Any]:
    """{"id", "publishId", "deviceId", "userId", "platform", "keptAt", "notification": {title, body},
    "request": {method, url, headers, body, bodyEncoding, payload?}}"""
    entry = record.entry
    request = {k: v for k, v in entry.request.items() if k != "notification"}
    return {
        "id": record.id,
        "publishId": entry.publish_id,
        "deviceId": entry.device_id,
        "userId": entry.user_id,
        "platform": entry.platform,
        "keptAt": record.created_at.isoformat().replace("+00:00", "Z"),
        "notification": entry.request.get("notification", {"title": None, "body": None}),
        "request": request,
    }

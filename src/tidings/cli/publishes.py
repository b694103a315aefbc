"""`tidings publish` (send a notification from the command line) and `tidings publishes show` (its status).

`publish` stores the publish exactly as the publish API does (same validation, status "queued"); the
delivery workers of a running `tidings serve` or `tidings worker` on the same database deliver it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tidings.beams import ids, validation
from tidings.beams.models import Publish, TargetKind
from tidings.cli.common import Fail, Target, echo_pairs, run_storage, target_options
from tidings.cli.instances import get_instance
from tidings.delivery.status import publish_status
from tidings.errors import BeamsError, RecordNotFound
from tidings.storage import Storage

PLATFORMS = ("web", "apns", "fcm")


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def notification_body(
    kind: TargetKind, targets: list[str], title: str, body: str, platforms: list[str], data: dict[str, Any]
) -> dict[str, Any]:
    """The publish API request body for one title/body notification on each of `platforms`."""
    request: dict[str, Any] = {kind: targets}
    notification = {"title": title, "body": body}
    for platform in platforms:
        # Each platform's own shape (docs/protocol/beams.md §6.1): APNs nests the alert in `aps`.
        section: dict[str, Any] = (
            {"aps": {"alert": notification}} if platform == "apns" else {"notification": notification}
        )
        if data:
            section["data"] = data
        request[platform] = section
    return request


@click.command("publish")
@click.option("--users", help="Comma-separated user ids (publish to authenticated users)")
@click.option("--interests", help="Comma-separated interests (publish to subscribed devices)")
@click.option("--title", required=True, help="Notification title")
@click.option("--body", "text", required=True, help="Notification body")
@click.option("--platform", "platform_list", default=",".join(PLATFORMS), show_default=True,
              help="Comma-separated platforms to send to")
@click.option("--data", help="JSON object delivered with the notification as its data")
@click.option("--instance", "instance_id", help="Instance id (default: the first instance)")
@target_options
def publish(users: str | None, interests: str | None, title: str, text: str, platform_list: str, data: str | None,
            instance_id: str | None, data_dir: Path | None, database_url: str | None,
            config_file: Path | None) -> None:
    """Queue a notification for delivery and print its publishId."""
    if (users is None) == (interests is None):
        raise Fail("give exactly one of --users and --interests")
    kind: TargetKind = "users" if users is not None else "interests"
    platforms = _split(platform_list)
    unknown = sorted(set(platforms) - set(PLATFORMS))
    if unknown or not platforms:
        raise Fail(f"--platform takes a comma-separated list of {', '.join(PLATFORMS)}")
    extra = _data(data)
    request = notification_body(kind, _split(users if users is not None else interests), title, text, platforms,
                                extra)
    try:
        parsed = validation.parse_publish(json.dumps(request).encode(), "application/json", kind)
    except BeamsError as exc:
        raise Fail(exc.description) from exc

    async def act(storage: Storage) -> Publish:
        inst = await get_instance(storage, instance_id)
        return await storage.publishes.create(
            Publish(id=ids.new_publish_id(), instance_id=inst.id, kind=kind, targets=parsed.targets,
                    payload=parsed.payload)
        )

    click.echo(run_storage(Target(data_dir, database_url, config_file), act).id)


def _data(data: str | None) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise Fail(f"--data is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Fail("--data must be a JSON object")
    return value


@click.group("publishes")
def publishes() -> None:
    """Beams publishes: what happened to one."""


@publishes.command("show")
@click.argument("publish_id")
@click.option("--instance", "instance_id", help="Instance id (default: the first instance)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the status endpoint's body)")
@target_options
def show(publish_id: str, instance_id: str | None, as_json: bool, data_dir: Path | None, database_url: str | None,
         config_file: Path | None) -> None:
    """Show a publish's delivery status: targets, devices sent/failed/removed/skipped, SDK reports."""

    async def act(storage: Storage) -> dict[str, Any]:
        inst = await get_instance(storage, instance_id)
        found = await publish_status(storage, inst.id, publish_id)
        if found is None:
            raise RecordNotFound(f"no publish {publish_id} in instance {inst.id}")
        return found

    status = run_storage(Target(data_dir, database_url, config_file), act)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    devices, reports = status["devices"], status["reports"]
    routing = status.get("routing")
    routed = [] if routing is None else [
        ("socket", f"{routing['socket']} user(s) signed in: sent over Channels, not pushed"),
        ("pushed", f"{routing['push']} user(s) not signed in: pushed to their devices"),
        ("undecided", f"{routing['pending']} user(s) not reached yet"),
    ]
    echo_pairs([
        ("publish_id", status["publishId"]),
        ("status", status["status"]),
        (status["kind"], ", ".join(status["targets"])),
        *routed,
        ("sent", str(devices["sent"])),
        ("failed", str(devices["failed"])),
        ("removed", f"{devices['removed']} (dead tokens, devices deleted)"),
        ("skipped", str(devices["skipped"])),
        ("pending", f"{status['pending']} (being sent or waiting for a retry)"),
        ("delivered", f"{reports['delivery']} (reported by devices)"),
        ("opened", f"{reports['open']} (reported by devices)"),
        ("created_at", status["createdAt"] or "-"),
        ("started_at", status["startedAt"] or "-"),
        ("finished_at", status["finishedAt"] or "-"),
    ])

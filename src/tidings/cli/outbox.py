"""`tidings outbox INSTANCE_ID [--user ID] [--follow] [--json]`: read the push outbox of an instance.

Without --follow: the newest notifications first (as the HTTP endpoint lists them). With --follow: the last
--limit in the order they were kept, then each new one as it is kept (polled every second), until Ctrl-C.
--json prints one JSON object per line, the HTTP endpoint's shape (tidings.outbox.view).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from tidings.cli.common import Fail, Target, run_storage, target_options
from tidings.config import load_settings
from tidings.errors import RecordNotFound, TidingsError
from tidings.outbox.view import MAX_LIMIT, notification
from tidings.providers import outbox as push_outbox
from tidings.storage import Storage

POLL_SECONDS = 1.0


@click.command("outbox")
@click.argument("instance_id")
@click.option("--user", "user_id", help="Only the notifications of this user's devices")
@click.option("--follow", "-f", is_flag=True, help="Keep printing notifications as they are kept (Ctrl-C stops)")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the HTTP endpoint's shape)")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True,
              help="How many of the newest to print first")
@target_options
def outbox(instance_id: str, user_id: str | None, follow: bool, as_json: bool, limit: int, data_dir: Path | None,
           database_url: str | None, config_file: Path | None) -> None:
    """Show the notifications an instance in outbox mode kept instead of sending (docs/outbox.md)."""
    target = Target(data_dir, database_url, config_file)
    try:
        retention = load_settings({"data_dir": data_dir, "database_url": database_url}, config_file).outbox_retention
    except TidingsError as exc:
        raise Fail(str(exc).splitlines()[0]) from exc

    async def act(storage: Storage) -> None:
        instance = await storage.instances.get(instance_id)
        if instance is None:
            raise RecordNotFound(f"no instance with id {instance_id}")
        if not push_outbox.enabled(instance):
            click.echo(f"(instance {instance_id} is not in outbox mode: `tidings instances configure "
                       f"{instance_id} --outbox`)", err=True)
        records = await storage.outbox.list(instance_id, retention=retention, user_id=user_id, limit=limit)
        shown = [notification(record) for record in records]
        if not follow:
            for item in shown:
                _print(item, as_json)
            return
        last = shown[0]["id"] if shown else 0
        for item in reversed(shown):
            _print(item, as_json)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            newer = await storage.outbox.list(instance_id, retention=retention, user_id=user_id, after_id=last,
                                              limit=MAX_LIMIT)
            for record in reversed(newer):
                _print(notification(record), as_json)
                last = record.id

    try:
        run_storage(target, act)
    except KeyboardInterrupt:
        pass


def _print(item: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(item, ensure_ascii=False))
        return
    shown = item["notification"]
    request = item["request"]
    click.echo(f"{item['keptAt']}  #{item['id']}  {item['platform']}  user={item['userId'] or '-'}  "
               f"device={item['deviceId']}  publish={item['publishId']}")
    click.echo(f"  title: {shown.get('title')!r}  body: {shown.get('body')!r}")
    click.echo(f"  {request['method']} {request['url']}")
    for name, value in request["headers"].items():
        click.echo(f"  {name}: {value}")
    if "payload" in request:
        click.echo(f"  payload (decrypted): {json.dumps(request['payload'], ensure_ascii=False)}")
        click.echo(f"  body ({request['bodyEncoding']}, encrypted): {_cut(request['body'])}")
    else:
        click.echo(f"  body: {_cut(request['body'])}")
    click.echo("")


def _cut(text: str, size: int = 400) -> str:
    return text if len(text) <= size else f"{text[:size]}... ({len(text)} characters)"

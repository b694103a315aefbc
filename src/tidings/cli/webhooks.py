"""`tidings apps webhooks ...`: add, list and remove an app's webhook targets."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import ValidationError

from tidings.channels.apps import WEBHOOK_EVENTS, App, Webhook
from tidings.cli.apps import _describe, _Fail, _pass_target, _run, _Target, apps
from tidings.errors import RecordNotFound
from tidings.storage import AppStore


@apps.group("webhooks")
def webhooks() -> None:
    """Manage an app's webhook URLs (Channels events POSTed to your backend)."""


async def _get(store: AppStore, app_id: str) -> App:
    app = await store.get(app_id)
    if app is None:
        raise RecordNotFound(f"no app with id {app_id}")
    return app


@webhooks.command("add")
@click.argument("app_id")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(sorted(WEBHOOK_EVENTS)),
              help="Send only these event types (repeatable; default: all)")
@click.option("--channel-prefix", help="Only events of channels whose name starts with this")
@click.option("--channel-suffix", help="Only events of channels whose name ends with this")
@click.option("--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra request header (repeatable)")
@_pass_target
def add(target: _Target, app_id: str, url: str, events: tuple[str, ...], channel_prefix: str | None,
        channel_suffix: str | None, headers: tuple[str, ...]) -> None:
    """Add (or replace, for the same URL) a webhook target."""
    parsed: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise _Fail(f"invalid --header {item!r}: expected NAME:VALUE")
        parsed[name.strip()] = value.strip()
    try:
        hook = Webhook(url=url, event_types=events, channel_prefix=channel_prefix, channel_suffix=channel_suffix,
                       headers=parsed)
    except ValidationError as exc:
        raise _Fail(_describe(exc)) from exc

    async def act(store: AppStore) -> App:
        app = await _get(store, app_id)
        kept = tuple(w for w in app.webhooks if w.url != url)
        return await store.update(app_id, webhooks=(*kept, hook))

    _run(target, act)
    click.echo(f"webhook {url} added to app {app_id}")


@webhooks.command("list")
@click.argument("app_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@_pass_target
def list_webhooks(target: _Target, app_id: str, as_json: bool) -> None:
    """List an app's webhook targets."""

    async def act(store: AppStore) -> App:
        return await _get(store, app_id)

    app = _run(target, act)
    if as_json:
        out: list[dict[str, Any]] = [w.model_dump(mode="json") for w in app.webhooks]
        click.echo(json.dumps(out, indent=2))
        return
    for hook in app.webhooks:
        click.echo(f"{hook.url}  events: {','.join(hook.event_types) or 'all'}")


@webhooks.command("remove")
@click.argument("app_id")
@click.argument("url")
@_pass_target
def remove(target: _Target, app_id: str, url: str) -> None:
    """Remove a webhook target by URL."""

    async def act(store: AppStore) -> App:
        app = await _get(store, app_id)
        if not any(w.url == url for w in app.webhooks):
            raise RecordNotFound(f"app {app_id} has no webhook {url}")
        return await store.update(app_id, webhooks=tuple(w for w in app.webhooks if w.url != url))

    _run(target, act)
    click.echo(f"webhook {url} removed from app {app_id}")

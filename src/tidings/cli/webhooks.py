"""`tidings apps webhooks ...`: add, list and remove an app's webhook targets."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import ValidationError

from tidings.channels.apps import WEBHOOK_EVENTS, App, Webhook
from tidings.cli.apps import apps
from tidings.cli.common import (
    Fail,
    Target,
    describe_invalid,
    pass_target,
    run_apps,
    show_secrets_option,
    shown_url,
    shown_webhook,
)
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
@pass_target
def add(target: Target, app_id: str, url: str, events: tuple[str, ...], channel_prefix: str | None,
        channel_suffix: str | None, headers: tuple[str, ...]) -> None:
    """Add (or replace, for the same URL) a webhook target."""
    parsed: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise Fail(f"invalid --header {item!r}: expected NAME:VALUE")
        parsed[name.strip()] = value.strip()
    try:
        hook = Webhook(url=url, event_types=events, channel_prefix=channel_prefix, channel_suffix=channel_suffix,
                       headers=parsed)
    except ValidationError as exc:
        raise Fail(describe_invalid(exc)) from exc

    async def act(store: AppStore) -> App:
        app = await _get(store, app_id)
        kept = tuple(w for w in app.webhooks if w.url != url)
        return await store.update(app_id, webhooks=(*kept, hook))

    run_apps(target, act)
    click.echo(f"webhook {shown_url(url)} added to app {app_id}")


@webhooks.command("list")
@click.argument("app_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@show_secrets_option
@pass_target
def list_webhooks(target: Target, app_id: str, as_json: bool, show_secrets: bool) -> None:
    """List an app's webhook targets (header values and URL credentials only with --show-secrets)."""

    async def act(store: AppStore) -> App:
        return await _get(store, app_id)

    app = run_apps(target, act)
    if as_json:
        out: list[dict[str, Any]] = [shown_webhook(w, show_secrets=show_secrets) for w in app.webhooks]
        click.echo(json.dumps(out, indent=2))
        return
    for hook in app.webhooks:
        url = hook.url if show_secrets else shown_url(hook.url)
        click.echo(f"{url}  events: {','.join(hook.event_types) or 'all'}")


@webhooks.command("remove")
@click.argument("app_id")
@click.argument("url")
@pass_target
def remove(target: Target, app_id: str, url: str) -> None:
    """Remove a webhook target by URL."""

    async def act(store: AppStore) -> App:
        app = await _get(store, app_id)
        if not any(w.url == url for w in app.webhooks):
            raise RecordNotFound(f"app {app_id} has no webhook {shown_url(url)}")
        return await store.update(app_id, webhooks=tuple(w for w in app.webhooks if w.url != url))

    run_apps(target, act)
    click.echo(f"webhook {shown_url(url)} removed from app {app_id}")

"""`tidings apps ...`: create, list, show, enable, disable and update Channels apps.

Every command opens the configured database, migrates it (so it works before the first `serve`),
acts and closes. The secret is printed by `create` (once) and `show` only; webhook header values and URL
credentials only with --show-secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from tidings.channels.apps import MAX_USER_MAILBOX_SECONDS, App, AppLimits
from tidings.channels.credentials import new_app
from tidings.cli.common import (
    Fail,
    Target,
    echo_pairs,
    pass_target,
    run_apps,
    run_storage,
    show_secrets_option,
    shown_url,
    shown_webhook,
    target_options,
)
from tidings.errors import RecordNotFound
from tidings.storage import AppStore, Storage


@click.group("apps")
@target_options
@click.pass_context
def apps(ctx: click.Context, data_dir: Path | None, database_url: str | None, config_file: Path | None) -> None:
    """Manage Channels apps (credentials, switches, limits)."""
    ctx.obj = Target(data_dir, database_url, config_file)


def _switches(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options `create` and `update` share; unset switches arrive as None."""
    options = [
        click.option("--name", help="Display name"),
        click.option("--key", help="Public app key (generated when creating without one)"),
        click.option("--secret", help="App secret (generated when creating without one)"),
        click.option("--client-events/--no-client-events", default=None, help="Allow client-* events"),
        click.option("--user-authentication/--no-user-authentication", default=None,
                     help="Require pusher:signin on every connection"),
        click.option("--subscription-count/--no-subscription-count", default=None,
                     help="Send pusher_internal:subscription_count events"),
        click.option("--max-connections", type=click.IntRange(min=0), help="Connection limit for the app"),
        click.option("--webhook-batching/--no-webhook-batching", default=None,
                     help="Send webhook events in batches (one request per 50 ms window)"),
        click.option("--beams-instance", metavar="INSTANCE_ID",
                     help="Link the app to this Beams instance for user-first delivery ('none' unlinks)"),
        click.option("--user-mailbox", type=click.IntRange(0, MAX_USER_MAILBOX_SECONDS), metavar="SECONDS",
                     help="Keep events to users who are not signed in for this long, for their next sign-in "
                          "(0: off; per-user limit: --limit user_mailbox_events=N)"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@apps.command("create")
@click.option("--id", "app_id", help="Numeric app id (generated when missing)")
@_switches
@pass_target
def create(target: Target, /, app_id: str | None, max_connections: int | None, **switches: Any) -> None:
    """Create an app; unset credentials are generated."""
    fields = _app_fields(switches)
    if app_id is not None:
        fields["id"] = app_id
    if max_connections is not None:
        fields["limits"] = {"max_connections": max_connections}

    async def act(storage: Storage) -> App:
        await _check_instance(storage, fields)
        return await storage.apps.create(new_app(**fields))

    app = run_storage(target, act)
    click.echo(f"created app {app.id}")
    # Shown once here, as `serve` does for the app it creates; later only `apps show` prints it.
    echo_pairs([("id", app.id), ("key", app.key), ("secret", app.secret), ("name", app.name)])


@apps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@show_secrets_option
@pass_target
def list_apps(target: Target, as_json: bool, show_secrets: bool) -> None:
    """List every app (secrets are not shown; webhook credentials only with --show-secrets)."""

    async def act(store: AppStore) -> list[App]:
        return await store.list()

    found = run_apps(target, act)
    if as_json:
        click.echo(json.dumps([app_json(app, show_secrets=show_secrets, secret=False) for app in found], indent=2))
        return
    rows = [("ID", "KEY", "NAME", "ENABLED", "CLIENT EVENTS", "USER AUTH")]
    rows += [(a.id, a.key, a.name, _yes(a.enabled), _yes(a.enable_client_events),
              _yes(a.enable_user_authentication)) for a in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@apps.command("show")
@click.argument("app_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@show_secrets_option
@pass_target
def show(target: Target, app_id: str, as_json: bool, show_secrets: bool) -> None:
    """Show every field of an app, its secret and limits included (webhook credentials with --show-secrets)."""

    async def act(store: AppStore) -> App:
        app = await store.get(app_id)
        if app is None:
            raise RecordNotFound(f"no app with id {app_id}")
        return app

    app = run_apps(target, act)
    if as_json:
        click.echo(json.dumps(app_json(app, show_secrets=show_secrets, secret=True), indent=2))
        return
    echo_pairs([
        ("id", app.id),
        ("key", app.key),
        ("secret", app.secret),
        ("name", app.name),
        ("enabled", _yes(app.enabled)),
        ("client events", _yes(app.enable_client_events)),
        ("user authentication", _yes(app.enable_user_authentication)),
        ("subscription count", _yes(app.enable_subscription_count)),
        ("webhook batching", _yes(app.webhook_batching)),
        ("beams instance", app.beams_instance or "none"),
        ("user mailbox", f"{app.user_mailbox} s" if app.user_mailbox else "off"),
    ])
    click.echo("webhooks:" if app.webhooks else "webhooks: none")
    for hook in app.webhooks:
        url = hook.url if show_secrets else shown_url(hook.url)
        click.echo(f"  {url}  events: {','.join(hook.event_types) or 'all'}")
    click.echo("limits:")
    limits = app.limits.model_dump().items()
    echo_pairs([(f"  {name}", "unlimited" if value is None else str(value)) for name, value in limits])


@apps.command("enable")
@click.argument("app_id")
@pass_target
def enable(target: Target, app_id: str) -> None:
    """Let clients and the HTTP API use the app again."""
    _update(target, app_id, {"enabled": True})
    click.echo(f"app {app_id} enabled")


@apps.command("disable")
@click.argument("app_id")
@pass_target
def disable(target: Target, app_id: str) -> None:
    """Refuse new connections and API calls for the app."""
    _update(target, app_id, {"enabled": False})
    click.echo(f"app {app_id} disabled")


@apps.command("update")
@click.argument("app_id")
@_switches
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE",
              help="Set one limit (repeatable); VALUE 'none' means unlimited where allowed")
@pass_target
def update(target: Target, /, app_id: str, max_connections: int | None, limits: tuple[str, ...],
           **switches: Any) -> None:
    """Change an app's credentials, switches or limits."""
    changes: dict[str, object] = dict(_app_fields(switches))
    limit_changes = _parse_limits(limits)
    if max_connections is not None:
        limit_changes["max_connections"] = max_connections
    if limit_changes:
        changes["limits"] = limit_changes
    if not changes:
        raise Fail("nothing to change: pass at least one option (see --help)")
    _update(target, app_id, changes)
    click.echo(f"app {app_id} updated")


def app_json(app: App, *, show_secrets: bool, secret: bool) -> dict[str, Any]:
    """The app as JSON: its `secret` only if asked, its webhooks' credentials only with `show_secrets`."""
    data: dict[str, Any] = app.model_dump(mode="json", exclude=None if secret else {"secret"})
    data["webhooks"] = [shown_webhook(hook, show_secrets=show_secrets) for hook in app.webhooks]
    return data


def _app_fields(switches: dict[str, Any]) -> dict[str, Any]:
    """CLI option names -> App field names, dropping options not given."""
    names = {
        "name": "name",
        "key": "key",
        "secret": "secret",
        "client_events": "enable_client_events",
        "user_authentication": "enable_user_authentication",
        "subscription_count": "enable_subscription_count",
        "webhook_batching": "webhook_batching",
        "beams_instance": "beams_instance",
        "user_mailbox": "user_mailbox",
    }
    fields = {names[k]: v for k, v in switches.items() if v is not None}
    if str(fields.get("beams_instance", "")).lower() == "none":
        fields["beams_instance"] = None
    return fields


def _parse_limits(items: Iterable[str]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise Fail(f"invalid --limit {item!r}: expected NAME=VALUE")
        if name not in AppLimits.model_fields:
            known = ", ".join(AppLimits.model_fields)
            raise Fail(f"unknown limit {name!r}; known limits: {known}")
        value = value.strip()
        # pydantic turns "10" into 10 and refuses "ten"; validation happens in AppStore.update.
        parsed[name] = None if value.lower() in ("none", "unlimited") else value
    return parsed


def _update(target: Target, app_id: str, changes: dict[str, object]) -> App:
    async def act(storage: Storage) -> App:
        await _check_instance(storage, changes)
        return await storage.apps.update(app_id, **changes)

    return run_storage(target, act)


async def _check_instance(storage: Storage, fields: dict[str, Any]) -> None:
    """A link names an instance that exists (a typo would otherwise route nobody, silently)."""
    instance_id = fields.get("beams_instance")
    if isinstance(instance_id, str) and await storage.instances.get(instance_id) is None:
        raise RecordNotFound(f"no Beams instance with id {instance_id} (see `tidings instances list`)")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"

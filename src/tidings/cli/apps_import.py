"""`tidings apps import FILE`: create the apps of a soketi app array (docs/migrating.md).

FILE is what soketi reads its apps from: a config file (`soketi start --config=FILE`, with the key
"appManager.array.apps", or nested as appManager.array.apps), or the JSON array of apps itself (the value of
SOKETI_APP_MANAGER_ARRAY_APPS-style settings, or one exported from soketi's SQL/DynamoDB app managers).

Each app's fields are read as soketi's App class reads them (src/app.ts, `extractFromPassedKeys`): every spelling
it accepts (enableClientMessages, EnableClientMessages, enable_client_messages), numbers given as strings, -1 for
"no limit", its defaults for what is missing. Nothing is stored unless every app converts and none exists yet
(--replace overwrites existing ones); fields Tidings has no equivalent for are named in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from tidings.channels.apps import App, AppLimits, Webhook
from tidings.cli.apps import apps
from tidings.cli.common import Fail, Target, describe_invalid, pass_target, run_apps, shown_url
from tidings.storage import AppStore

# Tidings field <- soketi's spellings, in the order soketi tries them (a later one wins, as there).
_SPELLINGS = {
    "id": ("id", "AppId"),
    "key": ("key", "AppKey"),
    "secret": ("secret", "AppSecret"),
    "enabled": ("enabled", "Enabled"),
    "client_events": ("enableClientMessages", "EnableClientMessages", "enable_client_messages"),
    "user_authentication": ("enableUserAuthentication", "EnableUserAuthentication", "enable_user_authentication"),
    "max_connections": ("maxConnections", "MaxConnections", "max_connections"),
    "client_events_per_second": ("maxClientEventsPerSecond", "MaxClientEventsPerSecond", "max_client_events_per_sec"),
    "max_presence_members": ("maxPresenceMembersPerChannel", "MaxPresenceMembersPerChannel",
                             "max_presence_members_per_channel"),
    "max_presence_member_kb": ("maxPresenceMemberSizeInKb", "MaxPresenceMemberSizeInKb",
                               "max_presence_member_size_in_kb"),
    "max_channel_name_length": ("maxChannelNameLength", "MaxChannelNameLength", "max_channel_name_length"),
    "max_channels_per_event": ("maxEventChannelsAtOnce", "MaxEventChannelsAtOnce", "max_event_channels_at_once"),
    "max_event_name_length": ("maxEventNameLength", "MaxEventNameLength", "max_event_name_length"),
    "max_event_kb": ("maxEventPayloadInKb", "MaxEventPayloadInKb", "max_event_payload_in_kb"),
    "max_batch_size": ("maxEventBatchSize", "MaxEventBatchSize", "max_event_batch_size"),
    "webhooks": ("webhooks", "Webhooks"),
}
# Soketi limits with no Tidings equivalent: reported, not stored.
_UNSUPPORTED = {
    "maxBackendEventsPerSecond": "HTTP API events per second (Tidings has no per-app rate limit on the HTTP API)",
    "maxReadRequestsPerSecond": "HTTP API reads per second (Tidings has no per-app rate limit on the HTTP API)",
}
_UNSUPPORTED_SPELLINGS = {
    "maxBackendEventsPerSecond": ("maxBackendEventsPerSecond", "MaxBackendEventsPerSecond",
                                  "max_backend_events_per_sec"),
    "maxReadRequestsPerSecond": ("maxReadRequestsPerSecond", "MaxReadRequestsPerSecond", "max_read_req_per_sec"),
}
_CONFIG_KEY = "appManager.array.apps"


@dataclass
class Converted:
    app: App
    notes: list[str] = field(default_factory=list)


def read_apps(document: Any) -> list[dict[str, Any]]:
    """The app objects of a soketi config file or app array; ValueError when there are none."""
    if isinstance(document, dict):
        if _CONFIG_KEY in document:
            document = document[_CONFIG_KEY]
        else:
            nested = document.get("appManager", {})
            nested = nested.get("array", {}) if isinstance(nested, dict) else {}
            document = nested.get("apps") if isinstance(nested, dict) else None
    if isinstance(document, str):  # an env value holding JSON text
        document = json.loads(document)
    if not isinstance(document, list) or not document:
        raise ValueError(f"no apps found: expected a JSON array of apps, or a soketi config with {_CONFIG_KEY!r}")
    if not all(isinstance(item, dict) for item in document):
        raise ValueError("every app must be a JSON object")
    return document


def convert(raw: dict[str, Any]) -> Converted:
    """One soketi app as a Tidings app; ValueError (naming the field) for a value Tidings cannot take."""
    value = {name: _pick(raw, spellings) for name, spellings in _SPELLINGS.items()}
    notes = [f"{field_name} not imported: {why}" for field_name, why in _UNSUPPORTED.items()
             if _limit(_pick(raw, _UNSUPPORTED_SPELLINGS[field_name]), field_name) is not None]
    limits: dict[str, Any] = {
        "max_connections": _limit(value["max_connections"], "maxConnections"),
        # soketi: -1 or missing is no limit; Tidings: 0 is no limit.
        "client_events_per_second": _limit(value["client_events_per_second"], "maxClientEventsPerSecond") or 0,
    }
    for name, soketi_name in (("max_presence_members", "maxPresenceMembersPerChannel"),
                              ("max_channel_name_length", "maxChannelNameLength"),
                              ("max_channels_per_event", "maxEventChannelsAtOnce"),
                              ("max_event_name_length", "maxEventNameLength"),
                              ("max_batch_size", "maxEventBatchSize")):
        limit = _limit(value[name], soketi_name)
        if limit is not None:  # missing: soketi's server-wide default, and Tidings' per-app default
            limits[name] = limit
    for name, soketi_name, target in (("max_presence_member_kb", "maxPresenceMemberSizeInKb",
                                       "max_presence_user_info_bytes"),
                                      ("max_event_kb", "maxEventPayloadInKb", "max_event_data_bytes")):
        size = _kilobytes(value[name], soketi_name)
        if size is not None:
            limits[target] = size
    hooks, hook_notes = _webhooks(value["webhooks"])
    try:
        app = App(
            id=_text(value["id"], "app-id"), key=_text(value["key"], "app-key"),
            secret=_text(value["secret"], "app-secret"),
            enabled=_flag(value["enabled"], True), enable_client_events=_flag(value["client_events"], False),
            enable_user_authentication=_flag(value["user_authentication"], False),
            limits=AppLimits(**limits), webhooks=tuple(hooks),
        )
    except ValidationError as exc:
        raise ValueError(describe_invalid(exc)) from None
    return Converted(app, notes + hook_notes)


def _pick(raw: dict[str, Any], spellings: tuple[str, ...]) -> Any:
    found = None
    for name in spellings:
        if raw.get(name) is not None:
            found = raw[name]
    return found


def _text(value: Any, default: str) -> str:
    # soketi's defaults, as its App class has them; ids are often numbers in JSON.
    return default if value is None else str(value)


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):  # from an env value or a SQL column
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number: {value!r}") from None
    return None if number < 0 else number  # -1: no limit


def _limit(value: Any, name: str) -> int | None:
    number = _number(value, name)
    return None if number is None else int(number)


def _kilobytes(value: Any, name: str) -> int | None:
    number = _number(value, name)
    return None if number is None else max(1, int(number * 1024))


def _webhooks(value: Any) -> tuple[list[Webhook], list[str]]:
    if value is None:
        return [], []
    if isinstance(value, str):  # soketi accepts the array as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("webhooks: not a JSON array") from None
    if not isinstance(value, list):
        raise ValueError("webhooks: not a JSON array")
    hooks, notes = [], []
    for index, hook in enumerate(value):
        if not isinstance(hook, dict):
            raise ValueError(f"webhooks[{index}]: not an object")
        if not hook.get("url"):
            what = "an AWS Lambda webhook" if hook.get("lambda_function") else "a webhook without a url"
            notes.append(f"webhooks[{index}] not imported: {what} (Tidings sends webhooks over HTTP only)")
            continue
        condition = hook.get("filter")
        if not isinstance(condition, dict):
            condition = {}
        try:
            hooks.append(Webhook(
                url=str(hook["url"]), event_types=tuple(hook.get("event_types") or ()),
                channel_prefix=condition.get("channel_name_starts_with") or None,
                channel_suffix=condition.get("channel_name_ends_with") or None,
                headers={str(k): str(v) for k, v in (hook.get("headers") or {}).items()},
            ))
        except ValidationError as exc:
            raise ValueError(f"webhooks[{index}]: {describe_invalid(exc)}") from None
    return hooks, notes


@apps.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite apps that exist already (same id)")
@click.option("--dry-run", is_flag=True, help="Show what would be imported, store nothing")
@pass_target
def import_apps(target: Target, file: Path, replace: bool, dry_run: bool) -> None:
    """Create the apps of a soketi app array or config file, with their limits and webhooks."""
    try:
        raw_apps = read_apps(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Fail(f"{file}: {exc}") from None
    converted, problems = [], []
    for index, raw in enumerate(raw_apps):
        try:
            converted.append(convert(raw))
        except ValueError as exc:
            problems.append(f"app {index} ({raw.get('id', '?')}): {exc}")
    ids = [c.app.id for c in converted]
    problems += [f"app id {i!r} appears twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise Fail("nothing imported: " + "; ".join(problems))

    async def act(store: AppStore) -> list[str]:
        existing = [c.app.id for c in converted if await store.get(c.app.id) is not None]
        if existing and not replace:
            raise Fail(f"nothing imported: apps {', '.join(existing)} exist already (--replace overwrites them)")
        if not dry_run:
            for item in converted:
                await (store.upsert(item.app) if replace else store.create(item.app))
        return existing

    existing = run_apps(target, act)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {len(converted)} app(s) from {file}")
    for item in converted:
        app = item.app
        state = "replaced" if app.id in existing else "created"
        hooks = ", ".join(shown_url(h.url) for h in app.webhooks) or "none"
        click.echo(f"  {app.id} ({state}): key {app.key}, {'enabled' if app.enabled else 'disabled'}, "
                   f"client events {'on' if app.enable_client_events else 'off'}, "
                   f"max connections {app.limits.max_connections or 'unlimited'}, webhooks: {hooks}")
        for note in item.notes:
            click.echo(f"    note: {note}")

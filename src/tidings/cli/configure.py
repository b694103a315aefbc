"""`tidings instances configure INSTANCE_ID ...`: push gateway credentials and Beams webhooks of an instance.

Everything lands in `instance.providers` (one key per platform, plus "webhooks"), validated by the same settings
models the providers read, so a bad key file fails here rather than at the first publish. Options of a platform
already configured are merged into its settings (change the APNs topic without giving the key again); `--clear`
runs first, so `--clear apns --apns-...` replaces the settings as a whole.

Nothing secret is printed: not the .p8 key, not the service account's private key, not a webhook secret. A
key is shown as a fingerprint (a digest), enough to tell which one is stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from tidings.beams.models import Instance
from tidings.beams_webhooks.settings import EVENT_TYPES, PROVIDERS_KEY, BeamsWebhook, parse_webhooks
from tidings.cli.common import Fail, Target, echo_pairs, pass_target, run_storage, shown_url
from tidings.cli.instances import instances
from tidings.errors import RecordNotFound
from tidings.providers import outbox as push_outbox
from tidings.providers.apns import settings as apns_settings
from tidings.providers.fcm import settings as fcm_settings
from tidings.storage import Storage

SECTIONS = ("apns", "fcm", "web", PROVIDERS_KEY)
_VAPID_SCHEMES = ("mailto:", "https:")


@instances.command("configure")
@click.argument("instance_id")
@click.option("--apns-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The .p8 signing key file from the Apple developer account (token-based authentication)")
@click.option("--apns-key-id", help="The 10-character Key ID of that key")
@click.option("--apns-team-id", help="The 10-character Team ID owning the key")
@click.option("--apns-topic", help="apns-topic (the app's bundle id); default: each device's bundle identifier")
@click.option("--apns-environment", type=click.Choice(["production", "sandbox"]),
              help="Which APNs gateway the devices belong to (sandbox: development builds)")
@click.option("--fcm-service-account", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The Firebase service-account JSON file (Project settings > Service accounts)")
@click.option("--vapid-subject", help="Web Push contact sent to push services: a mailto: or https: URL")
@click.option("--webhook-url", help="Add a Beams webhook with this URL, or change the one that has it")
@click.option("--webhook-secret", help="The webhook's secret: the HMAC-SHA1 key of Webhook-Signature")
@click.option("--webhook-event", "webhook_events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="Send only these event types to the webhook (repeatable; default: all)")
@click.option("--webhook-custom-data", metavar="JSON", help="A JSON object sent as `custom_data` in every webhook")
@click.option("--outbox/--no-outbox", "outbox", default=None,
              help="Keep this instance's notifications in the push outbox instead of sending them (docs/outbox.md)")
@click.option("--clear", "clear", multiple=True, type=click.Choice(SECTIONS),
              help="Remove these settings first (repeatable)")
@pass_target
def configure(
    target: Target,
    instance_id: str,
    apns_key_file: Path | None,
    apns_key_id: str | None,
    apns_team_id: str | None,
    apns_topic: str | None,
    apns_environment: str | None,
    fcm_service_account: Path | None,
    vapid_subject: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    webhook_events: tuple[str, ...],
    webhook_custom_data: str | None,
    outbox: bool | None,
    clear: tuple[str, ...],
) -> None:
    """Set an instance's APNs, FCM and Web Push settings, its Beams webhooks and outbox mode (secrets are never
    printed)."""
    apns: dict[str, Any] = {
        k: v for k, v in {"key_id": apns_key_id, "team_id": apns_team_id, "topic": apns_topic,
                          "environment": apns_environment}.items() if v is not None
    }
    if apns_key_file is not None:
        apns["private_key"] = _read_text(apns_key_file, "--apns-key-file")
    fcm = None if fcm_service_account is None else _read_service_account(fcm_service_account)
    if vapid_subject is not None and not vapid_subject.startswith(_VAPID_SCHEMES):
        raise Fail("--vapid-subject must be a mailto: or https: URL (push services refuse others)")
    hook: dict[str, Any] = {}
    if webhook_secret is not None:
        hook["secret"] = webhook_secret
    if webhook_events:
        hook["events"] = list(dict.fromkeys(webhook_events))
    if webhook_custom_data is not None:
        hook["custom_data"] = _json_object(webhook_custom_data, "--webhook-custom-data")
    if not (apns or fcm or vapid_subject or webhook_url or hook or clear or outbox is not None):
        raise Fail("nothing to configure: pass at least one option (see --help)")

    async def act(storage: Storage) -> Instance:
        current = await storage.instances.get(instance_id)
        if current is None:
            raise RecordNotFound(f"no instance with id {instance_id}")
        providers = {k: v for k, v in current.providers.items() if k not in clear}
        if apns:
            providers["apns"] = _apns(providers.get("apns"), apns)
        if fcm is not None:
            providers["fcm"] = _fcm(fcm)
        if vapid_subject is not None:
            web = providers.get("web")
            providers["web"] = {**(web if isinstance(web, dict) else {}), "vapid_subject": vapid_subject}
        if webhook_url is not None or hook:
            providers[PROVIDERS_KEY] = _webhooks(providers.get(PROVIDERS_KEY), webhook_url, hook)
        if outbox is not None:
            providers[push_outbox.OUTBOX_KEY] = push_outbox.section(outbox)
        return await storage.instances.update(instance_id, providers=providers)

    updated = run_storage(target, act)
    click.echo(f"instance {updated.id} configured")
    changed = [name for name, given in (("apns", apns), ("fcm", fcm), ("web", vapid_subject),
                                         (PROVIDERS_KEY, webhook_url or hook)) if given]
    pairs = [(name, _describe(name, updated.providers[name])) for name in changed]
    pairs += [(name, "cleared") for name in clear if name not in changed]
    if outbox is not None:
        pairs.append(("outbox", f"on: notifications are kept, not sent (`tidings outbox {updated.id}`)" if outbox
                      else "off: notifications are sent"))
    echo_pairs(pairs)


# -- building each section (values are validated by the providers' own settings models) --------------------------


def _apns(current: object, given: dict[str, Any]) -> dict[str, Any]:
    merged = {**(current if isinstance(current, dict) else {}), **given}
    try:
        parsed = apns_settings.parse_settings(merged)
    except apns_settings.ApnsSettingsError as exc:  # names fields, never values
        raise Fail(f"{exc} (options --apns-key-file, --apns-key-id, --apns-team-id are needed the first time)"
                    ) from None
    # What the model normalised (stripped ids, real newlines in the PEM) is what gets stored.
    return {k: _plain(v) for k, v in parsed.model_dump().items() if v is not None}


def _fcm(service_account: dict[str, Any]) -> dict[str, Any]:
    stored = {"service_account": service_account}
    try:
        fcm_settings.parse_settings(stored)
    except fcm_settings.FcmSettingsError as exc:
        raise Fail(str(exc)) from None
    # The file as Google made it, every field kept: the model ignores fields it does not need.
    return stored


def _webhooks(current: object, url: str | None, given: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        hooks = list(parse_webhooks(current))
    except ValueError:
        hooks = []  # unusable as stored (edited by hand): replaced by what is given now
    if url is not None:
        index = next((i for i, h in enumerate(hooks) if h.url == url), None)
    elif len(hooks) == 1:
        index = 0
    else:
        raise Fail("pass --webhook-url to say which webhook to change" if hooks
                    else "--webhook-url is needed to add a webhook")
    base = hooks[index].stored() if index is not None else {}
    if index is None and "secret" not in given:
        raise Fail("a new webhook needs --webhook-secret (receivers check Webhook-Signature with it)")
    merged = {**base, **given, **({"url": url} if url is not None else {})}
    try:
        (hook,) = parse_webhooks([merged])
    except ValueError as exc:
        raise Fail(str(exc)) from None
    if index is None:
        hooks.append(hook)
    else:
        hooks[index] = hook
    return [h.stored() for h in hooks]


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# -- reading files -------------------------------------------------------------------------------------------


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # Only the reason: a decode error's message could quote bytes of the key.
        raise Fail(f"{option}: cannot read {path} ({type(exc).__name__})") from None


def _read_service_account(path: Path) -> dict[str, Any]:
    text = _read_text(path, "--fcm-service-account")
    try:
        data = json.loads(text)
    except ValueError:
        raise Fail(f"--fcm-service-account: {path} is not JSON (expected the service-account file)") from None
    if not isinstance(data, dict):
        raise Fail(f"--fcm-service-account: {path} must hold a JSON object")
    return data


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise Fail(f"{option} must be a JSON object") from None
    if not isinstance(data, dict):
        raise Fail(f"{option} must be a JSON object")
    return data


# -- printing without secrets --------------------------------------------------------------------------------


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def _describe(section: str, raw: Any) -> str:
    if section == "apns":
        apns = apns_settings.parse_settings(raw)
        return (f"key_id={apns.key_id} team_id={apns.team_id} topic={apns.topic or '(device bundle id)'} "
                f"environment={apns.environment} key={_fingerprint(apns.private_key.get_secret_value())}")
    if section == "fcm":
        fcm = fcm_settings.parse_settings(raw)
        return f"project_id={fcm.project} client_email={fcm.service_account.client_email}"
    if section == "web":
        return f"vapid_subject={raw.get('vapid_subject')}"
    return "; ".join(_describe_hook(hook) for hook in parse_webhooks(raw))


def _describe_hook(hook: BeamsWebhook) -> str:
    events = ",".join(hook.events) or "all events"
    custom = f" custom_data={len(hook.custom_data)} key(s)" if hook.custom_data else ""
    return f"{shown_url(hook.url)} id={hook.id} events={events} secret=(set){custom}"

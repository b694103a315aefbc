"""What `tidings serve` prints at start: where it listens and ready-to-paste client snippets.

A secret Tidings generated is printed once, on the start that created it: that is how users get it. A secret
supplied through the environment or the config file is never printed (it would land in container and CI
logs); the banner names where it came from instead.
"""

from __future__ import annotations

import os

from pydantic import SecretStr

from tidings import __version__
from tidings.beams.models import Instance
from tidings.channels.apps import App
from tidings.config import Settings
from tidings.console.setup import Token
from tidings.providers import outbox


def app_secret_source(settings: Settings) -> str | None:
    """Where the default app's secret came from, when it was supplied; None when Tidings generates it."""
    return _source(settings.default_app_secret, "TIDINGS_DEFAULT_APP_SECRET", "default_app_secret")


def instance_secret_source(settings: Settings) -> str | None:
    """Where the default Beams instance's secret key came from, when it was supplied; None when generated."""
    return _source(settings.default_instance_secret, "TIDINGS_DEFAULT_INSTANCE_SECRET", "default_instance_secret")


def _source(value: SecretStr | None, env: str, key: str) -> str | None:
    if value is None:
        return None
    # Settings read the environment before the config file: a variable that is set is where the value came from.
    return env if env in os.environ else f"{key} in the config file"


def banner(
    app: App, *, created: bool, host: str, port: int, storage: str, tls: bool = False, secret_from: str | None = None
) -> str:
    """`secret_from`: where a supplied secret came from (app_secret_source); None prints a generated one."""
    http, ws = ("https", "wss") if tls else ("http", "ws")
    lines = [
        f"Tidings {__version__} listening on {http}://{host}:{port}  (Channels WebSocket at {ws}://{host}:{port}/app/<key>)",
        f"Storage: {storage}",
        "",
    ]
    if not created:
        lines += [
            f"App {app.id} (key {app.key}). Its secret: `tidings apps show {app.id}`.",
            "",
        ]
        return "\n".join(lines)
    secret = app.secret if secret_from is None else f"<secret from {secret_from}>"
    lines += [
        "Created an app (stored; manage apps with `tidings apps list|show|create|disable`):",
        f"  app_id: {app.id}",
        f"  key:    {app.key}",
        f"  secret: {app.secret}" if secret_from is None else f"  secret: from {secret_from}",
        "",
        "pusher-js (browser or Node):",
        f'  const pusher = new Pusher("{app.key}", {{',
        f'    cluster: "mt1", wsHost: "{host}", wsPort: {port}, wssPort: {port}, forceTLS: {str(tls).lower()},',
        '    enabledTransports: ["ws", "wss"],',
        "  });",
        '  pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));',
        "",
        "pusher (Python server SDK):",
        "  import pusher",
        f'  client = pusher.Pusher(app_id="{app.id}", key="{app.key}", secret="{secret}",',
        f'                         host="{host}", port={port}, ssl={tls})',
        '  client.trigger("my-channel", "my-event", {"message": "hello"})',
        "",
    ]
    return "\n".join(lines)


PRIVATE_PUSH_WARNING = (
    "WARNING: push_allow_private_networks is on: Web Push endpoints may be plain http and loopback or private "
    "addresses (development only)."
)


def beams_banner(
    instance: Instance,
    *,
    created: bool,
    base_url: str,
    allow_private_push: bool = False,
    secret_from: str | None = None,
) -> str:
    """`secret_from`: where a supplied secret key came from (instance_secret_source); None prints a generated one."""
    warning = [PRIVATE_PUSH_WARNING, ""] if allow_private_push else []
    if not created:
        return "\n".join(
            [f"Beams instance {instance.id}. Its secret key: `tidings instances show {instance.id}`.", *warning, ""]
        )
    host_port = base_url.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    secret = instance.secret_key if secret_from is None else f"<secret key from {secret_from}>"
    return "\n".join([
        "Created a Beams instance (manage instances with `tidings instances list|show|create`):",
        f"  instance_id: {instance.id}",
        f"  secret_key:  {instance.secret_key}" if secret_from is None else f"  secret_key:  from {secret_from}",
        "",
        "@pusher/push-notifications-server (Node; plain http):",
        '  const PushNotifications = require("@pusher/push-notifications-server");',
        f'  const beams = new PushNotifications({{ instanceId: "{instance.id}", secretKey: "{secret}",',
        f'                                        endpoint: "{host}", port: {port} }});',
        '  await beams.publishToUsers(["alice"], { web: { notification: { title: "Hi", body: "Hello" } } });',
        "",
        "pusher-push-notifications (Python; https only: start Tidings with --tls-cert/--tls-key):",
        "  from pusher_push_notifications import PushNotifications",
        f'  beams = PushNotifications(instance_id="{instance.id}", secret_key="{secret}",',
        f'                            endpoint="{host_port}")',
        '  beams.publish_to_users(user_ids=["alice"], publish_body={"web": {"notification": {"title": "Hi"}}})',
        "",
        "@pusher/push-notifications-web (browser):",
        f'  const beamsClient = new PusherPushNotifications.Client({{ instanceId: "{instance.id}",',
        f'                                                          endpointOverride: "{base_url}" }});',
        "  await beamsClient.start();",
        '  const tokenProvider = new PusherPushNotifications.TokenProvider({ url: "/pusher/beams-auth" });',
        '  await beamsClient.setUserId("alice", tokenProvider);',
        "",
        *_outbox_lines(instance),
        *warning,
    ])


def _outbox_lines(instance: Instance) -> list[str]:
    if outbox.enabled(instance):
        return [
            "Outbox mode is on: notifications are kept, not sent. Read them with "
            f"`tidings outbox {instance.id}` or GET /outbox_api/v1/instances/{instance.id}/notifications.",
            "",
        ]
    return [
        "No devices yet? Keep notifications in an outbox instead of sending them (docs/outbox.md):",
        f"  tidings instances configure {instance.id} --outbox && tidings outbox {instance.id} --follow",
        "",
    ]


def console_banner(base_url: str, token: Token) -> str:
    """The console's address; with the token in the link (a fragment: never sent to a server or logged) only on
    the start that generated it."""
    if token.created:
        return "\n".join([
            "Live console (token generated and kept in " + token.source + "):",
            f"  {base_url}/console/login#token={token.value}",
            f"  tidings tail --url {base_url} --app <app id>",
            "",
        ])
    where = f"token in {token.source}" if token.source.endswith("console-token") else f"token from {token.source}"
    return f"Live console: {base_url}/console  ({where})\n"


def link_banner(app: App) -> str:
    """User-first delivery, when the app is linked to a Beams instance: what a routed publish and the mailbox do."""
    if app.beams_instance is None:
        return ""
    mailbox = (f"  Events to signed-out users are kept {app.user_mailbox} s for their next sign-in."
               if app.user_mailbox else
               f"  Keep events to signed-out users for their next sign-in: "
               f"tidings apps update {app.id} --user-mailbox SECONDS")
    return "\n".join([
        f"User-first delivery (docs/user-first-delivery.md): app {app.id} is linked to Beams instance "
        f"{app.beams_instance}.",
        '  A publish to users with "channels": {"event": ..., "data": ...} reaches signed-in users over the socket,',
        "  the others as a push.",
        mailbox,
        "",
    ])

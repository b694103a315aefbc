"""What `tidings serve` prints at start: where it listens and ready-to-paste client snippets."""

from __future__ import annotations

from tidings import __version__
from tidings.channels.apps import App


def banner(app: App, *, created: bool, host: str, port: int, storage: str) -> str:
    lines = [
        f"Tidings {__version__} listening on http://{host}:{port}  (Channels WebSocket at ws://{host}:{port}/app/<key>)",
        f"Storage: {storage}",
        "",
    ]
    if not created:
        lines += [
            f"App {app.id} (key {app.key}). Its secret: `tidings apps show {app.id}`.",
            "",
        ]
        return "\n".join(lines)
    lines += [
        "Created an app (stored; manage apps with `tidings apps list|show|create|disable`):",
        f"  app_id: {app.id}",
        f"  key:    {app.key}",
        f"  secret: {app.secret}",
        "",
        "pusher-js (browser or Node):",
        f'  const pusher = new Pusher("{app.key}", {{',
        f'    cluster: "mt1", wsHost: "{host}", wsPort: {port}, forceTLS: false,',
        '    enabledTransports: ["ws", "wss"],',
        "  });",
        '  pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));',
        "",
        "pusher (Python server SDK):",
        "  import pusher",
        f'  client = pusher.Pusher(app_id="{app.id}", key="{app.key}", secret="{app.secret}",',
        f'                         host="{host}", port={port}, ssl=False)',
        '  client.trigger("my-channel", "my-event", {"message": "hello"})',
        "",
    ]
    return "\n".join(lines)

"""`tidings tail`: the console's live stream in the terminal, one readable line per event (or the JSON records).

    tidings tail --app APP_ID [--user ID] [--channel PREFIX] [--event NAME] [--kind KIND] [--json]
    tidings tail --instance INSTANCE_ID ...
    tidings tail --url https://tidings.example.com --token ... --app APP_ID

It reads `GET /console/api/{apps|instances}/{id}/stream` (Server-Sent Events) with `Authorization: Bearer
<console token>`. The token comes from --token, else TIDINGS_CONSOLE_TOKEN, else the embedded default's
`<data_dir>/console-token` (for a server on this machine). It reconnects when the stream drops, and stops on
Ctrl-C. Colours only on a terminal (click strips them otherwise).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from tidings.cli.common import Fail

RECONNECT = 2.0  # seconds between attempts when the stream drops
_SKIP = {"kind", "time", "at", "product", "node", "users", "user_id", "data", "payload", "app_id", "instance_id"}
_COLOURS = {"channels": "cyan", "beams": "magenta"}


def _token(given: str | None, data_dir: Path) -> str:
    if given:
        return given
    path = data_dir / "console-token"
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        value = ""
    if not value:
        raise Fail("no console token: pass --token, set TIDINGS_CONSOLE_TOKEN, or run next to an embedded server "
                   f"({path} not found)")
    return value


def line(record: dict[str, Any]) -> str:
    """One event as one terminal line: time, kind, users, the kind's fields, then the payload (compact)."""
    if record.get("kind") == "gap":
        return click.style(f"-- {record.get('missed')} event(s) missed: this terminal did not keep up --", fg="yellow")
    clock = str(record.get("time", ""))[11:23]
    kind = click.style(str(record.get("kind", "?")), fg=_COLOURS.get(str(record.get("product")), "white"), bold=True)
    users = [record["user_id"]] if isinstance(record.get("user_id"), str) else []
    users += [u for u in record.get("users", []) if isinstance(u, str) and u not in users]
    parts = [click.style(clock, dim=True), kind]
    if users:
        parts.append(click.style("user=" + ",".join(users), fg="green"))
    for key, value in record.items():
        if key in _SKIP or value is None:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={shown}")
    for key in ("data", "payload"):
        if record.get(key) is not None:
            value = record[key]
            parts.append(click.style(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")),
                                     fg="blue"))
    parts.append(click.style(f"@{record.get('node', '')}", dim=True))
    return " ".join(parts)


@click.command("tail")
@click.option("--app", "app_id", help="The app (Channels) whose events to follow (with its linked Beams instance)")
@click.option("--instance", "instance_id", help="The Beams instance whose events to follow")
@click.option("--user", help="Only events that concern this user id")
@click.option("--channel", help="Only events on channels starting with this prefix")
@click.option("--event", help="Only events of this name")
@click.option("--kind", help="Only these kinds, comma-separated (event_triggered, client_event_sent, ...)")
@click.option("--json", "as_json", is_flag=True, help="Print each record as one line of JSON")
@click.option("--url", envvar="TIDINGS_CONSOLE_URL", default="http://127.0.0.1:6001", show_default=True,
              help="The server  [env: TIDINGS_CONSOLE_URL]")
@click.option("--token", envvar="TIDINGS_CONSOLE_TOKEN", help="The console token  [env: TIDINGS_CONSOLE_TOKEN]")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="TIDINGS_DATA_DIR",
              default=Path("data"), help="Where an embedded server keeps its console-token  [env: TIDINGS_DATA_DIR]")
@click.option("--once", is_flag=True, hidden=True, help="Stop when the stream ends instead of reconnecting")
def tail(app_id: str | None, instance_id: str | None, user: str | None, channel: str | None, event: str | None,
         kind: str | None, as_json: bool, url: str, token: str | None, data_dir: Path, once: bool) -> None:
    """Follow the live console stream of an app or a Beams instance in the terminal."""
    if (app_id is None) == (instance_id is None):
        raise Fail("give exactly one of --app and --instance")
    path = f"apps/{quote(app_id, safe='')}" if app_id else f"instances/{quote(instance_id or '', safe='')}"
    params = {k: v for k, v in {"user": user, "channel": channel, "event": event, "kind": kind}.items() if v}
    secret = _token(token, data_dir)
    try:
        asyncio.run(_follow(f"{url.rstrip('/')}/console/api/{path}/stream", params, secret, as_json, once))
    except KeyboardInterrupt:
        pass


async def _follow(url: str, params: dict[str, str], token: str, as_json: bool, once: bool) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)  # keepalives come every 10 s
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while True:
            try:
                async with http.get(url, params=params, headers=headers) as response:
                    if response.status != 200:
                        try:
                            message = (await response.json()).get("error", response.reason)
                        except (aiohttp.ContentTypeError, ValueError):
                            message = response.reason
                        raise Fail(f"{response.status}: {message}")
                    click.echo(click.style(f"-- following {url} --", dim=True), err=True)
                    async for raw in response.content:
                        text = raw.decode("utf-8", "replace").rstrip("\r\n")
                        if not text.startswith("data: "):
                            continue
                        if as_json:
                            click.echo(text[6:])
                        else:
                            try:
                                click.echo(line(json.loads(text[6:])))
                            except ValueError:
                                continue
                        sys.stdout.flush()
            except (aiohttp.ClientError, TimeoutError) as exc:
                click.echo(click.style(f"-- stream lost ({exc or type(exc).__name__}); reconnecting --", fg="yellow"),
                           err=True)
            if once:
                return
            await asyncio.sleep(RECONNECT)

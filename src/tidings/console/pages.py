"""The console's pages: small server-rendered shells, made live by static/console.js (shipped in the wheel,
nothing loaded from elsewhere). Every value from a request or from storage is escaped here; the script builds
the rest with textContent, never innerHTML."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

if TYPE_CHECKING:
    from tidings.console.web import Scope

STATIC_DIR = Path(__file__).parent / "static"
Page = Callable[[Mapping[str, str], "Scope | None"], str]
# Scripts and styles from this origin only; no inline script (the page's data rides on data- attributes).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP,
        "Referrer-Policy": "no-referrer",
    })


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _shell(title: str, body: str, *, page: str, data: Mapping[str, str] | None = None, nav: str = "") -> str:
    attrs = " ".join(f'data-{k}="{_e(v)}"' for k, v in (data or {}).items())
    logout = (
        '<form method="post" action="/console/logout" class="logout">'
        '<button type="submit" aria-label="Sign out of the console">Sign out</button></form>'
        if page != "login" else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · Tidings console</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script>
</head>
<body data-page="{page}" {attrs}>
<header class="top">
  <a class="brand" href="/console">Tidings console</a>
  <nav aria-label="Breadcrumb">{nav}</nav>
  {logout}
</header>
<main id="main">
{body}
</main>
</body>
</html>
"""


def login(error: str | None = None) -> str:
    problem = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    body = f"""<section class="login">
<h1>Sign in</h1>
<p>Enter the console token (<code>console_token</code>, <code>TIDINGS_CONSOLE_TOKEN</code>; the embedded default
prints a link with it at start).</p>
{problem}
<form method="post" action="/console/login" id="login-form">
  <label for="token">Console token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <button type="submit" id="login-button">Sign in</button>
</form>
</section>"""
    return _shell("Sign in", body, page="login")


def index(match: Mapping[str, str], scope: Scope | None) -> str:
    body = """<h1>Apps and instances</h1>
<p>Pick an app (Channels) or an instance (Beams) to watch its events live, or open a user's timeline.</p>
<section aria-labelledby="apps-heading"><h2 id="apps-heading">Apps</h2>
<table class="list"><thead><tr><th scope="col">App id</th><th scope="col">Name</th><th scope="col">Key</th>
<th scope="col">Linked Beams instance</th></tr></thead><tbody id="apps"></tbody></table></section>
<section aria-labelledby="instances-heading"><h2 id="instances-heading">Beams instances</h2>
<table class="list"><thead><tr><th scope="col">Instance id</th><th scope="col">Name</th></tr></thead>
<tbody id="instances"></tbody></table></section>
<form id="user-form" class="inline">
  <label for="user-scope">Timeline of user</label>
  <select id="user-scope" aria-label="App or instance"></select>
  <input id="user-id" placeholder="user id" aria-label="User id" required>
  <button type="submit">Open timeline</button>
</form>"""
    return _shell("Apps", body, page="index")


def _where(scope: Scope) -> tuple[str, str, str]:
    """(path segment, label, API base) of an app or instance."""
    if scope.product == "channels":
        return "apps", f"App {scope.id}", f"/console/api/apps/{quote(scope.id, safe='')}"
    return "instances", f"Instance {scope.id}", f"/console/api/instances/{quote(scope.id, safe='')}"


def _filters(fixed_user: bool) -> str:
    user = "" if fixed_user else """
  <label>User id <input name="user" id="filter-user" autocomplete="off"></label>"""
    return f"""<form id="filters" class="filters" aria-label="Filters">
  <label>Channel prefix <input name="channel" id="filter-channel" autocomplete="off"></label>{user}
  <label>Event name <input name="event" id="filter-event" autocomplete="off"></label>
  <label>Kinds <input name="kind" id="filter-kind" placeholder="e.g. event_triggered,client_event_sent"
    autocomplete="off"></label>
  <button type="submit" id="apply-filters">Apply filters</button>
  <button type="button" id="pause" aria-pressed="false">Pause</button>
  <button type="button" id="clear">Clear</button>
  <span id="status" role="status" aria-live="polite">connecting</span>
</form>"""


_EVENTS = """<ol id="events" class="events" role="log" aria-label="Events, newest first"></ol>"""


def stream(match: Mapping[str, str], scope: Scope | None) -> str:
    assert scope is not None
    segment, label, api = _where(scope)
    linked = (f' Includes the events of the linked Beams instance <a href="/console/instances/{_e(scope.linked)}">'
              f"{_e(scope.linked)}</a>.") if scope.linked else ""
    body = f"""<h1>{_e(label)}{' · ' + _e(scope.name) if scope.name else ''}</h1>
<p class="hint">Live events, newest first.{linked} Click a user id for their timeline.</p>
{_filters(False)}
{_EVENTS}"""
    nav = f'<a href="/console">Apps</a> › <span aria-current="page">{_e(label)}</span>'
    return _shell(label, body, page="stream", nav=nav,
                  data={"api": api, "base": f"/console/{segment}/{quote(scope.id, safe='')}"})


def timeline(match: Mapping[str, str], scope: Scope | None) -> str:
    assert scope is not None
    segment, label, api = _where(scope)
    user = match["user_id"]
    base = f"/console/{segment}/{quote(scope.id, safe='')}"
    body = f"""<h1>User <span id="user-name">{_e(user)}</span></h1>
<p class="hint">{_e(label)}: the user's connections, sign-ins, channels, events, devices and publishes, newest
first, live. The last events are kept while the user is offline (see docs/console.md for how many).</p>
<section class="facts" aria-labelledby="facts-heading"><h2 id="facts-heading">Now</h2>
<dl id="facts"></dl>
<table class="list" id="devices-table" hidden><caption>Beams devices</caption>
<thead><tr><th scope="col">Device</th><th scope="col">Platform</th><th scope="col">Last result</th></tr></thead>
<tbody id="devices"></tbody></table></section>
<section aria-labelledby="events-heading"><h2 id="events-heading">Timeline</h2>
{_filters(True)}
{_EVENTS}</section>"""
    nav = (f'<a href="/console">Apps</a> › <a href="{_e(base)}">{_e(label)}</a> › '
           f'<span aria-current="page">{_e(user)}</span>')
    user_q = quote(user, safe="")
    return _shell(f"{user} · {label}", body, page="timeline", nav=nav, data={
        "api": api, "base": base, "user": user, "timeline": f"{api}/users/{user_q}/timeline",
    })

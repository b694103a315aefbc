"""The users API (docs/users.md) through the official `pusher` Python SDK.

The SDK has no methods for these endpoints; its generic signed request (`pusher.http.Request`, sent by the
client's own HTTP backend) makes the GETs. `Request` signs only GET and POST, so the watchlist PUT is signed
the way the SDK signs every request (auth_* and body_md5 parameters, `METHOD\\nPATH\\nQUERY`), by the SDK's
own code, with the method set to PUT before signing.
"""

from __future__ import annotations

from typing import Any

import pusher
from pusher.http import GET, POST, Request


def _client(sdk: pusher.Pusher) -> Any:
    return sdk._pusher_client


def sdk_get(sdk: pusher.Pusher, path: str, params: dict[str, str] | None = None) -> Any:
    """A signed GET; `path` may contain `{app}`. Raises the SDK's errors on a non-2xx answer."""
    client = _client(sdk)
    return client.http.send_request(Request(client, GET, path.replace("{app}", client.app_id), params or {}))


def sdk_put(sdk: pusher.Pusher, path: str, body: Any) -> Any:
    client = _client(sdk)
    request = Request(client, POST, path.replace("{app}", client.app_id), body)  # JSON body, as for a POST
    request.method = "PUT"
    request.query_params = {}
    request._generate_auth()  # the SDK's signing, over PUT
    return client.http.send_request(request)


def online_users(sdk: pusher.Pusher, cursor: str | None = None, limit: int | None = None) -> Any:
    params = {k: str(v) for k, v in (("cursor", cursor), ("limit", limit)) if v is not None}
    return sdk_get(sdk, "/apps/{app}/users", params)


def all_online_users(sdk: pusher.Pusher, limit: int) -> tuple[list[str], int, int]:
    """Every page of the online list: (ids in order, total of the first page, pages read)."""
    ids: list[str] = []
    cursor = None
    pages = 0
    total = -1
    while True:
        page = online_users(sdk, cursor, limit)
        total = page["total"] if total < 0 else total
        ids += [u["id"] for u in page["users"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, total, pages


def user(sdk: pusher.Pusher, user_id: str) -> Any:
    return sdk_get(sdk, f"/apps/{{app}}/users/{user_id}")


def replace_watchlist(sdk: pusher.Pusher, user_id: str, watchlist: list[str], *, prefixed: bool = True) -> Any:
    path = f"/apps/{{app}}/users/{user_id}/watchlist" if prefixed else f"/users/{user_id}/watchlist"
    return sdk_put(sdk, path, {"watchlist": watchlist})

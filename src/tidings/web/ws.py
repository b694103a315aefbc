"""The Channels WebSocket endpoint `/app/{key}`: handshake checks, then a read loop.

Refusals at connect send a `pusher:error` frame, then close with the same code (as soketi does;
pusher-js acts on the close code). Unknown query parameters are ignored.
"""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from tidings.channels import messages
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.realtime import session
from tidings.realtime.connection import Connection
from tidings.web.context import Context, context

log = logging.getLogger("tidings.ws")

SUPPORTED_PROTOCOLS = range(4, 8)


async def websocket(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    ws = web.WebSocketResponse(
        # aiohttp refuses frames of size >= max_msg_size; +1 makes the setting the largest size read.
        compress=False, max_msg_size=ctx.settings.max_message_bytes + 1, autoping=True, heartbeat=None
    )
    await ws.prepare(request)
    refused = await _refusal(ctx, request)
    if isinstance(refused, tuple):
        code, message = refused
        ctx.metrics.ws_rejected.labels(str(code)).inc()
        await ws.send_str(messages.error(code, message).decode())
        await ws.close(code=code, message=message.encode())
        return ws
    app = refused
    transport = request.transport
    assert transport is not None

    async def closer(code: int, reason: str) -> None:
        await ws.close(code=code, message=reason.encode()[:120])

    conn = Connection(
        ctx.hub.new_socket_id(app.id), app, transport, closer, write_limit=ctx.settings.write_buffer_limit
    )
    if app.enable_user_authentication:
        conn.user_deadline = conn.last_seen + ctx.settings.user_authentication_timeout
    ctx.hub.add(conn)
    conn.send(messages.connection_established(conn.socket_id, ctx.settings.activity_timeout))
    reason = "closed"
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await session.receive_text(ctx.hub, conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                session.receive_binary(conn)
            elif msg.type is WSMsgType.ERROR:
                reason = f"error: {ws.exception()}"
                break
    finally:
        await ctx.hub.remove(conn, reason)
    return ws


async def _refusal(ctx: Context, request: web.Request) -> tuple[int, str] | App:
    if ctx.shutting_down:
        return Code.GENERIC_RECONNECT, "Server is shutting down"
    raw = request.query.get("protocol")
    if raw is None:
        return Code.NO_PROTOCOL, "No protocol version supplied"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:  # "²".isdigit() is True, int("²") raises
        return Code.INVALID_VERSION, f"Invalid protocol version {raw[:20]!r}"
    if int(raw) not in SUPPORTED_PROTOCOLS:
        return Code.UNSUPPORTED_PROTOCOL, f"Unsupported protocol version {raw}"
    app = await ctx.registry.by_key(request.match_info["key"])
    if app is None:
        return Code.APP_NOT_FOUND, "App key does not exist"
    if not app.enabled:
        return Code.APP_DISABLED, "App is disabled"
    limit = app.limits.max_connections
    if limit is not None and ctx.hub.connection_count(app.id) >= limit:
        return Code.OVER_CONNECTION_QUOTA, "Over connection quota"
    return app

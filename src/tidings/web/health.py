"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from tidings.web.context import context


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.shutting_down:
        return web.json_response({"status": "shutting down"}, status=503)
    if not await ctx.storage.ping():
        return web.json_response({"status": "storage unavailable"}, status=503)
    if not await ctx.hub.adapter.ping():
        return web.json_response({"status": "redis unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = context(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

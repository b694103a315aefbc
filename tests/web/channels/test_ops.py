"""Operational endpoints: /health, /ready and the Prometheus /metrics."""

from __future__ import annotations

import requests

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, close_all, connect_many
from tests.web.channels.conftest import HTTP_TIMEOUT, Api, metric, uniq


def test_health(server: RunningServer) -> None:
    r = requests.get(f"{server.http_url}/health", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready(server: RunningServer) -> None:
    r = requests.get(f"{server.http_url}/ready", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_metrics_is_prometheus_text(server: RunningServer) -> None:
    r = requests.get(f"{server.http_url}/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE tidings_connections gauge" in r.text
    assert "tidings_deliveries_total" in r.text


async def test_metrics_count_connections_and_deliveries(server: RunningServer, api: Api) -> None:
    labels = f'app_id="{server.app_id}"'
    channel = uniq("metered-")
    before_conns = metric(server, "tidings_connections", labels)
    before_deliveries = metric(server, "tidings_deliveries_total", labels)
    clients = await connect_many(server.ws_url(), 3)
    try:
        assert metric(server, "tidings_connections", labels) == before_conns + 3
        for c in clients:
            await c.subscribe(channel)
        api.trigger_ok(channel, "ev", "{}")
        api.trigger_ok(channel, "ev", "{}")
        for c in clients:
            await c.expect("ev")
            await c.expect("ev")
        assert metric(server, "tidings_deliveries_total", labels) == before_deliveries + 6
    finally:
        await close_all(clients)
    # Closed connections are counted down (the server may take a moment to see the closes).
    for _ in range(50):
        if metric(server, "tidings_connections", labels) == before_conns:
            break
        async with await WsClient.connect(server.ws_url()) as probe:
            await probe.ping()
    assert metric(server, "tidings_connections", labels) == before_conns

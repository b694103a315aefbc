"""What the endpoints need, built once at start and stored on the aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.abc import AbstractResolver

from tidings.beams.models import Instance
from tidings.config import Settings
from tidings.events import EventStream
from tidings.metrics import Metrics
from tidings.realtime.hub import Hub
from tidings.realtime.registry import AppRegistry
from tidings.storage import Storage
from tidings.ttlcache import TTLCache


class RateLimiter(Protocol):
    def check(self, key: str) -> None: ...


@dataclass
class Context:
    settings: Settings
    storage: Storage
    registry: AppRegistry
    hub: Hub
    stream: EventStream
    metrics: Metrics
    instances: TTLCache[Instance]
    beams_rate: RateLimiter
    shutting_down: bool = False
    # Resolves Web Push endpoint hosts at registration (providers/netguard.py); None: the system resolver.
    push_resolver: AbstractResolver | None = None


CONTEXT: web.AppKey[Context] = web.AppKey("tidings_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]

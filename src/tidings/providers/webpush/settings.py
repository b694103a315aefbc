"""What the Web Push provider reads: server settings, per-instance options and per-publish headers.

Kept apart from the client so the rules for TTL / Urgency / Topic (RFC 8030 section 5) are one small,
pure function each and testable without a network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tidings.beams.models import Instance

DEFAULT_TTL = 2419200  # 4 weeks: the Beams default and documented maximum for `web.time_to_live`
DEFAULT_URGENCY = "normal"
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
DEFAULT_SUBJECT = "mailto:admin@localhost"
MAX_BODY = 4096  # RFC 8291 section 4: push services need not accept more; all the big ones refuse larger
CONNECT_TIMEOUT = 5.0  # per address tried; the whole request is bounded by delivery_request_timeout anyway
KEEPALIVE_EXPIRY = 60.0  # seconds an idle gateway connection is kept open
JWT_LIFETIME = 12 * 3600  # RFC 8292 says at most 24 h; 12 h leaves room for clock skew at the push service
JWT_REFRESH_MARGIN = 3600  # sign a fresh JWT when less than this is left, so none expires in flight

# RFC 8030 section 5.4: at most 32 characters of the URL-safe base64 alphabet.
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")


class GatewaySettings(Protocol):
    """The slice of tidings.config.Settings the provider uses (any object with these attributes will do)."""

    @property
    def gateway_ca_file(self) -> Path | None: ...

    @property
    def delivery_concurrency(self) -> int: ...

    @property
    def push_allow_private_networks(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class PushHeaders:
    ttl: int
    urgency: str
    topic: str | None

    def as_dict(self) -> dict[str, str]:
        headers = {"TTL": str(self.ttl), "Urgency": self.urgency}
        if self.topic is not None:
            headers["Topic"] = self.topic
        return headers


def push_headers(web: dict[str, Any]) -> PushHeaders:
    """TTL, Urgency and Topic from the publish's `web` object; unusable values fall back to the defaults.

    Publish validation already bounds `time_to_live`; the fallbacks keep an old stored payload deliverable
    rather than having the push service refuse the whole request for one bad header.
    """
    ttl = web.get("time_to_live")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= DEFAULT_TTL:
        ttl = DEFAULT_TTL
    urgency = web.get("urgency")
    if urgency not in URGENCIES:
        urgency = DEFAULT_URGENCY
    topic = web.get("topic")
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        topic = None
    return PushHeaders(ttl=ttl, urgency=str(urgency), topic=topic)


def vapid_subject(instance: Instance) -> str:
    """The JWT `sub`: a contact for the push service operator (Apple refuses a missing or odd one)."""
    options = instance.providers.get("web")
    subject = options.get("vapid_subject") if isinstance(options, dict) else None
    if isinstance(subject, str) and subject.startswith(("mailto:", "https:")):
        return subject
    return DEFAULT_SUBJECT

"""Push service answers -> Outcome (RFC 8030 section 5, RFC 8292 section 4.2).

Push services disagree on bodies (Mozilla sends {"errno", "message"}, Apple {"reason"}, FCM plain text),
so only a short reason is kept, for the operator; the subscription keys and the payload never appear in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry
from tidings.providers.retry import retry_after

_MAX_REASON = 200


class Response(Protocol):
    """What `classify` reads of an answer (an `Answer`, or e.g. an httpx.Response)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...  # case-insensitive names

    @property
    def content(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A push service's answer, read in full: status, headers (case-insensitive mapping) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


def classify(response: Response, now: float) -> Outcome:
    """The Outcome of one push request; `now` (unix seconds) turns an HTTP-date Retry-After into a delay."""
    status = response.status_code
    if 200 <= status < 300:
        return Delivered(status)
    reason = _reason(response)
    if status in (404, 410):
        # RFC 8030 section 7.3: the subscription expired or was unsubscribed; it never comes back.
        return DeadToken(reason or "subscription gone", status)
    if status in (408, 429) or status >= 500:  # 408: the service timed out reading us, a transient state
        return Retry(reason or "push service busy", retry_after(response.headers.get("retry-after"), now), status)
    if status == 413:
        return Failed(reason or "payload too large", status)
    if status in (401, 403):
        # RFC 8292 section 4.2: the VAPID header was refused, or the subscription is bound to another key.
        return Failed(reason or "VAPID authorization refused", status)
    return Failed(reason or f"push service answered {status}", status)



def _reason(response: Response) -> str:
    text = response.content[:2048].decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            for key in ("reason", "message", "error"):
                if isinstance(body.get(key), str) and body[key]:
                    text = body[key]
                    break
    return " ".join(text.split())[:_MAX_REASON]  # one line: newlines in a reason would split log records

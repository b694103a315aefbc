"""The webhook outbox's driver: one task starts what the outbox (outbox.py) says is ready, one task per request.

    runner = OutboxRunner(aiohttp_post(http), on_drop=metrics.webhook_dropped, on_sent=metrics.webhook_sent)
    task = asyncio.create_task(runner.run())
    runner.put(target, body, headers, events=3)   # synchronously, from any listener

Every request is bounded by its target's timeout, so a request never holds its slot longer than that; a failed one
waits for its retry in the outbox, holding nothing but its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from tidings.log import safe_url
from tidings.webhooks.outbox import Limits, OnDrop, Outbox, Request, Target, Verdict

log = logging.getLogger("tidings.webhooks")

Post = Callable[[str, bytes, Mapping[str, str], float], Awaitable[int]]  # url, body, headers, timeout -> status
OnSent = Callable[[str, int], None]  # product, status (0: no answer)
OnAnswer = Callable[[Target, int, int], None]  # target, status (0: no answer), events the request carried

PRODUCT_NAMES = {"channels": "Channels", "beams": "Beams"}
LOG_EVERY = 10.0  # seconds: at most one line per target and kind of trouble under sustained failure


def scope_ids(product: str, scope: str) -> dict[str, str]:
    """A target's scope as a log field: runner tasks serve every app, so the id goes with each line."""
    return {"instance_id" if product == "beams" else "app_id": scope} if scope else {}


def aiohttp_post(http: aiohttp.ClientSession) -> Post:
    async def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        # No redirects: a non-2xx answer is a failure (as Pusher counts it), and the signed body must not be
        # carried to wherever a Location points.
        async with http.post(
            url, data=body, headers=dict(headers), allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status

    return post


class OutboxRunner:
    def __init__(
        self,
        post: Post,
        *,
        limits: Limits | None = None,
        on_drop: OnDrop | None = None,
        on_sent: OnSent | None = None,
        on_answer: OnAnswer | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._post = post
        self._count_drop = on_drop or (lambda product, scope, target, reason, events: None)
        self._on_sent = on_sent or (lambda product, status: None)
        self._on_answer = on_answer or (lambda target, status, events: None)
        self.outbox = Outbox(limits, on_drop=self._dropped, rand=rand)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged_at: dict[tuple[str, ...], float] = {}

    # -- in (synchronous) ---------------------------------------------------------------------------------

    def put(self, target: Target, body: bytes, headers: Mapping[str, str], events: int = 1) -> None:
        self.outbox.put(target, body, headers, events)
        self._wake.set()

    def dropped(self, product: str, scope: str, reason: str, events: int = 1) -> None:
        """Count events a product dropped before they reached a target."""
        self.outbox.dropped(product, scope, reason, events)

    @property
    def idle(self) -> bool:
        """Nothing queued, waiting to retry or being sent."""
        return self.outbox.events == 0

    # -- the task ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                for request in self.outbox.ready(loop.time()):
                    task = loop.create_task(self._send(request))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                # asyncio.timeout_at, not wait_for: wait_for (3.11) may swallow a cancel that comes as it wakes.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(self.outbox.next_due()):  # None: until woken
                        await self._wake.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _send(self, request: Request) -> None:
        target = request.target
        status = 0
        with contextlib.suppress(Exception):  # refused, reset, timed out: all "no answer" (status 0)
            async with asyncio.timeout(target.timeout):
                status = await self._post(target.url, request.body, request.headers, target.timeout)
        self._on_sent(target.product, status)
        self._on_answer(target, status, request.events)
        verdict = self.outbox.finished(request, status, asyncio.get_running_loop().time())
        if verdict is Verdict.GAVE_UP and self._may_log("gave up", target.product, target.scope, target.url):
            log.warning("%s webhook to %s failed (last status %s); giving up after retries",
                        PRODUCT_NAMES[target.product], safe_url(target.url), status,
                        extra=scope_ids(target.product, target.scope))
        self._wake.set()

    def _dropped(self, product: str, scope: str, target: str, reason: str, events: int) -> None:
        self._count_drop(product, scope, target, reason, events)
        if reason != "retries exhausted" and self._may_log("dropped", product, scope, target, reason):
            log.warning("%s webhook events of %s dropped (%s, target %s); see tidings_webhooks_dropped_total",
                        PRODUCT_NAMES.get(product, product), scope, reason, target or "none yet",
                        extra=scope_ids(product, scope))

    def _may_log(self, *key: str) -> bool:
        now = time.monotonic()
        if now - self._logged_at.get(key, -LOG_EVERY) < LOG_EVERY:
            return False
        if len(self._logged_at) >= 10_000:  # keys are per target: bounded like everything else here
            self._logged_at.clear()
        self._logged_at[key] = now
        return True

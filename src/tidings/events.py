"""The one internal stream of what happened, for both products.

Emitters (the Channels hub, the Beams APIs and delivery workers) call `EventStream.emit`; listeners (metrics,
webhooks, later the live console) `subscribe`. The events themselves live with their product:
`tidings.realtime.events` (Channels) and `tidings.beams.events` (Beams); this module holds what they share.

What every event says, whatever its product (enough for a per-user timeline):

    event.product   "channels" or "beams" (a class constant)
    event.scope     the Channels app id or the Beams instance id; the field itself is named for what it is,
                    `app_id` on Channels events and `instance_id` on Beams events
    event.user_id   the user the event concerns (a signed-in connection, a presence member, a client event's
                    sender, a Beams device's user), or None where there is none or it is not known
    event.at        wall-clock time, seconds since the epoch (time.time()), set when the event is built

Listeners are called synchronously on the emitter's call stack (the fan-out path among them) and must be cheap:
anything slow queues work for a task of its own. A listener that raises is logged; the others still run and the
emitter never sees the error.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar, Literal

log = logging.getLogger("tidings.events")

Product = Literal["channels", "beams"]


@dataclass(frozen=True, slots=True)
class Event(ABC):
    """The base of every event. Subclasses add their scope field and, where they have one, `user_id`.

    A subclass declares a user id as a field spelled `user_id: str = field()` (or `str | None`): the `field()`
    keeps dataclasses from taking the property below for the field's default.
    """

    product: ClassVar[Product]
    _: KW_ONLY
    # Keyword-only, so subclasses' own fields stay positional; time.time() is the cheapest wall clock. Not compared:
    # two events saying the same thing are equal whenever they were built.
    at: float = field(default_factory=time.time, compare=False)

    @property
    @abstractmethod
    def scope(self) -> str:
        """The app id (Channels) or the instance id (Beams): each product's base says which field it is."""

    @property
    def user_id(self) -> str | None:
        return None


Listener = Callable[[Event], None]


class EventStream:
    def __init__(self) -> None:
        # A tuple, replaced on change: a listener may unsubscribe while an event is being emitted.
        self._listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> None:
        self._listeners = (*self._listeners, listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling `listener` (a console view that closed); nothing happens if it was not subscribed."""
        self._listeners = tuple(x for x in self._listeners if x != listener)  # ==: bound methods are new objects

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the hub operation that emitted
                log.exception("event listener %r failed on %s", listener, type(event).__name__)

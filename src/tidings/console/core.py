"""The console's listener on the one event stream: timelines always, live views only while one is open.

    console = Console(node_id, MemoryTimeline())
    stream.subscribe(console.on_event)
    view = console.open(frozenset({("channels", app_id)}), Filter.parse(query))
    ...
    console.close(view)

`on_event` runs on the emitter's stack, the fan-out path among them, so it is O(1) per event and returns at
once for the per-node counters (`Published`) unless something is watching: no view open on this node and no
console open anywhere in the cluster (the relay's `forwarding`) means no record is built for them. Events that
concern a user are rendered once and added to that user's timeline. Records from other nodes (the relay)
go to this node's views only; their timelines were written where they happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import orjson

from tidings.console.filters import Filter
from tidings.console.records import Record, record_scope, render, spec, users_of
from tidings.console.timeline import Timeline
from tidings.console.views import LIMIT, View
from tidings.events import Event


class Relay(Protocol):
    """Carries records between nodes (console/cluster.py); absent on a single node."""

    @property
    def forwarding(self) -> bool:
        """Some node of the cluster has a console open: send this node's records."""
        ...

    def send(self, body: bytes) -> None: ...

    def views_changed(self, open_here: int) -> None: ...


class Console:
    def __init__(self, node: str, timeline: Timeline, relay: Relay | None = None, *, view_limit: int = LIMIT) -> None:
        self.node = node
        self.timeline = timeline
        self.relay = relay
        self.view_limit = view_limit
        self._views: dict[tuple[str, str], set[View]] = {}
        self._open = 0
        self.active = False  # a view is open here, or some node forwards: render every event
        self.dropped = 0  # records received from other nodes that could not be read

    # -- views ---------------------------------------------------------------------------------------

    def open(self, scopes: frozenset[tuple[str, str]], flt: Filter) -> View:
        view = View(scopes, flt, self.view_limit)
        for scope in scopes:
            self._views.setdefault(scope, set()).add(view)
        self._open += 1
        self._changed()
        return view

    def close(self, view: View) -> None:
        if view.closed:
            return
        view.close()
        for scope in view.scopes:
            views = self._views.get(scope)
            if views is not None:
                views.discard(view)
                if not views:
                    del self._views[scope]
        self._open -= 1
        self._changed()

    def close_all(self) -> None:
        """End every view and drop its reader (shutdown): a reader that stopped reading holds nothing up."""
        for views in list(self._views.values()):
            for view in list(views):
                self.close(view)
                if view.abort is not None:
                    view.abort()

    @property
    def views(self) -> int:
        return self._open

    def _changed(self) -> None:
        if self.relay is not None:
            self.relay.views_changed(self._open)
        self.refresh()

    def refresh(self) -> None:
        """Work out `active` again (a view opened or closed, the relay's `forwarding` changed)."""
        self.active = self._open > 0 or (self.relay is not None and self.relay.forwarding)

    # -- events --------------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        s = spec(type(event))
        if not s.timeline and not self.active:
            return  # the fan-out path's counters, with nobody watching: nothing at all
        users = users_of(event) if s.timeline else []
        if not users and not self.active:
            return
        record = render(event, self.node)
        body = orjson.dumps(record)
        for user in users:
            self.timeline.add((event.product, event.scope, user), body)
        if not self.active:
            return
        if self.relay is not None and self.relay.forwarding:
            self.relay.send(body)
        self._dispatch((event.product, event.scope), record, body)

    def receive(self, bodies: list[bytes], decode: Callable[[bytes], object] = orjson.loads) -> None:
        """Records of another node (the relay)."""
        if not self._views:
            return
        for body in bodies:
            try:
                record = decode(body)
            except ValueError:
                self.dropped += 1
                continue
            if not isinstance(record, dict):
                self.dropped += 1
                continue
            scope = record_scope(record)
            product = record.get("product")
            if scope is not None and isinstance(product, str):
                self._dispatch((product, scope), record, body)

    def _dispatch(self, scope: tuple[str, str], record: Record, body: bytes) -> None:
        views = self._views.get(scope)
        if views:
            for view in views:
                view.offer(record, body)

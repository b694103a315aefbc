"""Capture what the root logger writes, in the server's JSON format, as parsed lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tidings.log import formatter


class JsonLines:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line]

    def matching(self, text: str) -> list[dict[str, Any]]:
        """The lines whose message contains `text`."""
        return [line for line in self.lines() if text in line["event"]]


@contextmanager
def json_logs(level: int = logging.DEBUG) -> Iterator[JsonLines]:
    """Every record reaching the root logger inside the block, rendered as `--log-format json` renders it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    handler.setLevel(level)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, root.level) if root.level else level)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

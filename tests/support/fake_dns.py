"""A DNS resolver for tests: answers from a table, no network. Change `answers` to play DNS rebinding."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

PUBLIC_V4 = "93.184.216.34"  # what example.com resolved to for years; never contacted by the tests
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeDns(AbstractResolver):
    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers: dict[str, list[str]] = dict(answers or {})
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(hostname=host, host=address, port=port,
                          family=socket.AF_INET6 if ":" in address else socket.AF_INET, proto=0, flags=0)
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        pass

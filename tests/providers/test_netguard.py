"""netguard: which addresses the server may connect to for a client, and the resolver that enforces it."""

from __future__ import annotations

import socket
from collections.abc import Iterable

import aiohttp
import pytest
from aiohttp.abc import ResolveResult

from tests.support.fake_dns import PUBLIC_V4, PUBLIC_V6, FakeDns
from tidings.providers.netguard import (
    PrivateAddressError,
    PublicResolver,
    check_url,
    is_private_literal,
    is_public,
    proxy_hosts,
    refusal,
)


def addresses(results: Iterable[ResolveResult]) -> list[str]:
    return [result["host"] for result in results]


class TestIsPublic:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1",  # loopback, private
            "169.254.169.254",  # link-local: the cloud metadata service
            "100.64.0.1",  # shared address space (CGNAT)
            "0.0.0.0", "255.255.255.255", "240.0.0.1",  # unspecified, broadcast, reserved
            "224.0.0.1", "239.1.2.3",  # multicast
            "192.0.0.8", "192.0.2.1", "198.18.0.1",  # IETF assignments, documentation, benchmarking
            "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1",
            "ff02::1", "ff0e::1", "2001:db8::1", "100::1",
            "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
            "::127.0.0.1",  # IPv4-compatible (deprecated)
            "2002:7f00:1::1",  # 6to4 of 127.0.0.1
            "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
            "2001::1",  # Teredo
            "not an address", "", "localhost",
        ],
    )
    def test_not_public(self, address: str) -> None:
        assert not is_public(address)

    @pytest.mark.parametrize(
        "address", [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]
    )
    def test_public(self, address: str) -> None:
        assert is_public(address)


class TestPrivateLiteral:
    @pytest.mark.parametrize(
        "url",
        ["https://127.0.0.1/p", "http://10.1.2.3:8080/p", "https://[::1]/p", "https://[::ffff:127.0.0.1]/p",
         "https://169.254.169.254/latest/meta-data"],
    )
    def test_private_literals(self, url: str) -> None:
        assert is_private_literal(url)

    @pytest.mark.parametrize(
        "url", [f"https://{PUBLIC_V4}/p", f"https://[{PUBLIC_V6}]/p", "https://localhost/p", "https://push.test/p"]
    )
    def test_public_literals_and_names_are_left_to_the_resolver(self, url: str) -> None:
        assert not is_private_literal(url)


class TestPublicResolver:
    async def test_keeps_only_the_public_answers(self) -> None:
        dns = FakeDns({"push.test": ["127.0.0.1", PUBLIC_V4, "10.0.0.1", PUBLIC_V6, "::1"]})
        assert addresses(await PublicResolver(dns).resolve("push.test", 443)) == [PUBLIC_V4, PUBLIC_V6]

    @pytest.mark.parametrize("answers", [["127.0.0.1"], ["10.0.0.1", "::1", "169.254.169.254"], []])
    async def test_refuses_a_name_with_no_public_answer(self, answers: list[str]) -> None:
        with pytest.raises(PrivateAddressError):
            await PublicResolver(FakeDns({"push.test": answers})).resolve("push.test", 443)

    async def test_rebinding_is_refused_on_the_next_resolution(self) -> None:
        dns = FakeDns({"push.test": [PUBLIC_V4]})
        guard = PublicResolver(dns)
        assert addresses(await guard.resolve("push.test", 443)) == [PUBLIC_V4]
        dns.answers["push.test"] = ["127.0.0.1"]
        with pytest.raises(PrivateAddressError):
            await guard.resolve("push.test", 443)

    async def test_ip_literals_are_judged_without_asking_dns(self) -> None:
        dns = FakeDns({})
        guard = PublicResolver(dns)
        assert addresses(await guard.resolve(PUBLIC_V4, 443)) == [PUBLIC_V4]
        with pytest.raises(PrivateAddressError):
            await guard.resolve("::ffff:127.0.0.1", 443)
        assert dns.asked == []

    async def test_resolution_failures_pass_through(self) -> None:
        with pytest.raises(socket.gaierror):
            await PublicResolver(FakeDns({})).resolve("nowhere.test", 443)

    async def test_proxies_are_exempt(self) -> None:
        dns = FakeDns({"proxy.internal": ["10.0.0.5"]})
        guard = PublicResolver(dns, exempt=proxy_hosts(["http://Proxy.Internal:3128", "socks5://"]))
        assert addresses(await guard.resolve("proxy.internal", 3128)) == ["10.0.0.5"]

    async def test_the_connector_connects_only_to_checked_addresses(self) -> None:
        # Through a real aiohttp session: the refusal surfaces as a connection error whose cause is ours, and
        # nothing listening on 127.0.0.1 is contacted.
        dns = FakeDns({"push.test": ["127.0.0.1"]})
        connector = aiohttp.TCPConnector(resolver=PublicResolver(dns))
        async with aiohttp.ClientSession(connector=connector) as http:
            with pytest.raises(aiohttp.ClientConnectionError) as info:
                await http.post("http://push.test:9/p")
        assert refusal(info.value) is not None
        assert refusal(aiohttp.ClientConnectionError("other")) is None


class TestCheckUrl:
    async def test_public_name(self) -> None:
        await check_url("https://push.test/p/1", FakeDns({"push.test": [PUBLIC_V4]}))

    @pytest.mark.parametrize(
        "url", ["https://127.0.0.1/p", "https://[::1]/p", "https://[::ffff:127.0.0.1]/p", "https://10.1.2.3:8443/p"]
    )
    async def test_private_literals(self, url: str) -> None:
        with pytest.raises(PrivateAddressError):
            await check_url(url, FakeDns({}))

    @pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1"])
    async def test_legacy_ipv4_forms_are_names_that_resolve_to_loopback(self, host: str) -> None:
        # The system resolver turns them into 127.0.0.1 (inet_aton rules), which the filter refuses.
        with pytest.raises(PrivateAddressError):
            await check_url(f"https://{host}/p")

    async def test_localhost_with_the_system_resolver(self) -> None:
        with pytest.raises(PrivateAddressError):
            await check_url("https://localhost/p")

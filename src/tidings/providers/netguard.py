"""Which network addresses the server may connect to on a client's behalf: one rule, and the resolver that applies it.

A browser's push subscription names the URL that Web Push delivery POSTs to. Unchecked, any client could make the
server call http://127.0.0.1:..., the cloud metadata service at 169.254.169.254 or a host on its private network
(server-side request forgery). So a Web Push endpoint's host must be public, and that is checked twice:

- at registration (web/beams/devices.py, with `check_url`): the client gets a clear 400;
- at every send, by `PublicResolver`, the resolver of the Web Push client's connector. It drops the answers that
  are not public and fails when none remain. aiohttp connects to exactly the addresses its resolver returned (and
  caches those), so a name that re-resolves to a private address after registration (DNS rebinding) is refused,
  never connected to. aiohttp does not ask the resolver about IP literals: `is_private_literal` covers those.

Behind an HTTP(S) proxy the proxy connects to the push service and resolves its name; the proxy's own host is
exempt here (it is the operator's), so filtering destinations is then the proxy's job.

`push_allow_private_networks` turns all of this off, for development and tests whose push services run on
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from tidings.errors import ProviderError

__all__ = [
    "REFUSED",
    "PrivateAddressError",
    "PublicResolver",
    "check_url",
    "is_private_literal",
    "is_public",
    "proxy_hosts",
    "refusal",
]

REFUSED = "push endpoint resolves to a private address"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not public although some Python versions' is_global says so (3.11 gets these wrong; 3.13 fixed most).
_NOT_GLOBAL = (
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: an IPv4 address behind NAT64


class PrivateAddressError(ProviderError, OSError):
    """The host is, or resolves only to, addresses that are not public. An OSError: what resolvers raise."""


def is_public(address: str | IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local, shared (CGNAT),
    unique-local, multicast, unspecified, reserved and documentation addresses, for IPv6 forms of those
    (IPv4-mapped, 6to4, NAT64), and for anything that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 address: judge it instead.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if ip.scope_id:  # fe80::1%eth0: only on one link
            return False
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return False
    return ip.is_global and not any(ip in network for network in _NOT_GLOBAL)


def is_private_literal(url: str) -> bool:
    """True when the URL's host is an IP address that is not public (host names are the resolver's to judge)."""
    try:
        host = urlsplit(url).hostname
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return not is_public(host or "")


def refusal(exc: BaseException) -> PrivateAddressError | None:
    """The PrivateAddressError behind an aiohttp connection error (it wraps what the resolver raised), if any."""
    seen: BaseException | None = exc
    for _ in range(8):  # aiohttp nests it one or two levels deep; a cycle must not loop forever
        if seen is None:
            return None
        if isinstance(seen, PrivateAddressError):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


class PublicResolver(AbstractResolver):
    """Resolves with `inner` (aiohttp's default resolver unless given) and keeps only the public answers.

    Raises PrivateAddressError when no public answer remains, and for an IP literal that is not public. Hosts in
    `exempt` (the configured proxies) are resolved without the filter.
    """

    def __init__(self, inner: AbstractResolver | None = None, *, exempt: Iterable[str] = ()) -> None:
        self._inner = inner
        self._owns_inner = inner is None
        self._exempt = frozenset(host.lower().rstrip(".") for host in exempt)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not is_public(literal):
                raise PrivateAddressError(f"{host} is not a public address")
            return [_literal_result(host, port, literal)]
        if self._inner is None:
            self._inner = DefaultResolver()  # made here: it binds to the running event loop
        answers = await self._inner.resolve(host, port, family)
        if host.lower().rstrip(".") in self._exempt:
            return answers
        public = [answer for answer in answers if is_public(answer["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        if self._owns_inner and self._inner is not None:
            await self._inner.close()


async def check_url(url: str, resolver: AbstractResolver | None = None) -> None:
    """Raise PrivateAddressError unless the URL's host is a public address or resolves to at least one.

    The host and port are read as aiohttp will read them when sending (IDNA host names, default ports).
    Resolution failures raise what the resolver raised (an OSError, e.g. socket.gaierror for an unknown name).
    """
    parsed = yarl.URL(url)
    host = parsed.raw_host
    if not host:
        raise PrivateAddressError("the URL has no host")
    guard = PublicResolver(resolver)
    try:
        await guard.resolve(host, parsed.port or 0, family=socket.AF_UNSPEC)
    finally:
        await guard.close()


def proxy_hosts(proxies: Iterable[str]) -> list[str]:
    """The host names of proxy URLs (urllib.request.getproxies() values), for PublicResolver's `exempt`."""
    hosts = []
    for proxy in proxies:
        try:
            host = urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname
        except ValueError:
            continue
        if host:
            hosts.append(host)
    return hosts


def _literal_result(host: str, port: int, ip: IPAddress) -> ResolveResult:
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return ResolveResult(hostname=host, host=host, port=port, family=family, proto=0,
                         flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)

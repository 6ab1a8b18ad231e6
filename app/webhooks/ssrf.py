"""SSRF guard for outgoing webhook deliveries.

Subscribers give us URLs; without a guard an endpoint could point the service at its own
admin port, a database on the private network or the cloud metadata service. Two layers:

* ``check_url`` at registration: static checks (scheme, credentials, IP-literal hosts) so an
  operator gets an immediate, readable refusal.
* ``GuardedTransport`` at every connection: resolves the host, refuses if *any* answer is a
  forbidden address and connects to the checked address itself, because a hostname that was
  harmless at registration can later resolve anywhere (DNS rebinding).

Private networks are refused by default but an operator may allow specific networks
(provincial data centres host subscribers on private addresses).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UrlRefused(ValueError):
    """A webhook URL or the address it resolves to is not allowed; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SsrfPolicy:
    """What deliveries may reach. The default refuses everything non-public and plain HTTP."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_http: bool = False

    @classmethod
    def from_strings(cls, cidrs: Iterable[str], allow_http: bool = False) -> SsrfPolicy:
        networks: list[IPNetwork] = []
        for raw in cidrs:
            text = raw.strip()
            if not text:
                continue
            try:
                # strict=True: "10.0.0.1/8" is almost always a typo for "10.0.0.0/8" or
                # "10.0.0.1/32"; guessing either way could open far more than intended.
                networks.append(ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"invalid allowed network {raw!r}: expected a CIDR such as "
                    f"'10.20.0.0/16' or 'fd12:3456::/48' with no host bits set ({exc})"
                ) from exc
        return cls(allowed_networks=tuple(networks), allow_http=allow_http)


# Cloud metadata endpoints hand out instance credentials. They stay refused even when an
# allowed network happens to cover them (e.g. an operator allowing fc00::/7 for a ULA data
# centre must not thereby expose AWS's fd00:ec2::254): no subscriber legitimately lives there.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)

# Explicit ranges with readable reasons; anything else that Python does not consider globally
# routable is caught by the final ``is_global`` check.
_NAMED_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "an unspecified/'this network' address"),  # 0.0.0.0 reaches localhost
        ("127.0.0.0/8", "a loopback address"),
        ("::1/128", "a loopback address"),
        ("::/128", "an unspecified address"),
        ("169.254.0.0/16", "a link-local address"),
        ("fe80::/10", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("ff00::/8", "a multicast address"),
        ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
        ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
        ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
        ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("fc00::/7", "a private (unique local) IPv6 address (fc00::/7)"),
        ("fec0::/10", "a site-local IPv6 address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

# IPv6 forms that carry an IPv4 address the packet may end up at; the embedded address is
# judged as well so ::ffff:127.0.0.1 or 64:ff9b::a00:1 cannot sneak past the IPv4 rules.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def _is_allowed(ip: IPAddress, policy: SsrfPolicy) -> bool:
    return any(ip.version == net.version and ip in net for net in policy.allowed_networks)


def is_refused_address(ip: IPAddress | str, policy: SsrfPolicy) -> str | None:
    """Why deliveries may not go to ``ip`` under ``policy``, or ``None`` if they may."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        # fe80::1%eth0 → compare the bare address; the zone does not change what it is.
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])

    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)

    for candidate in candidates:
        if candidate in _METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address"

    # An address (or its embedded IPv4) inside an operator-listed network is trusted.
    if any(_is_allowed(candidate, policy) for candidate in candidates):
        return None

    for candidate in candidates:
        for network, reason in _NAMED_RANGES:
            if candidate.version == network.version and candidate in network:
                return f"{address} is {reason}"
    # For IPv6 wrappers of IPv4 (::ffff:8.8.8.8, 64:ff9b::8.8.8.8) the packet's real
    # destination is the embedded address; Python classifies the wrapper prefixes themselves
    # as non-global/reserved, which would wrongly refuse public targets.
    destination = candidates[-1]
    if not destination.is_global or destination.is_reserved or destination.is_multicast:
        return f"{address} is not a public, globally routable address"
    return None


# Hosts like "2130706433", "0x7f.1" or "127.1" are not IP literals to ``ipaddress`` but the C
# resolver (inet_aton) turns them into addresses. Legitimate subscribers never use them.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]*))*\.?$", re.I)


def _parse_ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, policy: SsrfPolicy) -> None:
    """Registration-time check; raises ``UrlRefused``. Hostnames are re-checked per connection."""
    try:
        parsed = httpx.URL(url)  # the same parser the delivery client uses: no parser confusion
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from exc

    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"scheme {parsed.scheme or '(none)'!r} is not allowed; use https")
    if parsed.scheme == "http" and not policy.allow_http:
        raise UrlRefused("plain http is not allowed; use https")
    if parsed.userinfo:
        # Credentials in URLs leak into logs and attempt records; subscribers authenticate
        # deliveries through the webhook signature instead.
        raise UrlRefused("credentials (user:password@) in the URL are not allowed")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UrlRefused("the URL has no host")

    ip = _parse_ip_literal(host)
    if ip is not None:
        reason = is_refused_address(ip, policy)
        if reason is not None:
            raise UrlRefused(reason)
    elif _NUMERIC_HOST.match(host):
        raise UrlRefused(f"ambiguous numeric host {host!r}; write a dotted-quad IP or a name")


async def resolve_and_check(host: str, port: int, policy: SsrfPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if ANY of them is forbidden.

    Refusing on any (rather than filtering) matters: a name that answers both a public and a
    private address is either misconfigured or a rebinding attempt. Connect only to the
    returned addresses; resolving again would reopen the rebinding window. DNS failures are
    raised as ``OSError`` (``socket.gaierror``): they are transient, not a policy refusal.
    """
    literal = _parse_ip_literal(host.strip("[]"))
    if literal is not None:
        infos_addresses = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        infos_addresses = [str(info[4][0]) for info in infos]
    addresses = list(dict.fromkeys(infos_addresses))  # de-duplicate, keep resolver order
    if not addresses:
        raise OSError(f"{host!r} did not resolve to any address")
    for address in addresses:
        reason = is_refused_address(address, policy)
        if reason is not None:
            raise UrlRefused(f"{host} resolves to {reason}" if literal is None else reason)
    return addresses


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request's destination before connecting.

    TOCTOU: if we only checked and then forwarded the original URL, httpcore would resolve the
    name a second time, and a rebinding DNS server (TTL 0, alternating answers) could return a
    public address to us and 127.0.0.1 to httpcore. We close that gap by *pinning*: the
    request forwarded to ``inner`` targets the checked IP literal, while the ``Host`` header
    keeps the original name and the ``sni_hostname`` extension makes httpcore do SNI and
    certificate verification against the original name. No second DNS lookup happens.

    Remaining caveats, accepted:
    * Connection pools key on (scheme, IP, port), so two HTTPS subscribers whose names resolve
      to the same IP (shared reverse proxy) may share a kept-alive connection negotiated for
      the other name. The peer is still a verified server at an address we checked; at worst
      it answers 421 Misdirected Request, a delivery failure that is retried.
    * ``inner`` must not use a proxy: the proxy would do its own resolution, outside this
      guard. (httpx ignores proxy environment variables when a transport is given.)
    * Redirects: each hop goes through this transport again, so every hop is checked.
    """

    def __init__(
        self, inner: httpx.AsyncHTTPTransport | None = None, policy: SsrfPolicy | None = None
    ) -> None:
        self._inner: httpx.AsyncBaseTransport = inner or httpx.AsyncHTTPTransport()
        self._policy = policy or SsrfPolicy()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        check_url(str(url), self._policy)
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)

        timeout = request.extensions.get("timeout", {}).get("connect")
        try:
            # httpx's connect timeout does not cover our own lookup; apply it here so a slow
            # resolver cannot stall a delivery worker forever.
            async with asyncio.timeout(timeout):
                addresses = await resolve_and_check(host, port, self._policy)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"resolving {host!r} timed out", request=request) from exc
        except UrlRefused:
            raise
        except OSError as exc:
            # Surface DNS failures as ordinary connect errors so the dispatcher retries them
            # like any other network failure.
            raise httpx.ConnectError(f"cannot resolve {host!r}: {exc}", request=request) from exc

        if _parse_ip_literal(host) is not None:
            return await self._inner.handle_async_request(request)

        last_error: httpx.ConnectError | None = None
        for address in addresses:  # try each checked address, like happy-eyeballs fallback
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=address),
                headers=request.headers,  # already carries Host: <original name>
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:
                # Nothing was sent yet, so retrying on the next address is safe.
                last_error = exc
        assert last_error is not None
        raise httpx.ConnectError(str(last_error), request=request) from last_error

    async def aclose(self) -> None:
        await self._inner.aclose()

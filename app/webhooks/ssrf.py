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
import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx
import idna

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


MAX_URL_LENGTH = 2048
_MAX_HOST_LENGTH = 253  # RFC 1035: 255 octets on the wire, 253 characters written out
_MAX_LABEL_LENGTH = 63
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

# RFC 6761 §6.3: "localhost" and every name under it are loopback, whatever a resolver says;
# the others are the loopback names Linux distributions put in /etc/hosts. Judged by name, with
# no DNS lookup, so a resolver (or /etc/hosts) pointing them elsewhere changes nothing.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Cloud metadata services by name (GCP, AWS). Always refused, like their addresses.
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_LOOPBACK_ADDRESSES: tuple[IPAddress, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)


@dataclass(frozen=True)
class CheckedUrl:
    """What ``check_url`` found: the host as connected to (IDNA A-label or IP) and the port."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None


def _canonical_name(host: str) -> str:
    """Lower-case, without the one trailing dot that makes a name absolute."""
    name = host.lower()
    return name[:-1] if name.endswith(".") else name


def name_refusal(host: str, policy: SsrfPolicy) -> str | None:
    """Why ``host`` (a DNS name, not an IP) is refused by name alone, or ``None``."""
    name = _canonical_name(host)
    if name in _METADATA_NAMES:
        return f"{host} is a cloud metadata name"
    if is_loopback_name(name) and not _loopback_allowed(policy):
        return f"{host} resolves to a loopback address by definition (RFC 6761)"
    return None


def is_loopback_name(host: str) -> bool:
    name = _canonical_name(host)
    return name in _LOOPBACK_NAMES or name.endswith(".localhost")


def _loopback_allowed(policy: SsrfPolicy) -> list[str]:
    return [str(ip) for ip in _LOOPBACK_ADDRESSES if is_refused_address(ip, policy) is None]


def _check_name(host: str) -> str:
    """The IDNA 2008 A-label form of a host name; raises ``UrlRefused`` if it is not one."""
    if len(host) > _MAX_HOST_LENGTH + 1:
        raise UrlRefused(f"the host name is longer than {_MAX_HOST_LENGTH} characters")
    body = host[:-1] if host.endswith(".") else host
    labels = body.split(".")
    if any(not label for label in labels):
        raise UrlRefused(f"host {host!r} has an empty label (two dots in a row?)")
    for label in labels:
        if len(label) > _MAX_LABEL_LENGTH:
            raise UrlRefused(f"host label {label[:20]!r}… is longer than 63 characters")
    try:
        # UTS 46 mapping (case folding, full-width dots) as browsers do, then IDNA 2008 rules;
        # A-labels ("xn--…") are decoded and re-checked, so a malformed one is refused.
        encoded = idna.encode(body, uts46=True).decode("ascii")
        for label in encoded.split("."):
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise UrlRefused(f"host {host!r} is not a valid internationalised name ({exc})") from None
    if len(encoded) > _MAX_HOST_LENGTH:
        raise UrlRefused(f"the host name is longer than {_MAX_HOST_LENGTH} characters")
    for label in encoded.split("."):
        if len(label) > _MAX_LABEL_LENGTH:
            raise UrlRefused(f"host label {label[:20]!r}… is longer than 63 characters")
        if not _LDH_LABEL.match(label):
            raise UrlRefused(
                f"host {host!r} may hold only letters, digits and inner hyphens in each label"
            )
    return encoded + ("." if host.endswith(".") else "")


def check_url(url: str, policy: SsrfPolicy) -> CheckedUrl:
    """Registration-time check; raises ``UrlRefused``. Hostnames are re-checked per connection.

    Never raises anything else: every malformed input is a refusal with a readable reason.
    The verdict depends only on the URL and the policy, so accepted URLs are remembered: the
    transport asks again for every request of every delivery.
    """
    if not isinstance(url, str):
        raise UrlRefused("the URL must be a string")
    return _check_url(url, policy)


@functools.lru_cache(maxsize=4096)
def _check_url(url: str, policy: SsrfPolicy) -> CheckedUrl:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) <= 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in url):
        # Spaces, NUL and control characters have no place in a URL (RFC 3986); parsers
        # disagree on whether to strip, keep or reject them.
        raise UrlRefused("the URL contains a space, NUL or control character")
    try:
        split = urlsplit(url)
        port = split.port  # raises for a non-numeric or out-of-range port
        netloc = split.netloc
        parsed = httpx.URL(url)  # the same parser the delivery client uses: no parser confusion
    except (httpx.InvalidURL, TypeError, ValueError, UnicodeError) as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None

    scheme = split.scheme.lower()
    if scheme not in ("http", "https") or parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"scheme {split.scheme or '(none)'!r} is not allowed; use https")
    if scheme == "http" and not policy.allow_http:
        raise UrlRefused("plain http is not allowed; use https")
    if parsed.userinfo or "@" in netloc or ("\\" in url and "@" in url):
        # Credentials in URLs leak into logs and attempt records; subscribers authenticate
        # deliveries through the webhook signature instead. A backslash is where parsers
        # disagree about the authority ("https://a.com\\@b.com/").
        raise UrlRefused("credentials (user:password@) in the URL are not allowed")
    if "\\" in url:
        raise UrlRefused("the URL contains a backslash; parsers disagree on what it means")
    if port is not None and port == 0:
        raise UrlRefused("port 0 is not a valid destination")
    if port is not None and parsed.port not in (port, None):
        raise UrlRefused("the URL's port is ambiguous")

    raw = split.hostname if split.hostname is not None else ""
    if not raw:
        raise UrlRefused("the URL has no host")
    try:
        host = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeError:
        raise UrlRefused(f"host {raw!r} percent-encodes bytes that are not UTF-8") from None
    percent_encoded = host != raw
    if any(ord(ch) <= 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in host):
        raise UrlRefused("the host contains a space, NUL or control character")

    default_port = 443 if scheme == "https" else 80
    ip = _parse_ip_literal(host.strip("[]"))
    if ip is not None:
        reason = is_refused_address(ip, policy)
        if reason is not None:
            raise UrlRefused(reason)
    elif _NUMERIC_HOST.match(host):
        raise UrlRefused(f"ambiguous numeric host {host!r}; write a dotted-quad IP or a name")
    else:
        if ":" in host or "[" in host or "]" in host:
            raise UrlRefused(f"host {host!r} is neither an IP address nor a name")
        host = _check_name(host)
        reason = name_refusal(host, policy)
        if reason is not None:
            raise UrlRefused(reason)
    if percent_encoded:
        # Judged as decoded above (so %31%32%37.0.0.1 is refused as loopback); a harmless one
        # is still refused, because resolvers and proxies disagree on decoding it.
        raise UrlRefused(f"percent-encoded host {raw!r}; write it as {host!r}")
    return CheckedUrl(scheme=scheme, host=host, port=port or default_port, ip=ip)


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
        reason = name_refusal(host, policy)
        if reason is not None:
            raise UrlRefused(reason)
        if is_loopback_name(host):
            # Loopback by definition and allowed: pinned to the allowed loopback addresses
            # without asking a resolver, which could map "localhost" anywhere.
            return _loopback_allowed(policy)
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

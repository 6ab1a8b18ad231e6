"""SSRF guard: address table, URL checks, resolution and the httpx transport end to end."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.webhooks.ssrf import (
    GuardedTransport,
    SsrfPolicy,
    UrlRefused,
    check_url,
    is_refused_address,
    resolve_and_check,
)

DEFAULT = SsrfPolicy()
LOOPBACK_OK = SsrfPolicy.from_strings(["127.0.0.0/8", "::1/128"], allow_http=True)


# --- address table ---------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("10.0.0.1", "10.0.0.0/8"),
    ("10.255.255.255", "10.0.0.0/8"),
    ("172.16.0.1", "172.16.0.0/12"),
    ("172.31.255.255", "172.16.0.0/12"),
    ("192.168.1.10", "192.168.0.0/16"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fec0::1", "site-local"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "not a public"),  # documentation
    ("198.18.0.1", "not a public"),  # benchmarking
    ("2001:db8::1", "not a public"),  # documentation
    # IPv6 spellings of forbidden IPv4 addresses
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "10.0.0.0/8"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:192.168.0.1", "192.168.0.0/16"),
    ("64:ff9b::10.0.0.1", "10.0.0.0/8"),  # NAT64
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("::127.0.0.1", "loopback"),  # deprecated IPv4-compatible
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "203.162.4.190",
    "172.32.0.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_refused_addresses(address: str, why: str) -> None:
    reason = is_refused_address(address, DEFAULT)
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert is_refused_address(address, DEFAULT) is None
    assert is_refused_address(ipaddress.ip_address(address), DEFAULT) is None


@given(st.integers(min_value=0, max_value=2**24 - 1))
def test_any_10_slash_8_address_is_refused_by_default(offset: int) -> None:
    address = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.0")) + offset)
    assert is_refused_address(address, DEFAULT) is not None
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert is_refused_address(mapped, DEFAULT) is not None


# --- allow-list ------------------------------------------------------------------------------


def test_allowed_network_lets_only_itself_through() -> None:
    policy = SsrfPolicy.from_strings(["127.0.0.0/8"], allow_http=False)
    assert is_refused_address("127.0.0.1", policy) is None
    assert is_refused_address("::ffff:127.0.0.1", policy) is None  # same destination
    assert is_refused_address("10.0.0.1", policy) is not None
    assert is_refused_address("::1", policy) is not None  # IPv6 loopback not listed


def test_provincial_private_network_allowed() -> None:
    policy = SsrfPolicy.from_strings([" 10.20.0.0/16 ", "fd12::/16", ""], allow_http=False)
    assert is_refused_address("10.20.3.4", policy) is None
    assert is_refused_address("fd12::7", policy) is None
    assert is_refused_address("10.21.0.1", policy) is not None


def test_metadata_stays_refused_under_a_broad_allow_list() -> None:
    policy = SsrfPolicy.from_strings(["169.254.0.0/16", "fc00::/7"], allow_http=False)
    assert is_refused_address("169.254.1.1", policy) is None
    assert "metadata" in (is_refused_address("169.254.169.254", policy) or "")
    assert "metadata" in (is_refused_address("fd00:ec2::254", policy) or "")


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "not-a-network", "10.0.0.0/33", "fd00::/129"])
def test_bad_cidr_is_a_clear_value_error(cidr: str) -> None:
    with pytest.raises(ValueError, match="invalid allowed network") as info:
        SsrfPolicy.from_strings(["10.0.0.0/8", cidr], allow_http=False)
    assert not isinstance(info.value, UrlRefused)
    assert cidr in str(info.value)


# --- registration-time URL checks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "plain http"),
        ("ftp://example.com/hook", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("example.com/hook", "scheme"),
        ("https:///hook", "no host"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
        ("https://example.com\\@evil.test/", "credentials"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]:8443/hook", "loopback"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://10.1.2.3/hook", "10.0.0.0/8"),
        ("https://2130706433/", "numeric"),
        ("https://0x7f.1/", "numeric"),
        ("https://127.1/", "numeric"),
        # Names that are loopback or metadata by definition, judged without DNS (RFC 6761).
        ("https://localhost/hook", "loopback"),
        ("https://LOCALHOST./hook", "loopback"),
        ("https://api.localhost/hook", "loopback"),
        ("https://api.localhost./hook", "loopback"),
        ("https://localhost.localdomain/hook", "loopback"),
        ("https://localhost.localdomain./hook", "loopback"),
        ("https://ip6-localhost/hook", "loopback"),
        ("https://ip6-loopback./hook", "loopback"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://metadata.google.internal./computeMetadata/v1/", "metadata"),
        ("https://metadata/computeMetadata/v1/", "metadata"),
        ("https://metadata./", "metadata"),
        ("https://instance-data/latest/meta-data/", "metadata"),
        ("https://instance-data.ec2.internal./latest/", "metadata"),
        ("https://metadata.goog/", "metadata"),
    ],
)
def test_check_url_refuses(url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        check_url(url, DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/recon",
        "https://hooks.example.com:8443/recon?x=1",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://bücher.example/hook",
        "https://bücher.example./hook",  # an absolute name (trailing dot)
    ],
)
def test_check_url_accepts(url: str) -> None:
    check_url(url, DEFAULT)


@pytest.mark.parametrize(
    "host", ["localhost", "localhost.", "a.b.localhost", "localhost.localdomain", "ip6-loopback"]
)
def test_loopback_names_allowed_only_with_the_loopback_network(host: str) -> None:
    check_url(f"http://{host}:9000/hook", LOOPBACK_OK)
    with pytest.raises(UrlRefused, match="loopback"):
        check_url(f"http://{host}:9000/hook", SsrfPolicy(allow_http=True))
    # Another private network listed does not open loopback.
    with pytest.raises(UrlRefused, match="loopback"):
        check_url(f"http://{host}:9000/hook", SsrfPolicy.from_strings(["10.0.0.0/8"], True))


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "metadata.google.internal.", "metadata", "instance-data"]
)
def test_metadata_names_refused_even_when_everything_is_allowed(host: str) -> None:
    everything = SsrfPolicy.from_strings(["0.0.0.0/0", "::/0"], allow_http=True)
    with pytest.raises(UrlRefused, match="metadata"):
        check_url(f"http://{host}/", everything)


async def test_names_are_judged_before_any_dns_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_getaddrinfo(monkeypatch, [["8.8.8.8"]])  # a resolver lying about them
    for host in ("localhost", "api.localhost.", "ip6-localhost"):
        with pytest.raises(UrlRefused, match="loopback"):
            await resolve_and_check(host, 443, DEFAULT)
    with pytest.raises(UrlRefused, match="metadata"):
        await resolve_and_check("metadata.google.internal.", 443, LOOPBACK_OK)
    # Allowed loopback by name is pinned to the allowed loopback addresses, not resolved.
    assert await resolve_and_check("localhost", 443, LOOPBACK_OK) == ["127.0.0.1", "::1"]
    only_v4 = SsrfPolicy.from_strings(["127.0.0.0/8"])
    assert await resolve_and_check("x.localhost", 443, only_v4) == ["127.0.0.1"]
    assert calls == []


async def test_transport_refuses_names_at_connection_time() -> None:
    everything = SsrfPolicy.from_strings(["0.0.0.0/0"], allow_http=True)
    async with httpx.AsyncClient(transport=GuardedTransport(None, everything)) as client:
        with pytest.raises(UrlRefused, match="metadata"):
            await client.get("http://metadata.google.internal./computeMetadata/v1/")
    async with httpx.AsyncClient(
        transport=GuardedTransport(None, SsrfPolicy(allow_http=True))
    ) as c:
        with pytest.raises(UrlRefused, match="loopback"):
            await c.get("http://api.localhost:9/")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com:99999/",
        "https://[/",
        "https://a..b.example.com/",
        f"https://{'a' * 64}.example.com/",
        "https://exa mple.com/",
        "https://xn--/",
        "https://%31%32%37.0.0.1/",
        "https://example.com/\x00",
        "https://example.com/" + "x" * 2100,
        "https://u:p@example.com/",
    ],
)
def test_junk_is_a_refusal_never_another_exception(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, LOOPBACK_OK)


@given(st.text(max_size=80))
def test_check_url_raises_only_refusals(tail: str) -> None:
    for prefix in ("https://", "https://[", "https://a.com:", "https://a.com/", ""):
        with contextlib.suppress(UrlRefused):
            check_url(prefix + tail, LOOPBACK_OK)


def test_http_only_when_allowed() -> None:
    policy = SsrfPolicy(allow_http=True)
    check_url("http://hooks.example.com/recon", policy)
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://127.0.0.1/recon", policy)
    check_url("http://127.0.0.1:9000/recon", LOOPBACK_OK)


# --- connect-time resolution ------------------------------------------------------------------


async def test_localhost_is_refused_after_resolution() -> None:
    with pytest.raises(UrlRefused, match=r"localhost resolves to .*loopback"):
        await resolve_and_check("localhost", 443, DEFAULT)


async def test_localhost_allowed_when_loopback_listed() -> None:
    addresses = await resolve_and_check("localhost", 443, LOOPBACK_OK)
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)


async def test_ip_literal_needs_no_dns() -> None:
    assert await resolve_and_check("8.8.8.8", 443, DEFAULT) == ["8.8.8.8"]
    assert await resolve_and_check("[2606:4700:4700::1111]", 443, DEFAULT) == [
        "2606:4700:4700::1111"
    ]


def _fake_getaddrinfo(monkeypatch: pytest.MonkeyPatch, answers: list[list[str]]) -> list[str]:
    """Make the running loop's resolver return ``answers`` in turn; returns the call log."""
    loop = asyncio.get_running_loop()
    calls: list[str] = []

    async def fake(host: str, port: int, **_: Any) -> list[Any]:
        calls.append(host)
        batch = answers[min(len(calls), len(answers)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, port),
            )
            for a in batch
        ]

    monkeypatch.setattr(loop, "getaddrinfo", fake)
    return calls


async def test_any_forbidden_answer_refuses_the_whole_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_getaddrinfo(monkeypatch, [["93.184.216.34", "10.0.0.5"]])
    with pytest.raises(UrlRefused, match=re.escape("10.0.0.0/8")):
        await resolve_and_check("mixed.example", 443, DEFAULT)


async def test_dns_failure_is_os_error_not_refusal() -> None:
    with pytest.raises(OSError) as info:
        await resolve_and_check("does-not-exist.invalid", 443, DEFAULT)
    assert not isinstance(info.value, UrlRefused)


# --- GuardedTransport -------------------------------------------------------------------------


class RecordingTransport(httpx.AsyncHTTPTransport):
    """Stands in for the network: records what would have been sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


async def test_rebinding_cannot_switch_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # First answer public, any later answer loopback: a classic TTL-0 rebinding server.
    calls = _fake_getaddrinfo(monkeypatch, [["93.184.216.34"], ["127.0.0.1"]])
    inner = RecordingTransport()
    async with httpx.AsyncClient(transport=GuardedTransport(inner, DEFAULT)) as client:
        response = await client.post("https://rebind.example/hook", content=b"{}")
    assert response.status_code == 204
    assert response.request.url.host == "rebind.example"
    assert calls == ["rebind.example"]  # resolved once, by us
    sent = inner.requests[0]
    assert sent.url.host == "93.184.216.34"  # connected to the checked address
    assert sent.headers["host"] == "rebind.example"
    assert sent.extensions["sni_hostname"] == "rebind.example"  # TLS verifies the real name


async def test_transport_refuses_disallowed_scheme_and_userinfo() -> None:
    inner = RecordingTransport()
    transport = GuardedTransport(inner, DEFAULT)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(UrlRefused, match="plain http"):
            await client.get("http://hooks.example.com/")
        with pytest.raises(UrlRefused, match="credentials"):
            await client.get("https://u:p@hooks.example.com/")
    assert inner.requests == []


async def test_transport_dns_failure_is_connect_error() -> None:
    async with httpx.AsyncClient(transport=GuardedTransport(RecordingTransport(), DEFAULT)) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("https://does-not-exist.invalid/")


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A minimal HTTP/1.1 responder on 127.0.0.1 that records request heads."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, heads


async def test_real_server_reachable_when_loopback_allowed(
    local_server: tuple[int, list[bytes]],
) -> None:
    port, heads = local_server
    policy = SsrfPolicy.from_strings(["127.0.0.0/8"], allow_http=True)
    async with httpx.AsyncClient(transport=GuardedTransport(None, policy), timeout=2) as client:
        response = await client.post(f"http://127.0.0.1:{port}/hook", content=b'{"a":1}')
    assert response.status_code == 200
    assert response.text == "ok"
    assert heads[0].startswith(b"POST /hook HTTP/1.1")


async def test_real_server_by_name_keeps_host_header(
    local_server: tuple[int, list[bytes]],
) -> None:
    # "localhost" may answer ::1 first; nothing listens there, so this also exercises the
    # fallback to the next checked address.
    port, heads = local_server
    async with httpx.AsyncClient(transport=GuardedTransport(None, LOOPBACK_OK), timeout=2) as c:
        response = await c.get(f"http://localhost:{port}/hook")
    assert response.status_code == 200
    assert f"host: localhost:{port}".encode() in heads[0].lower()


async def test_real_server_refused_when_loopback_not_allowed(
    local_server: tuple[int, list[bytes]],
) -> None:
    port, heads = local_server
    policy = SsrfPolicy(allow_http=True)
    async with httpx.AsyncClient(transport=GuardedTransport(None, policy), timeout=2) as client:
        with pytest.raises(UrlRefused, match="loopback"):
            await client.get(f"http://127.0.0.1:{port}/hook")
        with pytest.raises(UrlRefused, match="loopback"):
            await client.get(f"http://localhost:{port}/hook")
    assert heads == []  # nothing ever reached the server

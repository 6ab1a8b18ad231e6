"""Delivery attempts: retry schedule, outcome classification, signed headers, real HTTP."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from app.webhooks.sending import (
    DEFAULT_SCHEDULE,
    RESPONSE_EXCERPT_BYTES,
    USER_AGENT,
    AttemptResult,
    attempt_delivery,
    build_client,
    next_attempt_delay,
    parse_retry_after,
)
from app.webhooks.signing import generate_secret
from app.webhooks.ssrf import SsrfPolicy

URL = "https://hooks.example.com/recon"
SECRET = generate_secret()
BODY = json.dumps(
    {"type": "mismatch.opened", "data": {"agency": "Sở Tài chính Đắk Lắk", "amount": 1500000}},
    ensure_ascii=False,
).encode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC)


async def _attempt(
    client: httpx.AsyncClient, url: str = URL, *, msg_id: str = "msg_01", deadline: float = 15.0
) -> AttemptResult:
    return await attempt_delivery(
        client, url, msg_id=msg_id, timestamp=_now(), body=BODY, secrets=[SECRET], timeout=deadline
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- schedule --------------------------------------------------------------------------------


def test_default_schedule() -> None:
    expected = (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    )
    assert expected == DEFAULT_SCHEDULE


@pytest.mark.parametrize("attempts", range(1, len(DEFAULT_SCHEDULE) + 1))
def test_without_jitter_follows_schedule(attempts: int) -> None:
    delay = next_attempt_delay(attempts, DEFAULT_SCHEDULE, retry_after=None, jitter=0)
    assert delay == DEFAULT_SCHEDULE[attempts - 1]


@pytest.mark.parametrize("attempts", [8, 9, 100])
def test_exhausted_schedule_returns_none(attempts: int) -> None:
    assert next_attempt_delay(attempts, DEFAULT_SCHEDULE, retry_after=None) is None
    # Retry-After never extends the schedule past its end.
    assert next_attempt_delay(attempts, DEFAULT_SCHEDULE, retry_after=30) is None


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="attempt_number"):
        next_attempt_delay(0, DEFAULT_SCHEDULE, retry_after=None)
    with pytest.raises(ValueError, match="jitter"):
        next_attempt_delay(1, DEFAULT_SCHEDULE, retry_after=None, jitter=1.5)


@given(
    attempts=st.integers(min_value=1, max_value=len(DEFAULT_SCHEDULE)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_always_within_twenty_percent(attempts: int, seed: int) -> None:
    delay = next_attempt_delay(
        attempts, DEFAULT_SCHEDULE, retry_after=None, rng=random.Random(seed)
    )
    assert delay is not None
    base = DEFAULT_SCHEDULE[attempts - 1].total_seconds()
    assert 0.8 * base <= delay.total_seconds() <= 1.2 * base


def test_jitter_actually_spreads() -> None:
    rng = random.Random(7)
    delays = {next_attempt_delay(2, DEFAULT_SCHEDULE, retry_after=None, rng=rng) for _ in range(20)}
    assert len(delays) > 10


def test_retry_after_longer_than_schedule_is_honoured() -> None:
    delay = next_attempt_delay(1, DEFAULT_SCHEDULE, retry_after=120, jitter=0)
    assert delay == timedelta(seconds=120)


def test_retry_after_shorter_than_schedule_does_not_shorten_it() -> None:
    delay = next_attempt_delay(3, DEFAULT_SCHEDULE, retry_after=10, jitter=0)
    assert delay == timedelta(minutes=30)


def test_retry_after_is_clamped_to_cap() -> None:
    week = timedelta(days=7).total_seconds()
    assert next_attempt_delay(1, DEFAULT_SCHEDULE, retry_after=week, jitter=0) == timedelta(hours=1)
    custom = next_attempt_delay(
        1, DEFAULT_SCHEDULE, retry_after=week, jitter=0, retry_after_cap=timedelta(minutes=10)
    )
    assert custom == timedelta(minutes=10)
    # The cap limits Retry-After, not the schedule itself.
    assert next_attempt_delay(6, DEFAULT_SCHEDULE, retry_after=week, jitter=0) == timedelta(
        hours=10
    )


@pytest.mark.parametrize("bogus", [float("nan"), float("inf"), -5.0, 0.0])
def test_unusable_retry_after_is_ignored(bogus: float) -> None:
    delay = next_attempt_delay(1, DEFAULT_SCHEDULE, retry_after=bogus, jitter=0)
    assert delay == timedelta(seconds=5)


@given(
    attempts=st.integers(min_value=1, max_value=len(DEFAULT_SCHEDULE)),
    retry_after=st.floats(min_value=0.001, max_value=10**7),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_after_bounds(attempts: int, retry_after: float, seed: int) -> None:
    delay = next_attempt_delay(
        attempts, DEFAULT_SCHEDULE, retry_after=retry_after, rng=random.Random(seed)
    )
    assert delay is not None
    base = DEFAULT_SCHEDULE[attempts - 1].total_seconds()
    seconds = delay.total_seconds()
    assert seconds >= 0.8 * base - 1e-6
    assert seconds >= min(retry_after, 3600) - 1e-6
    assert seconds <= max(1.2 * base, 3600) + 1e-6


def test_parse_retry_after() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now=now) == 0.0  # in the past
    for junk in (None, "", "soon", "-5", "1.5", "٣"):
        assert parse_retry_after(junk) is None


# --- outcomes (respx) ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
@respx.mock
async def test_2xx_is_delivered(client: httpx.AsyncClient, status: int) -> None:
    respx.post(URL).respond(status, text="thanks" if status != 204 else "")
    result = await _attempt(client)
    assert result.outcome == "delivered"
    assert result.status_code == status
    assert result.error is None
    assert result.retry_after is None
    assert result.duration_ms >= 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@respx.mock
async def test_redirect_is_a_failure_and_not_followed(
    client: httpx.AsyncClient, status: int
) -> None:
    target = respx.post("https://elsewhere.example.com/").respond(200)
    respx.post(URL).respond(status, headers={"location": "https://elsewhere.example.com/"})
    # A client that would follow redirects must still not follow them for deliveries.
    async with httpx.AsyncClient(follow_redirects=True) as following:
        for c in (client, following):
            result = await _attempt(c)
            assert result.outcome == "retry"
            assert result.status_code == status
            assert result.error is not None
            assert "not followed" in result.error
            assert "elsewhere.example.com" in result.error
    assert not target.called


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 502, 503])
@respx.mock
async def test_other_errors_are_retried(client: httpx.AsyncClient, status: int) -> None:
    respx.post(URL).respond(status, text="nope")
    result = await _attempt(client)
    assert result.outcome == "retry"
    assert result.status_code == status
    assert result.error == f"HTTP {status}"
    assert result.response_excerpt == "nope"


@respx.mock
async def test_410_is_gone(client: httpx.AsyncClient) -> None:
    respx.post(URL).respond(410, text="unsubscribed")
    result = await _attempt(client)
    assert result.outcome == "gone"
    assert result.status_code == 410
    assert result.response_excerpt == "unsubscribed"


@respx.mock
async def test_retry_after_header_is_reported(client: httpx.AsyncClient) -> None:
    respx.post(URL).respond(503, headers={"retry-after": "90"})
    result = await _attempt(client)
    assert result.outcome == "retry"
    assert result.retry_after == 90.0
    delay = next_attempt_delay(1, DEFAULT_SCHEDULE, retry_after=result.retry_after, jitter=0)
    assert delay == timedelta(seconds=90)


@respx.mock
async def test_retry_after_http_date(client: httpx.AsyncClient) -> None:
    when = _now() + timedelta(minutes=10)
    respx.post(URL).respond(
        429, headers={"retry-after": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    )
    result = await _attempt(client)
    assert result.retry_after is not None
    assert 590 <= result.retry_after <= 600


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
@respx.mock
async def test_transport_errors_are_retried(client: httpx.AsyncClient, exc: Exception) -> None:
    respx.post(URL).mock(side_effect=exc)
    result = await _attempt(client)
    assert result.outcome == "retry"
    assert result.status_code is None
    assert result.error is not None
    assert str(exc) in result.error
    assert result.response_excerpt == ""


@respx.mock
async def test_timeout_bounds_the_whole_attempt(client: httpx.AsyncClient) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    respx.post(URL).mock(side_effect=slow)
    result = await _attempt(client, deadline=0.1)
    assert result.outcome == "retry"
    assert result.error is not None
    assert "timed out" in result.error
    assert result.duration_ms < 2000


@respx.mock
async def test_response_excerpt_truncated_at_1024_bytes(client: httpx.AsyncClient) -> None:
    respx.post(URL).respond(500, content=b"x" * 5000)
    result = await _attempt(client)
    assert result.response_excerpt == "x" * RESPONSE_EXCERPT_BYTES
    assert RESPONSE_EXCERPT_BYTES == 1024


@respx.mock
async def test_response_excerpt_vietnamese_and_invalid_bytes(client: httpx.AsyncClient) -> None:
    text = "Lỗi: không tìm thấy hồ sơ " * 100  # multi-byte characters straddle byte 1024
    respx.post(URL).respond(500, content=text.encode("utf-8"))
    result = await _attempt(client)
    assert len(result.response_excerpt.encode("utf-8")) <= 1024
    assert text.startswith(result.response_excerpt)  # no mangled character at the cut
    assert len(result.response_excerpt.encode("utf-8")) > 1020

    respx.post(URL).respond(500, content=b"ok \xff\xfe bad")
    result = await _attempt(client)
    assert result.response_excerpt == "ok \ufffd\ufffd bad"


# --- request shape and signatures --------------------------------------------------------------


@respx.mock
async def test_headers_are_present_and_verifiable(client: httpx.AsyncClient) -> None:
    route = respx.post(URL).respond(204)
    old_secret = generate_secret()
    result = await attempt_delivery(
        client, URL, msg_id="msg_abc", timestamp=_now(), body=BODY, secrets=[SECRET, old_secret]
    )
    assert result.outcome == "delivered"
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["webhook-id"] == "msg_abc"
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.content == BODY  # Vietnamese UTF-8 body intact on the wire
    headers = dict(request.headers)
    for secret in (SECRET, old_secret):  # subscribers on either side of a rotation verify
        assert Webhook(secret).verify(request.content, headers) == json.loads(BODY)
    with pytest.raises(Exception, match="signature"):
        Webhook(generate_secret()).verify(request.content, headers)


@respx.mock
async def test_webhook_id_is_stable_across_attempts(client: httpx.AsyncClient) -> None:
    route = respx.post(URL).mock(
        side_effect=[httpx.Response(503), httpx.ConnectError("boom"), httpx.Response(200)]
    )
    outcomes = [(await _attempt(client, msg_id="msg_stable")).outcome for _ in range(3)]
    assert outcomes == ["retry", "retry", "delivered"]
    ids = {call.request.headers["webhook-id"] for call in route.calls}
    assert ids == {"msg_stable"}
    for call in route.calls:
        Webhook(SECRET).verify(call.request.content, dict(call.request.headers))


async def test_invalid_arguments_raise_before_sending(client: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL).respond(200)
        with pytest.raises(ValueError, match="timezone"):
            await attempt_delivery(
                client, URL, msg_id="m", timestamp=datetime(2025, 1, 1), body=BODY, secrets=[SECRET]
            )
        with pytest.raises(ValueError, match="secret"):
            await attempt_delivery(
                client, URL, msg_id="m", timestamp=_now(), body=BODY, secrets=["nope"]
            )
        assert not route.called


# --- real HTTP through build_client -----------------------------------------------------------


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[int, list[tuple[bytes, bytes]], list[bytes]]]:
    """HTTP/1.1 responder on 127.0.0.1: records (head, body); replies with ``replies`` in order."""
    seen: list[tuple[bytes, bytes]] = []
    replies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            seen.append((head, await reader.readexactly(length)))
            reply = replies.pop(0) if replies else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            writer.write(reply)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, seen, replies


LOOPBACK_OK = SsrfPolicy.from_strings(["127.0.0.0/8"], allow_http=True)


async def test_real_server_delivery_through_build_client(
    local_server: tuple[int, list[tuple[bytes, bytes]], list[bytes]],
) -> None:
    port, seen, replies = local_server
    replies.append(
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/other\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n" % port
    )
    url = f"http://127.0.0.1:{port}/hook"
    async with build_client(LOOPBACK_OK, timeout=2) as client:
        assert client.follow_redirects is False
        redirected = await _attempt(client, url, msg_id="msg_real")
        delivered = await _attempt(client, url, msg_id="msg_real")

    assert redirected.outcome == "retry"
    assert redirected.status_code == 302
    assert delivered.outcome == "delivered"
    assert delivered.response_excerpt == "ok"
    assert len(seen) == 2  # the redirect target was never requested
    for head, body in seen:
        assert head.startswith(b"POST /hook HTTP/1.1")
        assert body == BODY
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        assert headers["user-agent"] == USER_AGENT
        assert headers["webhook-id"] == "msg_real"
        Webhook(SECRET).verify(body, headers)


async def test_real_server_refused_when_loopback_not_allowed(
    local_server: tuple[int, list[tuple[bytes, bytes]], list[bytes]],
) -> None:
    port, seen, _ = local_server
    async with build_client(SsrfPolicy(allow_http=True), timeout=2) as client:
        for host in ("127.0.0.1", "localhost"):
            result = await _attempt(client, f"http://{host}:{port}/hook")
            assert result.outcome == "refused"
            assert result.status_code is None
            assert result.error is not None
            assert "loopback" in result.error
    async with build_client(LOOPBACK_OK, timeout=2) as client:
        result = await _attempt(client, "http://169.254.169.254/latest/meta-data/")
        assert result.outcome == "refused"
        assert result.error is not None
        assert "metadata" in result.error
    assert seen == []  # nothing ever reached the server


async def test_real_connection_refused_is_retry() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with build_client(LOOPBACK_OK, timeout=2) as client:
        result = await _attempt(client, f"http://127.0.0.1:{port}/hook")
    assert result.outcome == "retry"
    assert result.status_code is None
    assert result.error is not None

"""The clients against upstreams that misbehave the way real ones do: tokens that die after a few
uses, failures in streaks, listings that never end, bodies that never end or never arrive.
Each test would have failed (or hung, or eaten the memory) before the clients were bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from app.clients import NationalClient, ProvincialClient
from tests.clients.test_clients import (
    N_BASE,
    N_TOKEN,
    P_BASE,
    P_TOKEN,
    envelope,
    payment,
    procedure,
    spring,
    upstream,
)

Handler = Callable[[httpx.Request], Any]


class Peak:
    bytes = 0


@contextlib.contextmanager
def peak_memory() -> Iterator[Peak]:
    """The peak of Python allocations inside the block (tracemalloc)."""
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
        peak.bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Upstream:
    """An httpx transport playing P (Spring pages of ``size`` 2) from a list of items, with a
    token endpoint that issues tokens dying after ``max_uses`` calls and a hook to misbehave."""

    def __init__(
        self,
        total: int,
        *,
        max_uses: int | None = None,
        expires_in: int = 300,
        fail: Callable[[int, httpx.Request], httpx.Response | None] | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.items = [procedure(f"1.{i:06d}") for i in range(total)]
        self.max_uses = max_uses
        self.expires_in = expires_in
        self.fail = fail
        self.latency_s = latency_s
        self.uses: dict[str, int] = {}
        self.issued = 0
        self.calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    def client(self, **settings: Any) -> ProvincialClient:
        transport = httpx.MockTransport(self.handle)
        return ProvincialClient(
            upstream(P_BASE, P_TOKEN, **settings), http=httpx.AsyncClient(transport=transport)
        )

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            self.issued += 1
            token = f"t{self.issued}"
            self.uses[token] = 0
            return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in})
        self.calls += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self.uses:
                return httpx.Response(401, json={"error": "invalid_token"})
            self.uses[token] += 1
            if self.max_uses is not None and self.uses[token] > self.max_uses:
                return httpx.Response(401, json={"error": "invalid_token"})
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if self.fail is not None:
                failure = self.fail(self.calls, request)
                if failure is not None:
                    return failure
            page = int(request.url.params["page"])
            content = self.items[page * 2 : page * 2 + 2]
            return httpx.Response(200, json=spring(content, page, len(self.items)))
        finally:
            self.in_flight -= 1


# -- tokens ------------------------------------------------------------------------------------


async def test_tokens_dying_after_a_few_uses_never_fail_a_listing() -> None:
    """Four concurrent requests, tokens good for 3 calls: each request takes its token inside
    its slot and a refused one is replaced by a newer one, so no request meets a spent token
    twice (before: "a freshly issued token was rejected", at random)."""
    for _ in range(20):
        upstream_ = Upstream(80, max_uses=3, latency_s=0.002)
        async with upstream_.client(max_concurrency=4) as client:
            result = await client.list_procedures()
        assert result.complete, result.error
        assert len(result.items) == 80
        assert upstream_.issued > 10  # tokens really died and were replaced


async def test_a_token_is_refreshed_ahead_of_its_announced_expiry() -> None:
    upstream_ = Upstream(6, expires_in=1)
    async with upstream_.client() as client:
        assert (await client.list_procedures()).complete
        issued = upstream_.issued
        # expires_in 1 s: refreshed when 90 % of it is gone, before the upstream refuses it.
        await asyncio.sleep(0.95)
        assert (await client.list_procedures()).complete
    assert upstream_.issued == issued + 1
    assert upstream_.calls == 6  # not a single request was refused


async def test_a_refusal_shared_by_concurrent_requests_costs_one_refresh() -> None:
    upstream_ = Upstream(40, max_uses=12, latency_s=0.005)
    async with upstream_.client(max_concurrency=4) as client:
        result = await client.list_procedures()
    assert result.complete
    # 20 pages at 12 uses a token: 2 tokens would do; concurrent refusals must not each refresh.
    assert upstream_.issued <= 4


# -- streaks -----------------------------------------------------------------------------------


def streaks(
    every: int, length: int, start: int = 0
) -> Callable[[int, httpx.Request], httpx.Response | None]:
    """Requests ``k·every + start … k·every + start + length − 1`` fail: 429, 503 and 502 in
    turn (a deterministic counter, as a bad minute looks from the client)."""

    def fail(call: int, _request: httpx.Request) -> httpx.Response | None:
        if start <= call % every < start + length:
            status = (429, 503, 502)[(call // every) % 3]
            return httpx.Response(status, headers={"Retry-After": "0"})
        return None

    return fail


async def test_a_page_meeting_a_streak_gets_a_second_round_and_the_listing_completes() -> None:
    # 3 attempts per request, streaks of 5: a page can exhaust its attempts inside one streak.
    upstream_ = Upstream(60, fail=streaks(every=20, length=5, start=10))
    async with upstream_.client(max_attempts=3, max_concurrency=1) as client:
        result = await client.list_procedures()
        assert client.stats.failures > 0  # some page did exhaust its first round
    assert result.complete, result.error
    assert len(result.items) == 60


async def test_without_a_second_round_the_same_streaks_leave_the_listing_incomplete() -> None:
    upstream_ = Upstream(60, fail=streaks(every=20, length=5, start=10))
    async with upstream_.client(max_attempts=3, max_concurrency=1, page_rounds=1) as client:
        result = await client.list_procedures()
    assert not result.complete
    assert result.error is not None
    assert "failed in each of 1 rounds" in result.error


async def test_the_second_round_waits_and_takes_a_fresh_token() -> None:
    upstream_ = Upstream(10, fail=streaks(every=1000, length=6))
    started = time.monotonic()
    async with upstream_.client(max_attempts=3, max_concurrency=1, round_pause_s=0.3) as client:
        result = await client.list_procedures()
    assert result.complete
    assert time.monotonic() - started >= 0.3
    assert upstream_.issued == 2


# -- bounds ------------------------------------------------------------------------------------


async def test_a_listing_that_always_claims_one_more_page_is_incomplete_and_bounded() -> None:
    def endless(_call: int, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        items = [procedure(f"1.{page:06d}")]
        return httpx.Response(200, json=spring(items, page, (page + 2) * 2))

    upstream_ = Upstream(0, fail=endless)
    with peak_memory() as peak:
        async with upstream_.client(growth_pages=3) as client:
            result = await client.list_procedures()
    assert peak.bytes < 5 * 1024 * 1024
    assert not result.complete
    assert result.error is not None
    assert "kept growing" in result.error
    # Two passes, each the first page's two pages plus the growth allowed (and the window's
    # requests that were already under way).
    assert upstream_.calls <= 2 * (2 + 3 + 6)


async def test_a_listing_claiming_more_pages_than_the_ceiling_is_refused_at_once() -> None:
    def huge(_call: int, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=spring([procedure("1.000001")], 0, 10**8))

    upstream_ = Upstream(0, fail=huge)
    with peak_memory() as peak:
        async with upstream_.client(max_pages=1000) as client:
            result = await client.list_procedures()
    assert not result.complete
    assert result.error is not None
    assert "50000000 pages" in result.error
    assert "UPSTREAM_MAX_PAGES" in result.error
    assert upstream_.calls == 1
    assert peak.bytes < 5 * 1024 * 1024


async def test_pages_are_fetched_through_a_window_never_all_at_once() -> None:
    """10,000 pages announced: at most a window of page requests exists at any moment (before,
    all of them were gathered at once, each waiting for a slot)."""
    upstream_ = Upstream(20_000)
    async with upstream_.client(max_concurrency=4, max_pages=20_000) as client:
        original = client.get_json
        started = peak = 0

        async def counting(path: str, params: Any) -> Any:
            nonlocal started, peak
            started += 1
            peak = max(peak, started)
            try:
                return await original(path, params)
            finally:
                started -= 1

        client.get_json = counting  # type: ignore[method-assign]
        result = await client.list_procedures()
    assert result.complete
    assert len(result.items) == 20_000
    assert peak <= 4 + 2
    assert upstream_.peak_in_flight <= 4


async def padded_body(size: int) -> AsyncIterator[bytes]:
    yield b'{"content": [], "number": 0, "size": 2, "totalElements": 0, "totalPages": 0}'
    chunk = b" " * (1024 * 1024)
    for _ in range(size // len(chunk)):
        yield chunk


async def test_a_body_past_the_size_cap_is_refused_while_it_streams() -> None:
    def padded(_call: int, _request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=padded_body(300 * 1024 * 1024))

    upstream_ = Upstream(0, fail=padded)
    with peak_memory() as peak:
        async with upstream_.client(max_body_bytes=2 * 1024 * 1024) as client:
            result = await client.list_procedures()
    assert not result.complete
    assert result.error is not None
    assert "larger than 2097152 bytes" in result.error
    assert upstream_.calls == 1  # not retried: the same page would be as large again
    assert peak.bytes < 16 * 1024 * 1024


async def test_json_nested_too_deep_is_a_bad_page_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def nested(_call: int, _request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=deep, headers={"content-type": "application/json"})

    upstream_ = Upstream(0, fail=nested)
    with peak_memory() as peak:
        async with upstream_.client() as client:
            result = await client.list_procedures()
    assert peak.bytes < 5 * 1024 * 1024
    assert not result.complete
    assert result.error == "provincial.procedures: response is not JSON"


async def test_json_nested_too_deep_on_national_is_a_bad_page_too() -> None:
    deep = b'{"error_code": "0", "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 600})
        return httpx.Response(200, content=deep)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    async with NationalClient(upstream(N_BASE, N_TOKEN), "H53", http=http) as client:
        result = await client.list_payment_info()
    assert not result.complete
    assert result.error is not None
    assert "not JSON" in result.error


async def trickle(body: bytes, every_s: float) -> AsyncIterator[bytes]:
    for byte in body:
        yield bytes([byte])
        await asyncio.sleep(every_s)


async def test_a_trickling_answer_meets_the_request_deadline() -> None:
    """A 200 that sends a byte every 50 ms never trips a per-read timeout; the deadline on the
    whole request ends it, and the listing is incomplete within its own deadline."""

    def slow(_call: int, request: httpx.Request) -> httpx.Response:
        body = httpx.Response(200, json=spring([procedure("1.000001")], 0, 1)).content
        return httpx.Response(200, content=trickle(body, 0.05))

    upstream_ = Upstream(0, fail=slow)
    started = time.monotonic()
    async with upstream_.client(request_deadline_s=0.3, max_attempts=2) as client:
        result = await client.list_procedures()
    elapsed = time.monotonic() - started
    assert not result.complete
    assert result.error is not None
    assert "deadline: no complete answer within 0.3 s" in result.error
    assert upstream_.calls == 2 * 2  # two attempts in each of two rounds
    assert elapsed < 3


async def test_a_listing_that_takes_too_long_ends_at_its_deadline() -> None:
    upstream_ = Upstream(200, latency_s=0.05)
    started = time.monotonic()
    async with upstream_.client(listing_deadline_s=0.4, max_concurrency=1) as client:
        result = await client.list_procedures()
    assert not result.complete
    assert result.error is not None
    assert "deadline: not read within 0.4 s (UPSTREAM_LISTING_DEADLINE_S)" in result.error
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("kind", ["national"])
async def test_national_listings_are_bounded_by_their_first_page(kind: str) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 600})
        index = int(request.url.params["pageIndex"])
        # Each page claims one more item than there are pages read: it never ends.
        return httpx.Response(200, json=envelope([payment(f"1.{index:06d}")], index, index * 2 + 1))

    calls = 0

    async def counted(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return await handle(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(counted))
    async with NationalClient(upstream(N_BASE, N_TOKEN, growth_pages=2), "H53", http=http) as c:
        result = await c.list_payment_info()
    assert not result.complete
    assert calls < 40

"""What both upstream clients share: OAuth2 tokens, the retry rule, the concurrency limit and the
paging-pass algorithm of the contract (``upstreams/README.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import ssl
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.clients.config import UpstreamSettings
from app.clients.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamRequestError,
    UpstreamRetryableError,
)
from app.domain.records import DataQualityWarning, Listing
from app.metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS, UPSTREAM_RETRIES

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
MAX_KEPT_WARNINGS = 1000
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_TOKEN_LIFETIME_S = 300.0  # when a token endpoint does not say (P's documented value)
# The listing a request belongs to, for its log lines (set while a listing is read).
CURRENT_LISTING: ContextVar[str | None] = ContextVar("current_listing", default=None)
logger = logging.getLogger(__name__)


@dataclass(slots=True)
class UpstreamStats:
    """Per-client request statistics a run stores with its record."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    token_refreshes: int = 0
    pages: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1


def retry_wait(settings: UpstreamSettings) -> Callable[[RetryCallState], float]:
    """Exponential back-off with jitter; when the upstream said when to come back, that (capped)
    plus up to ``retry_after_jitter`` of it again, so that the requests it told the same thing
    do not all return in the same instant and meet the next 429 together."""
    backoff = wait_random_exponential(
        multiplier=settings.retry_initial_wait_s, max=settings.retry_max_wait_s
    )

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, UpstreamRetryableError) and error.retry_after is not None:
            told = min(error.retry_after, settings.retry_after_cap_s)
            spread = max(told, settings.retry_initial_wait_s) * settings.retry_after_jitter
            return told + random.uniform(0, min(spread, settings.retry_max_wait_s))
        return float(backoff(state))

    return wait


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (key, record)
    total: int
    last_index: int  # index of the last page, in the upstream's own numbering
    warnings: list[DataQualityWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    generation: int
    issued_at: float  # monotonic
    refresh_at: float  # monotonic: ahead of expires_in, so a request never carries a dying one


class UpstreamClient(ABC):
    """One upstream: owns its ``httpx.AsyncClient``, token and concurrency budget."""

    name: str

    def __init__(
        self, settings: UpstreamSettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.stats = UpstreamStats()
        # Pages read so far per listing: a running run's live progress (the console shows it);
        # kept apart from ``stats`` so that the run's stored record keeps its shape.
        self.pages_by_listing: dict[str, int] = {}
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
            follow_redirects=False,
            verify=_tls_context(),
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._generation = 0

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- tokens ------------------------------------------------------------------------------
    @abstractmethod
    def _token_request(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.AsyncClient.post`` to the token endpoint."""

    async def _get_token(self, rejected: _Token | None) -> _Token:
        """The current token, or a new one when there is none, it is due for refresh, or it is
        not newer than ``rejected`` (the one the upstream just refused). Concurrent requests
        refused the same token share one refresh."""
        async with self._token_lock:
            current = self._token
            if (
                current is not None
                and (rejected is None or current.generation > rejected.generation)
                and time.monotonic() < current.refresh_at
            ):
                return current
            if current is not None:
                self.stats.token_refreshes += 1
            self._token = await self._issue_token()
            return self._token

    def renew_token(self) -> None:
        """Forget the current token: the next request asks for a new one."""
        self._token = None

    async def _issue_token(self) -> _Token:
        asked_at = time.monotonic()
        try:
            response = await self._http.post(self.settings.token_url, **self._token_request())
        except httpx.TransportError as exc:
            raise UpstreamRetryableError(self.name, f"token endpoint: {exc!r}") from exc
        if response.status_code in (400, 401, 403):
            raise UpstreamAuthError(self.name, "token endpoint refused the client credentials")
        if response.status_code in RETRYABLE_STATUS:
            raise UpstreamRetryableError.from_response(self.name, response)
        if response.status_code != 200:
            raise UpstreamRequestError(self.name, f"token endpoint: HTTP {response.status_code}")
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamRequestError(self.name, "token endpoint: no access_token") from exc
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_S)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_S
        # Refreshed when 90 % of its life is gone, and at least 30 s before it dies.
        ahead = min(max(lifetime * 0.1, 0.0), 30.0)
        self._generation += 1
        return _Token(
            value=token,
            generation=self._generation,
            issued_at=asked_at,
            refresh_at=asked_at + max(lifetime - ahead, 0.0),
        )

    # -- one request -------------------------------------------------------------------------
    @abstractmethod
    def _unwrap(self, response: httpx.Response) -> Any:
        """Return the useful body, or raise: ``_TokenRejected``, retryable or request errors."""

    async def get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET with the retry rule (each attempt bounded by the request deadline); a refused
        token is replaced inside the attempt."""

        def log_retry(state: RetryCallState) -> None:
            self._count_retry(state, path, params)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=retry_wait(self.settings),
            retry=retry_if_exception_type(UpstreamRetryableError),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(path, params)
        except UpstreamRetryableError as exc:
            self.stats.failures += 1
            raise UpstreamRetryableError(
                self.name,
                f"{path}: {exc.message} after {self.settings.max_attempts} attempts",
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_retry(self, state: RetryCallState, path: str, params: Mapping[str, Any]) -> None:
        self.stats.retries += 1
        error = state.outcome.exception() if state.outcome else None
        message = error.message if isinstance(error, UpstreamError) else repr(error)
        UPSTREAM_RETRIES.labels(self.name, message.split(":")[0][:32]).inc()
        wait = state.next_action.sleep if state.next_action else 0.0
        page = params.get("page", params.get("pageIndex"))
        logger.warning(
            "upstream retry: %s %s page %s: %s (attempt %d of %d, next in %.1f s)",
            self.name,
            CURRENT_LISTING.get() or path,
            page,
            message,
            state.attempt_number,
            self.settings.max_attempts,
            wait,
            extra={
                "upstream": self.name,
                "listing": CURRENT_LISTING.get() or path,
                "page": page,
                "cause": message,
                "attempt": state.attempt_number,
                "wait_s": round(wait, 3),
            },
        )

    async def _attempt(self, path: str, params: Mapping[str, Any]) -> Any:
        """One attempt, inside a concurrency slot: the token is taken once the slot is ours, so
        it is the newest when it is used. A refused token is replaced by a newer one; refused
        again although it was issued after the first refusal, the credentials are wrong."""
        async with self._semaphore:
            token = await self._get_token(None)
            first_refusal: float | None = None
            while True:
                try:
                    return await self._send(path, params, token.value)
                except _TokenRejected:
                    if first_refusal is not None and token.issued_at >= first_refusal:
                        raise UpstreamAuthError(
                            self.name, f"{path}: a freshly issued token was rejected"
                        ) from None
                    if first_refusal is None:
                        first_refusal = time.monotonic()
                    token = await self._get_token(token)

    async def _send(self, path: str, params: Mapping[str, Any], token: str) -> Any:
        url = f"{self.settings.base_url}{path}"
        started = time.perf_counter()
        self.stats.requests += 1
        try:
            async with asyncio.timeout(self.settings.request_deadline_s):
                response = await self._receive(url, params, token)
        except TimeoutError:
            self.stats.count("deadline")
            UPSTREAM_REQUESTS.labels(self.name, "retryable").inc()
            raise UpstreamRetryableError(
                self.name,
                f"deadline: no complete answer within {self.settings.request_deadline_s:g} s",
            ) from None
        except httpx.TransportError as exc:
            self.stats.count("transport")
            UPSTREAM_REQUESTS.labels(self.name, "retryable").inc()
            raise UpstreamRetryableError(self.name, f"transport: {type(exc).__name__}") from exc
        finally:
            UPSTREAM_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        self.stats.count(str(response.status_code))
        try:
            body = self._unwrap(response)
        except UpstreamRetryableError:
            UPSTREAM_REQUESTS.labels(self.name, "retryable").inc()
            raise
        except _TokenRejected:
            UPSTREAM_REQUESTS.labels(self.name, "auth").inc()
            raise
        except UpstreamError:
            UPSTREAM_REQUESTS.labels(self.name, "error").inc()
            raise
        UPSTREAM_REQUESTS.labels(self.name, "ok").inc()
        return body

    async def _receive(self, url: str, params: Mapping[str, Any], token: str) -> httpx.Response:
        """The whole answer, its body streamed and refused past ``max_body_bytes``."""
        cap = self.settings.max_body_bytes
        request = self._http.build_request(
            "GET", url, params=dict(params), headers={"Authorization": f"Bearer {token}"}
        )
        response = await self._http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _too_large(self.name, cap)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > cap:
                    raise _too_large(self.name, cap)
        finally:
            await response.aclose()
        # The body is decoded already: the copy must not claim an encoding any more.
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    # -- listings ----------------------------------------------------------------------------
    async def read_listing(
        self,
        name: str,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
    ) -> Listing[T]:
        """A listing small enough to hold (agencies, procedures, payment information): the
        same passes as ``stream_listing``, into memory.

        Request and exhausted-retry errors end the listing incomplete (the run goes partial);
        ``UpstreamAuthError`` propagates (the run fails).
        """
        sink: MemorySink[T] = MemorySink()
        streamed = await self.stream_listing(name, first_index, fetch, sink, warning_cap=None)
        return Listing(
            name=name,
            items=list(sink.items.values()),
            complete=streamed.complete,
            reported_total=streamed.reported_total,
            passes=streamed.passes,
            error=streamed.error,
            warnings=streamed.warnings,
        )

    async def stream_listing(
        self,
        name: str,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
        sink: ListingSink[T],
        *,
        warning_cap: int | None = MAX_KEPT_WARNINGS,
    ) -> StreamedListing:
        """The contract's paging passes: pages go to ``sink`` in page order (it keeps the later
        page's item for a repeated key), and a pass is complete when the sink's distinct keys
        equal the total the pass's last page reported; otherwise one fresh pass.

        Bounded whatever the upstream does: at most a window of pages in memory, the pages the
        first one announced (plus ``growth_pages``) and never more than ``max_pages``, each
        answer capped in size and time, the whole listing within ``listing_deadline_s``.
        """
        listing = StreamedListing(name=name, warning_cap=warning_cap)
        token = CURRENT_LISTING.set(name)
        try:
            async with asyncio.timeout(self.settings.listing_deadline_s):
                for _ in range(2):
                    listing.passes += 1
                    listing.restart_warnings()
                    await sink.restart()
                    pass_ = await self._stream_pass(first_index, fetch, sink, listing)
                    distinct = await sink.count()
                    listing.reported_total = pass_.total
                    listing.distinct = distinct
                    if distinct == pass_.total:
                        listing.complete = True
                        listing.error = None
                        return listing
                    listing.error = (
                        f"{name}: {distinct} distinct items but {pass_.total} reported, "
                        f"after {listing.passes} passes"
                    )
                    if pass_.grew_to is not None:
                        listing.error += (
                            f"; it kept growing (a page claimed {pass_.grew_to + 1} pages, "
                            f"more than the first page's {pass_.announced} + "
                            f"{self.settings.growth_pages})"
                        )
        except TimeoutError:
            listing.complete = False
            listing.error = (
                f"{name}: deadline: not read within {self.settings.listing_deadline_s:g} s "
                "(UPSTREAM_LISTING_DEADLINE_S)"
            )
        except (UpstreamRequestError, UpstreamRetryableError) as exc:
            listing.complete = False
            listing.error = f"{name}: {exc.message}"
        finally:
            CURRENT_LISTING.reset(token)
        if not listing.complete:
            logger.warning(
                "listing incomplete: %s",
                listing.error,
                extra={"upstream": self.name, "listing": name, "error": listing.error},
            )
        return listing

    async def _stream_pass(
        self,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
        sink: ListingSink[T],
        listing: StreamedListing,
    ) -> _Pass:
        first = await self._first_page(first_index, fetch)
        announced = first.last_index - first_index + 1
        if announced > self.settings.max_pages:
            raise UpstreamRequestError(
                self.name,
                f"the first page announces {announced} pages ({first.total} items), more than "
                f"the ceiling of {self.settings.max_pages} (UPSTREAM_MAX_PAGES)",
            )
        outcome = _Pass(total=first.total, announced=announced)
        bound = first.last_index + self.settings.growth_pages
        cursor = _Cursor(next=first_index + 1, end=first.last_index)
        deferred: list[int] = []
        last_error = ""
        ended_at: int | None = None  # the empty page that ended the pass

        async def take(index: int, page: Page[T]) -> bool:
            """Write one page; False when it is empty (the pass ends there)."""
            self.stats.pages += 1
            self.pages_by_listing[listing.name] = self.pages_by_listing.get(listing.name, 0) + 1
            outcome.total = page.total
            if not page.items:
                return False
            listing.add_warnings(page.warnings)
            await sink.add(page.items)
            # The listing may grow while it is read: follow it, but only so far.
            if page.last_index > bound:
                outcome.grew_to = max(outcome.grew_to or 0, page.last_index - first_index)
            cursor.end = max(cursor.end, min(page.last_index, bound))
            return True

        if await take(first_index, first):
            async with contextlib.aclosing(self._in_order(cursor.take, fetch)) as pages:
                async for index, page in pages:
                    if isinstance(page, UpstreamRetryableError):
                        deferred.append(index)
                        last_error = page.message
                    elif not await take(index, page):
                        ended_at = index
                        break
        if ended_at is not None:
            deferred = [index for index in deferred if index < ended_at]
        for round_ in range(2, self.settings.page_rounds + 1):
            if not deferred:
                break
            await self._pause_before_round(round_, deferred)
            retried, deferred = deferred, []
            async with contextlib.aclosing(self._in_order(iter(retried).__next__, fetch)) as pages:
                async for index, page in pages:
                    if isinstance(page, UpstreamRetryableError):
                        deferred.append(index)
                        last_error = page.message
                    else:
                        await take(index, page)
        if deferred:
            more = f" and {len(deferred) - 1} more" if len(deferred) > 1 else ""
            raise UpstreamRetryableError(
                self.name,
                f"page {deferred[0]}{more} failed in each of {self.settings.page_rounds} "
                f"rounds: {last_error}",
            )
        return outcome

    async def _first_page(
        self, first_index: int, fetch: Callable[[int], Awaitable[Page[T]]]
    ) -> Page[T]:
        """The first page tells how many follow; it gets its rounds like any other."""
        for round_ in range(1, self.settings.page_rounds + 1):
            try:
                return await fetch(first_index)
            except UpstreamRetryableError:
                if round_ == self.settings.page_rounds:
                    raise
                await self._pause_before_round(round_ + 1, [first_index])
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause_before_round(self, round_: int, pages: Sequence[int]) -> None:
        logger.warning(
            "upstream round %d: %s %s pages %s again in %.1f s with a fresh token",
            round_,
            self.name,
            CURRENT_LISTING.get(),
            list(pages[:10]),
            self.settings.round_pause_s,
            extra={
                "upstream": self.name,
                "listing": CURRENT_LISTING.get(),
                "pages": list(pages[:10]),
                "round": round_,
            },
        )
        await asyncio.sleep(self.settings.round_pause_s)
        self.renew_token()

    async def _in_order(
        self, next_index: Callable[[], int], fetch: Callable[[int], Awaitable[Page[T]]]
    ) -> AsyncGenerator[tuple[int, Page[T] | UpstreamRetryableError], None]:
        """Pages in index order, fetched through a window a little wider than the concurrency
        limit (every allowed request busy, never more pages in memory); the error for a page
        that exhausted its attempts. ``next_index`` raises ``StopIteration`` or returns an
        index; it is asked again each time there is room, so the end may move while paging."""
        window = self.settings.max_concurrency + 2
        pending: deque[tuple[int, asyncio.Future[Page[T]]]] = deque()
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(pending) < window:
                try:
                    index = next_index()
                except StopIteration:
                    exhausted = True
                    return
                pending.append((index, asyncio.ensure_future(fetch(index))))

        try:
            fill()
            while pending:
                index, future = pending.popleft()
                try:
                    page: Page[T] | UpstreamRetryableError = await future
                except UpstreamRetryableError as exc:
                    page = exc
                yield index, page
                exhausted = False  # the consumer may have moved the end
                fill()
        finally:
            for _, future in pending:
                future.cancel()
            await asyncio.gather(*(future for _, future in pending), return_exceptions=True)


@dataclass(slots=True)
class _Cursor:
    next: int
    end: int

    def take(self) -> int:
        if self.next > self.end:
            raise StopIteration
        self.next += 1
        return self.next - 1


@dataclass(slots=True)
class _Pass:
    total: int  # reported by the pass's last page
    announced: int  # pages the first one announced
    grew_to: int | None = None  # pages a later one claimed, past the growth allowed


def _too_large(upstream: str, cap: int) -> UpstreamRequestError:
    return UpstreamRequestError(
        upstream, f"response larger than {cap} bytes (UPSTREAM_MAX_BODY_BYTES)"
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle, tens of
    milliseconds that a run (two clients) would otherwise pay each time."""
    return httpx.create_ssl_context()


def response_json(response: httpx.Response) -> Any:
    """The body as JSON: orjson for the UTF-8 the contracts promise (several times faster than
    the standard library on large pages), the declared charset otherwise. Raises ``ValueError``
    when it is not JSON at all — nesting too deep to parse included."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(response.text)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not JSON") from exc


class ListingSink(Protocol[T_contra]):
    """Where a streamed listing's pages go (a staging table): keyed, the later item wins."""

    async def restart(self) -> None: ...

    async def add(self, items: Sequence[tuple[str, T_contra]]) -> None: ...

    async def count(self) -> int: ...


class MemorySink(Generic[T]):
    """A listing's items in memory, by key, in the order last seen."""

    def __init__(self) -> None:
        self.items: dict[str, T] = {}

    async def restart(self) -> None:
        self.items.clear()

    async def add(self, items: Sequence[tuple[str, T]]) -> None:
        for key, record in items:
            self.items.pop(key, None)
            self.items[key] = record

    async def count(self) -> int:
        return len(self.items)


@dataclass
class StreamedListing:
    """Like ``Listing`` but the items are in the sink; warnings are capped (not their count),
    and are the last pass's."""

    name: str
    complete: bool = False
    reported_total: int | None = None
    distinct: int = 0
    passes: int = 0
    error: str | None = None
    warnings: list[DataQualityWarning] = field(default_factory=list)
    warning_count: int = 0
    warning_cap: int | None = MAX_KEPT_WARNINGS

    def restart_warnings(self) -> None:
        self.warnings = []
        self.warning_count = 0

    def add_warnings(self, warnings: list[DataQualityWarning]) -> None:
        self.warning_count += len(warnings)
        if self.warning_cap is None:
            self.warnings.extend(warnings)
            return
        room = self.warning_cap - len(self.warnings)
        if room > 0:
            self.warnings.extend(warnings[:room])


class _TokenRejected(Exception):
    """The upstream said the token is expired or revoked."""


TokenRejected = _TokenRejected

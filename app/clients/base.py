"""What both upstream clients share: OAuth2 tokens, the retry rule, the concurrency limit and the
paging-pass algorithm of the contract (``upstreams/README.md``)."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
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

from app.clients.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamRequestError,
    UpstreamRetryableError,
)
from app.domain.records import DataQualityWarning, Listing
from app.metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS, UPSTREAM_RETRIES
from app.settings import UpstreamSettings

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
MAX_KEPT_WARNINGS = 1000
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


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
    """Exponential back-off with jitter, unless the upstream said when to come back (capped)."""
    backoff = wait_random_exponential(
        multiplier=settings.retry_initial_wait_s, max=settings.retry_max_wait_s
    )

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, UpstreamRetryableError) and error.retry_after is not None:
            return min(error.retry_after, settings.retry_after_cap_s)
        return float(backoff(state))

    return wait


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (key, record)
    total: int
    last_index: int  # index of the last page, in the upstream's own numbering
    warnings: list[DataQualityWarning] = field(default_factory=list)


class UpstreamClient(ABC):
    """One upstream: owns its ``httpx.AsyncClient``, token and concurrency budget."""

    name: str

    def __init__(
        self, settings: UpstreamSettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.stats = UpstreamStats()
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
            follow_redirects=False,
            verify=_tls_context(),
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

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

    async def _get_token(self, stale: str | None) -> str:
        # Concurrent requests that all saw the same token expire share one refresh.
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token
            try:
                response = await self._http.post(self.settings.token_url, **self._token_request())
            except httpx.TransportError as exc:
                raise UpstreamRetryableError(self.name, f"token endpoint: {exc!r}") from exc
            if response.status_code in (400, 401, 403):
                raise UpstreamAuthError(self.name, "token endpoint refused the client credentials")
            if response.status_code in RETRYABLE_STATUS:
                raise UpstreamRetryableError.from_response(self.name, response)
            if response.status_code != 200:
                raise UpstreamRequestError(
                    self.name, f"token endpoint: HTTP {response.status_code}"
                )
            try:
                token = response.json()["access_token"]
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamRequestError(self.name, "token endpoint: no access_token") from exc
            if stale is not None:
                self.stats.token_refreshes += 1
            self._token = str(token)
            return self._token

    # -- one request -------------------------------------------------------------------------
    @abstractmethod
    def _unwrap(self, response: httpx.Response) -> Any:
        """Return the useful body, or raise: ``_TokenRejected``, retryable or request errors."""

    async def get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET with the retry rule; a token is refreshed once per attempt on 401."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=retry_wait(self.settings),
            retry=retry_if_exception_type(UpstreamRetryableError),
            before_sleep=self._count_retry,
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

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        error = state.outcome.exception() if state.outcome else None
        cause = error.message.split(":")[0] if isinstance(error, UpstreamError) else "error"
        UPSTREAM_RETRIES.labels(self.name, cause[:32]).inc()

    async def _attempt(self, path: str, params: Mapping[str, Any]) -> Any:
        token = await self._get_token(None)
        try:
            return await self._send(path, params, token)
        except _TokenRejected:
            fresh = await self._get_token(token)
            try:
                return await self._send(path, params, fresh)
            except _TokenRejected:
                raise UpstreamAuthError(
                    self.name, f"{path}: a freshly issued token was rejected"
                ) from None

    async def _send(self, path: str, params: Mapping[str, Any], token: str) -> Any:
        url = f"{self.settings.base_url}{path}"
        async with self._semaphore:
            started = time.perf_counter()
            self.stats.requests += 1
            try:
                response = await self._http.get(
                    url, params=dict(params), headers={"Authorization": f"Bearer {token}"}
                )
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

    # -- listings ----------------------------------------------------------------------------
    async def read_listing(
        self,
        name: str,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
    ) -> Listing[T]:
        """Read a listing with the contract's passes; incomplete after two short passes.

        Request and exhausted-retry errors end the listing incomplete (the run goes partial);
        ``UpstreamAuthError`` propagates (the run fails).
        """
        listing: Listing[T] = Listing(name=name)
        try:
            for _ in range(2):
                listing.passes += 1
                collected, total, warnings = await self._one_pass(first_index, fetch)
                listing.items = list(collected.values())
                listing.reported_total = total
                listing.warnings = warnings
                if len(collected) == total:
                    listing.complete = True
                    listing.error = None
                    return listing
                listing.error = (
                    f"{name}: {len(collected)} distinct items but {total} reported, "
                    f"after {listing.passes} passes"
                )
        except (UpstreamRequestError, UpstreamRetryableError) as exc:
            listing.complete = False
            listing.error = f"{name}: {exc.message}"
        return listing

    async def _one_pass(
        self, first_index: int, fetch: Callable[[int], Awaitable[Page[T]]]
    ) -> tuple[dict[str, T], int, list[DataQualityWarning]]:
        first = await fetch(first_index)
        pages = [first]
        if first.items and first.last_index > first_index:
            # The first page tells how many follow: ask for them together (the semaphore keeps
            # the upstream's limit), then keep page order so a later page wins a repeated key.
            rest = await asyncio.gather(
                *(fetch(i) for i in range(first_index + 1, first.last_index + 1))
            )
            pages.extend(rest)
            # The listing may have grown while we read: follow it to its new end.
            index = first.last_index
            while pages[-1].items and pages[-1].last_index > index:
                index += 1
                pages.append(await fetch(index))
        collected: dict[str, T] = {}
        warnings: list[DataQualityWarning] = []
        last = first
        for page in pages:
            self.stats.pages += 1
            last = page
            if not page.items:
                break
            warnings.extend(page.warnings)
            for key, record in page.items:
                collected.pop(key, None)
                collected[key] = record
        return collected, last.total, warnings

    async def stream_listing(
        self,
        name: str,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
        sink: ListingSink[T],
    ) -> StreamedListing:
        """The paging-pass rule for listings too big to hold: pages go to ``sink`` in page order
        (it keeps the later page's item for a repeated key), and the pass is complete when the
        sink's distinct keys equal the total the pass's last page reported. At most a few
        pages are in memory at once."""
        listing = StreamedListing(name=name)
        try:
            for _ in range(2):
                listing.passes += 1
                await sink.restart()
                total = await self._stream_pass(first_index, fetch, sink, listing)
                distinct = await sink.count()
                listing.reported_total = total
                listing.distinct = distinct
                if distinct == total:
                    listing.complete = True
                    listing.error = None
                    return listing
                listing.error = (
                    f"{name}: {distinct} distinct items but {total} reported, "
                    f"after {listing.passes} passes"
                )
        except (UpstreamRequestError, UpstreamRetryableError) as exc:
            listing.complete = False
            listing.error = f"{name}: {exc.message}"
        return listing

    async def _stream_pass(
        self,
        first_index: int,
        fetch: Callable[[int], Awaitable[Page[T]]],
        sink: ListingSink[T],
        listing: StreamedListing,
    ) -> int:
        # A window a little wider than the concurrency limit keeps every allowed request busy
        # while pages are written in order.
        window = self.settings.max_concurrency + 2
        first = await fetch(first_index)
        last = first
        pending: deque[asyncio.Future[Page[T]]] = deque()
        next_index = first_index + 1
        end = first.last_index
        try:
            page: Page[T] | None = first
            while page is not None:
                self.stats.pages += 1
                last = page
                if not page.items:
                    break
                listing.add_warnings(page.warnings)
                await sink.add(page.items)
                # The listing may grow while it is read: follow the newest page's idea of the end.
                end = max(end, page.last_index)
                while len(pending) < window and next_index <= end:
                    pending.append(asyncio.ensure_future(fetch(next_index)))
                    next_index += 1
                page = await pending.popleft() if pending else None
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return last.total


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle, tens of
    milliseconds that a run (two clients) would otherwise pay each time."""
    return httpx.create_ssl_context()


def response_json(response: httpx.Response) -> Any:
    """The body as JSON: orjson for the UTF-8 the contracts promise (several times faster than
    the standard library on large pages), httpx's charset-aware decoding for anything else.
    Raises ``ValueError`` when it is not JSON at all."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


class ListingSink(Protocol[T_contra]):
    """Where a streamed listing's pages go (a staging table): keyed, the later item wins."""

    async def restart(self) -> None: ...

    async def add(self, items: Sequence[tuple[str, T_contra]]) -> None: ...

    async def count(self) -> int: ...


@dataclass
class StreamedListing:
    """Like ``Listing`` but the items are in the sink; warnings are capped, not lost count."""

    name: str
    complete: bool = False
    reported_total: int | None = None
    distinct: int = 0
    passes: int = 0
    error: str | None = None
    warnings: list[DataQualityWarning] = field(default_factory=list)
    warning_count: int = 0

    def add_warnings(self, warnings: list[DataQualityWarning]) -> None:
        self.warning_count += len(warnings)
        room = MAX_KEPT_WARNINGS - len(self.warnings)
        if room > 0:
            self.warnings.extend(warnings[:room])


class _TokenRejected(Exception):
    """The upstream said the token is expired or revoked."""


TokenRejected = _TokenRejected

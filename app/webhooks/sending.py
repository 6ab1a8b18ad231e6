"""One Standard Webhooks delivery attempt and the retry schedule between attempts.

This module is deliberately free of database and web-framework code: the dispatcher claims a
message, calls ``attempt_delivery`` once per endpoint, records the returned ``AttemptResult``
and asks ``next_attempt_delay`` when to try again. Classification rules (design promise 5):

* only 2xx is success (``delivered``);
* 410 Gone means the subscriber asked us to stop (``gone``: the caller disables the endpoint);
* redirects are never followed (a 3xx could bounce us to an address the SSRF guard would have
  refused by name, and a subscriber that moved must update its URL) and count as failures;
* every other status, transport error or timeout is ``retry``;
* a destination refused by the SSRF guard is ``refused`` (retrying cannot help until the
  operator changes the policy or the subscriber its URL/DNS).
"""

from __future__ import annotations

import asyncio
import codecs
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from app.webhooks.signing import sign_headers
from app.webhooks.ssrf import GuardedTransport, SsrfPolicy, UrlRefused

USER_AGENT = "payment-sync-recon-webhooks/1"
RESPONSE_EXCERPT_BYTES = 1024

# Delays before retry 1..7 (Svix's schedule): about 28 hours of retrying in total. After the
# seventh retry fails the message has failed for that endpoint.
DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)

Outcome = Literal["delivered", "retry", "gone", "refused"]

# A process-wide generator for jitter; jitter only spreads load, it needs no secrecy.
_jitter_rng = random.Random()


def next_attempt_delay(
    attempt_number: int,
    schedule: Sequence[timedelta] = DEFAULT_SCHEDULE,
    *,
    retry_after: float | None,
    jitter: float = 0.2,
    rng: random.Random | None = None,
    retry_after_cap: timedelta = timedelta(hours=1),
) -> timedelta | None:
    """How long to wait before the next attempt, or ``None`` when the message has failed.

    ``attempt_number`` is the number of attempts already made (1 after the first failure), so
    ``schedule[attempt_number - 1]`` is the base delay. The base is spread by ±``jitter`` (a
    fraction) so endpoints that failed together do not retry in lock-step. A ``Retry-After``
    from the receiver (seconds) is honoured but clamped to ``retry_after_cap``: it can
    lengthen the wait up to the cap, never shorten it below the schedule, and it never extends
    the schedule past its end.
    """
    if attempt_number < 1:
        raise ValueError("attempt_number counts attempts already made and must be >= 1")
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be a fraction in [0, 1)")
    if attempt_number > len(schedule):
        return None

    base = schedule[attempt_number - 1].total_seconds()
    factor = 1.0 + (rng or _jitter_rng).uniform(-jitter, jitter)
    seconds = base * factor
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        seconds = max(seconds, min(retry_after, retry_after_cap.total_seconds()))
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class AttemptResult:
    """What one delivery attempt did; everything the per-attempt log needs."""

    outcome: Outcome
    status_code: int | None
    duration_ms: float
    response_excerpt: str
    error: str | None
    retry_after: float | None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or HTTP-date); ``None`` if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    return "retry"


def _status_error(response: httpx.Response) -> str | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        location = response.headers.get("location")
        target = f" to {location[:200]!r}" if location else ""
        return f"HTTP {status}: redirect{target} not followed; update the endpoint URL"
    if status == 410:
        return "HTTP 410 Gone: the receiver asked to stop deliveries"
    return f"HTTP {status}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def attempt_delivery(
    http: httpx.AsyncClient,
    url: str,
    *,
    msg_id: str,
    timestamp: datetime,
    body: bytes,
    secrets: Sequence[str],
    # Part of the agreed API; it is also enforced with asyncio.timeout below.
    timeout: float = 15.0,  # noqa: ASYNC109
) -> AttemptResult:
    """POST one signed message to ``url`` and classify the answer; never raises for receivers.

    ``msg_id`` must be the same on every attempt (subscribers de-duplicate on ``webhook-id``);
    ``timestamp`` is this attempt's signing time. ``timeout`` bounds the whole attempt
    (connect, send, status and the excerpt read), not just each socket operation, so a
    receiver trickling bytes cannot hold a worker. Only the first 1024 bytes of the response
    body are read. Invalid arguments (bad secret, naive timestamp, non-UTF-8 body) raise
    ``ValueError`` from ``sign_headers`` before anything is sent: those are our bugs.
    """
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **sign_headers(msg_id, timestamp, body, secrets),
    }
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - started) * 1000.0

    response: httpx.Response | None = None
    chunks = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async with http.stream(
                "POST",
                url,
                content=body,
                headers=headers,
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
            ) as response:
                async for chunk in response.aiter_bytes():
                    chunks += chunk
                    if len(chunks) >= RESPONSE_EXCERPT_BYTES:
                        break  # the rest is discarded; closing the stream drops the connection
    except UrlRefused as exc:
        return AttemptResult(
            outcome="refused",
            status_code=None,
            duration_ms=elapsed_ms(),
            response_excerpt="",
            error=f"destination refused by SSRF policy: {exc.reason}",
            retry_after=None,
        )
    except httpx.InvalidURL as exc:
        return AttemptResult(
            outcome="refused",
            status_code=None,
            duration_ms=elapsed_ms(),
            response_excerpt="",
            error=f"invalid endpoint URL: {exc}",
            retry_after=None,
        )
    except (TimeoutError, httpx.HTTPError) as exc:
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            error = f"timed out after {timeout:g}s ({_describe(exc)})"
        else:
            error = _describe(exc)
        if response is None:
            return AttemptResult(
                outcome="retry",
                status_code=None,
                duration_ms=elapsed_ms(),
                response_excerpt="",
                error=error,
                retry_after=None,
            )
        # The status line arrived and only reading the body failed: the receiver already
        # answered, so its status decides (a 200 with a broken body was still delivered).
        return _from_response(response, chunks, elapsed_ms(), body_error=error)
    assert response is not None
    return _from_response(response, chunks, elapsed_ms(), body_error=None)


def _from_response(
    response: httpx.Response, raw: bytes | bytearray, duration_ms: float, *, body_error: str | None
) -> AttemptResult:
    # An incremental decoder with final=False drops a multi-byte character cut by the 1024-byte
    # limit instead of showing it as U+FFFD; genuinely invalid bytes are still replaced.
    excerpt = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(
        bytes(raw[:RESPONSE_EXCERPT_BYTES]), final=len(raw) < RESPONSE_EXCERPT_BYTES
    )
    outcome = _classify(response.status_code)
    errors = [e for e in (_status_error(response), body_error) if e]
    if body_error:
        errors[-1] = f"reading response body: {body_error}"
    retry_after = (
        None if outcome == "delivered" else parse_retry_after(response.headers.get("retry-after"))
    )
    return AttemptResult(
        outcome=outcome,
        status_code=response.status_code,
        duration_ms=duration_ms,
        response_excerpt=excerpt,
        error="; ".join(errors) or None,
        retry_after=retry_after,
    )


def build_client(policy: SsrfPolicy, timeout: float = 15.0) -> httpx.AsyncClient:
    """The HTTP client for deliveries: SSRF-guarded, no redirects, no proxies, explicit timeouts.

    ``trust_env=False`` keeps ``HTTP(S)_PROXY``/``.netrc`` out of it: a proxy would resolve
    names itself, outside the guard. One client is meant to be shared by all delivery workers.
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(httpx.AsyncHTTPTransport(retries=0), policy=policy),
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )

"""Errors raised by the upstream clients.

UpstreamError                 any failure talking to P or N
├── UpstreamAuthError         wrong credentials, or 401 again right after a fresh token:
│                             a configuration problem; the run fails
├── UpstreamRequestError      not retryable: other 4xx, N's error_code "1" or an unknown
│                             code, a body that is not the contract's shape
└── UpstreamRetryableError    transport error, 429, 5xx, N's "-1"/"99": retried, and what
                              remains when the attempts run out
"""

from __future__ import annotations

import httpx


class UpstreamError(Exception):
    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream
        self.message = message


class UpstreamAuthError(UpstreamError):
    pass


class UpstreamRequestError(UpstreamError):
    pass


class UpstreamRetryableError(UpstreamError):
    def __init__(self, upstream: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(upstream, message)
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, upstream: str, response: httpx.Response) -> UpstreamRetryableError:
        return cls(
            upstream,
            f"HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds form only: both upstreams document ``Retry-After: <seconds>``."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)

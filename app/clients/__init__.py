"""Clients of the two upstreams. Vendor field names never leave this package."""

from app.clients.base import UpstreamStats
from app.clients.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamRequestError,
    UpstreamRetryableError,
)
from app.clients.national import NationalClient
from app.clients.provincial import ProvincialClient

__all__ = [
    "NationalClient",
    "ProvincialClient",
    "UpstreamAuthError",
    "UpstreamError",
    "UpstreamRequestError",
    "UpstreamRetryableError",
    "UpstreamStats",
]

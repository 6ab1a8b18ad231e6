"""How to reach one upstream and how politely: the clients' own configuration.

Here rather than in ``app.settings`` (which builds it from the environment, and re-exports it)
so that the clients import nothing of the service's wider configuration: ``app.settings``
reaches the webhooks' secret box, and through it the database.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["UpstreamSettings"]


class UpstreamSettings(BaseModel):
    """Connection and politeness settings for one upstream (P or N)."""

    base_url: str = "http://127.0.0.1:8081/provincial"
    token_url: str = "http://127.0.0.1:8081/provincial/oauth/token"
    client_id: str = "recon"
    client_secret: SecretStr = SecretStr("")
    max_concurrency: int = Field(default=4, ge=1, le=64)
    page_size: int = Field(default=500, ge=1)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_attempts: int = Field(default=5, ge=1)
    retry_initial_wait_s: float = 0.5
    retry_max_wait_s: float = 30.0
    retry_after_cap_s: float = 60.0
    # Waits that Retry-After asks for get up to this fraction on top, so that requests told to
    # come back at the same moment do not all come back at once (and meet the next 429).
    retry_after_jitter: float = Field(default=0.5, ge=0, le=2)
    # A page that exhausted its attempts is asked again at the end of its listing pass, after a
    # pause and with a fresh token, before the listing is declared incomplete.
    page_rounds: int = Field(default=2, ge=1, le=5)
    round_pause_s: float = Field(default=15.0, ge=0)
    # Bounds on what an upstream can make a run do.
    request_deadline_s: float = Field(default=60.0, gt=0)  # one request, first byte to last
    listing_deadline_s: float = Field(default=3600.0, gt=0)  # one listing, every page of it
    max_pages: int = Field(default=10_000, ge=1)  # pages a listing may claim
    growth_pages: int = Field(default=2, ge=0)  # pages a listing may grow by while read
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # one response, decoded

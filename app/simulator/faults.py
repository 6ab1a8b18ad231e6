"""Fault settings and client credentials of the simulator (changeable at runtime over HTTP)."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

LISTINGS: Final[tuple[str, ...]] = (
    "provincial.agencies",
    "provincial.procedures",
    "national.thong-tin-thu-huong",
    "national.thong-ke-tthc",
    "provincial.dossiers",
    "national.dong-bo",
    "national.giao-dich",
)


MISBEHAVIOURS: Final[tuple[str, ...]] = ("trickle", "endless", "huge_total", "padded", "deep_json")


class Faults(BaseModel):
    """What goes wrong, and how often. Every rate defaults to 0: a clean upstream.

    None of these changes the data a complete read returns; they only make reading it harder.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, description="added to every listing page")
    latency_jitter_ms: int = Field(0, ge=0, description="plus uniform 0..jitter")
    rate_429: float = Field(0.0, ge=0.0, le=1.0, description="429 with Retry-After")
    rate_503: float = Field(0.0, ge=0.0, le=1.0, description="503 plain body with Retry-After")
    rate_n_busy: float = Field(
        0.0, ge=0.0, le=1.0, description='N only: HTTP 200 with error_code "99" or "-1"'
    )
    retry_after_s: int = Field(1, ge=0)
    expires_in_s: int = Field(300, ge=1, description="expires_in announced by both token endpoints")
    token_ttl_s: float | None = Field(
        None, gt=0, description="actual token lifetime when shorter than announced"
    )
    token_max_uses: int | None = Field(None, ge=1, description="token dies after N API calls")
    shift_passes: int = Field(
        0, ge=0, description="first K passes of each listing see items shift between pages"
    )
    fail_pages: list[str] = Field(
        default_factory=list,
        description='pages that always answer 503, e.g. "national.thong-tin-thu-huong:2" '
        "(page number as the client sends it: P 0-based, N 1-based)",
    )
    max_in_flight: int = Field(4, ge=1, description="concurrent requests per credential")
    streak_every: int = Field(
        0,
        ge=0,
        description="failures in streaks: of every streak_every listing requests to a system, "
        "streak_length in a row fail (429, 503, then N's \"99\" or P's 502, in turn); "
        "a deterministic counter, not a dice",
    )
    streak_length: int = Field(0, ge=0)
    misbehave: list[str] = Field(
        default_factory=list,
        description='listings that misbehave, "<listing>:<mode>": trickle (a 200 sent a byte '
        "every trickle_interval_s), endless (every page claims one more), huge_total (claims "
        "10^8 items), padded (the page followed by pad_bytes of whitespace), deep_json (arrays "
        "nested 100,000 deep)",
    )
    trickle_interval_s: float = Field(2.0, gt=0)
    pad_bytes: int = Field(300 * 1024 * 1024, ge=0)
    seed: int = 0

    @field_validator("fail_pages")
    @classmethod
    def _known_pages(cls, pages: list[str]) -> list[str]:
        for entry in pages:
            listing, _, page = entry.rpartition(":")
            if listing not in LISTINGS or not page.isdigit():
                raise ValueError(f"{entry!r}: expected '<listing>:<page>', listing in {LISTINGS}")
        return pages

    @field_validator("misbehave")
    @classmethod
    def _known_modes(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            listing, _, mode = entry.rpartition(":")
            if listing not in LISTINGS or mode not in MISBEHAVIOURS:
                raise ValueError(
                    f"{entry!r}: expected '<listing>:<mode>', listing in {LISTINGS}, "
                    f"mode in {MISBEHAVIOURS}"
                )
        return entries

    def failing(self, listing: str, page: int) -> bool:
        return f"{listing}:{page}" in self.fail_pages

    def misbehaviour(self, listing: str) -> str | None:
        for entry in self.misbehave:
            name, _, mode = entry.rpartition(":")
            if name == listing:
                return mode
        return None

    def in_streak(self, request_number: int) -> int | None:
        """Which streak the n-th request (from 0) of a system falls in, if it falls in one."""
        if not self.streak_every or not self.streak_length:
            return None
        if request_number % self.streak_every < self.streak_length:
            return request_number // self.streak_every
        return None


class Credentials(BaseModel):
    """The client credentials the simulated token endpoints accept."""

    provincial_client_id: str = "recon-provincial"
    provincial_client_secret: str = "provincial-secret"
    national_client_id: str = "recon-national"
    national_client_secret: str = "national-secret"

"""API keys, webhook endpoints and their deliveries (admin), health."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.common import ApiModel, Cursor, FreeForm, Timestamp


class KeyView(ApiModel):
    id: int
    name: str
    role: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    agency_code: str | None = Field(
        description="The agency (normalized MaDonVi) the key sees, with the units below it; "
        "null: the whole province."
    )
    created_at: Timestamp
    revoked_at: Timestamp | None


class CreatedKey(KeyView):
    key: str = Field(description="The key itself: shown once, never retrievable again.")


class KeyList(ApiModel):
    items: list[KeyView]


class EndpointView(ApiModel):
    id: str
    url: str
    description: str
    event_types: list[str] = Field(description="Empty: every type.")
    agency_codes: list[str] = Field(description="Empty: every agency.")
    enabled: bool
    disabled_reason: str | None
    failing_since: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class CreatedEndpoint(EndpointView):
    secret: str = Field(description="The `whsec_` signing secret: shown once.")


class EndpointList(ApiModel):
    items: list[EndpointView]


class RotatedSecret(ApiModel):
    id: str
    secret: str = Field(description="The new `whsec_` secret: shown once.")
    previous_secrets_valid_until: Timestamp


class DeliveryView(ApiModel):
    message_id: str
    event_type: str
    status: str = Field(description="`pending`, `delivered` or `failed`.")
    attempts: int
    next_attempt_at: Timestamp | None
    in_flight: bool
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None


class AttemptView(ApiModel):
    message_id: str
    attempted_at: Timestamp
    outcome: str
    status_code: int | None
    duration_ms: float
    response: str | None = Field(description="The first 1 kB of the answer.")
    error: str | None


class DeliveryDetail(DeliveryView):
    payload: FreeForm | None = Field(description="The message as sent.")
    attempt_log: list[AttemptView] = Field(description="Every attempt, oldest first.")


class DeliveryPage(ApiModel):
    items: list[DeliveryView]
    next_cursor: Cursor


class AttemptPage(ApiModel):
    items: list[AttemptView]
    next_cursor: Cursor


class Recovered(ApiModel):
    endpoint_id: str
    requeued: int = Field(description="Failed deliveries queued again.")


class TestSent(ApiModel):
    message_id: str
    event_type: str
    payload: FreeForm = Field(description='The example event, marked `"test": true`.')


class Live(ApiModel):
    status: str = Field(examples=["ok"])


class Degradation(ApiModel):
    province: str
    scope: str
    reason: str = Field(description="`too_old` or `no_complete_run`.")
    detail: str
    age_seconds: float | None
    max_age_seconds: float


class LastRun(ApiModel):
    run_id: str
    scope: str
    status: str
    finished_at: Timestamp
    age_seconds: float


class Ready(ApiModel):
    status: str = Field(description="`ok`, `degraded` (still 200) or `unavailable` (503).")
    checks: dict[str, str] = Field(description="`database`, `migrations`.")
    degraded: list[Degradation]
    last_run: LastRun | None = Field(description="The newest finished run of any province.")
    last_runs: dict[str, LastRun | None] = Field(description="Per province.")


READY_EXAMPLE: dict[str, Any] = {
    "status": "ok",
    "checks": {"database": "ok", "migrations": "ok"},
    "degraded": [],
    "last_run": {
        "run_id": "0f4f6f8e-54a4-4d44-9a51-6a3c4ad2a0c1",
        "scope": "procedures",
        "status": "succeeded",
        "finished_at": "2023-12-01T01:00:41.800000+00:00",
        "age_seconds": 312.4,
    },
    "last_runs": {"H53": None},
}

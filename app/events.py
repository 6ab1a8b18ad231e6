"""Event payloads (Standard Webhooks shape ``{"type", "timestamp", "data"}``) for the outbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import OutboxEvent

MISMATCH_OPENED: Final = "mismatch.opened"
MISMATCH_UPDATED: Final = "mismatch.updated"
MISMATCH_RESOLVED: Final = "mismatch.resolved"
RUN_COMPLETED: Final = "run.completed"
RUN_FAILED: Final = "run.failed"
ENDPOINT_DISABLED: Final = "endpoint.disabled"
EVENT_TYPES: Final = (
    MISMATCH_OPENED,
    MISMATCH_UPDATED,
    MISMATCH_RESOLVED,
    RUN_COMPLETED,
    RUN_FAILED,
    ENDPOINT_DISABLED,
)

# Subscribers (and proxies in front of them) commonly cap request bodies; Svix keeps payloads
# well under this. The limit is on the UTF-8 JSON body as sent.
MAX_PAYLOAD_BYTES: Final = 20_000


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes a delivery sends (and signs): compact UTF-8 JSON, Vietnamese kept as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def fit_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload, with oversized evidence replaced by a pointer to the API resource.

    Evidence is the only unbounded part (raw values from the upstreams). When it does not fit,
    subscribers get the subject, reason and link, and a note saying the evidence was left out.
    """
    size = len(encode_payload(payload))
    if size < MAX_PAYLOAD_BYTES:
        return payload
    data = dict(payload["data"])
    if "evidence" in data:
        data["evidence"] = {
            "omitted": True,
            "reason": f"evidence made the event {size} bytes; read it at the link",
        }
    fitted = {**payload, "data": data}
    if len(encode_payload(fitted)) >= MAX_PAYLOAD_BYTES:
        raise ValueError(f"{payload['type']} event is over {MAX_PAYLOAD_BYTES} bytes")
    return fitted


def add_event(
    session: AsyncSession,
    *,
    province_code: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    agency_code: str | None = None,
) -> OutboxEvent:
    """Stage an event in the caller's transaction: it exists exactly when the change commits."""
    payload = fit_payload({"type": event_type, "timestamp": at.isoformat(), "data": data})
    event = OutboxEvent(
        province_code=province_code,
        event_type=event_type,
        agency_code=agency_code,
        payload=payload,
        created_at=at,
    )
    session.add(event)
    return event

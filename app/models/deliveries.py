"""Webhook deliveries (one message to one endpoint) and the log of every attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or being attempted, under a lease)
    DELIVERED = "delivered"
    FAILED = "failed"  # schedule exhausted, or the endpoint was disabled; recoverable


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        # The dispatcher's claim: due pending work, oldest first.
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", ondelete="CASCADE", max_length=40)
    event_id: str = Field(foreign_key="outbox_events.id", ondelete="CASCADE", max_length=40)
    event_type: str = Field(max_length=48)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    # Attempts made in the current cycle (a redelivery starts a new cycle at the schedule's
    # beginning); ``attempt_count`` counts every attempt ever made.
    cycle_attempts: int = 0
    attempt_count: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id", ondelete="CASCADE")
    endpoint_id: str = Field(max_length=40, index=True)
    event_id: str = Field(max_length=40)
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str = Field(max_length=16)
    status_code: int | None = None
    duration_ms: float = 0.0
    response_excerpt: str = Field(default="", max_length=2048)
    error: str | None = Field(default=None, max_length=1024)
    dispatcher: str = Field(default="", max_length=128)

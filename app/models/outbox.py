"""Outbox: events written in the same transaction as the state change that caused them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"

    id: str = Field(default_factory=new_event_id, primary_key=True, max_length=40)
    province_code: str = Field(max_length=8, index=True)
    event_type: str = Field(max_length=48)
    agency_code: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

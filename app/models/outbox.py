"""Outbox: events written in the same transaction as the state change that caused them."""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow

_sequence = itertools.count()


def new_event_id() -> str:
    """``msg_`` + a time-ordered id: milliseconds, a per-process counter, then randomness.

    Events staged in one transaction share their ``created_at``; ordering by ``(created_at,
    id)`` then still follows the order they were staged in, which the dispatcher relies on for
    best-effort per-endpoint ordering. The random tail keeps ids unique across replicas.
    """
    millis = time.time_ns() // 1_000_000
    counter = next(_sequence) % (1 << 32)
    return f"msg_{millis:012x}{counter:08x}{os.urandom(6).hex()}"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"

    id: str = Field(default_factory=new_event_id, primary_key=True, max_length=40)
    province_code: str = Field(max_length=8, index=True)
    event_type: str = Field(max_length=48)
    agency_code: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Set once the event has been turned into one delivery per matching endpoint.
    fanned_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)

"""Webhook endpoints and their signing secrets (Standard Webhooks ``whsec_`` secrets).

Secrets are stored retrievably because HMAC signing needs them (as every webhook platform does),
encrypted under WEBHOOK_SECRET_KEY; they are returned once, at creation or rotation, and never
logged.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import JSONType, UTCDateTime, utcnow


def new_endpoint_id() -> str:
    return f"ep_{uuid.uuid4().hex}"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: str = Field(default_factory=new_endpoint_id, primary_key=True, max_length=40)
    province_code: str = Field(max_length=8, index=True)
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=512)
    event_types: list[str] = Field(default_factory=list, sa_type=JSONType)  # empty: every type
    agency_codes: list[str] = Field(default_factory=list, sa_type=JSONType)  # empty: every agency
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=256)
    # Start of the current run of failures; the dispatcher disables the endpoint past a window.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookSecret(SQLModel, table=True):
    __tablename__ = "webhook_secrets"

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", index=True, ondelete="CASCADE")
    # "fernet:<token>" under WEBHOOK_SECRET_KEY (app/webhooks/secretbox.py); clear text only in
    # simulator mode or before the key was configured.
    secret: str = Field(max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # NULL while current; a rotated-out secret keeps signing until this moment.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Webhook endpoints (admin): register, list, inspect, change, delete, rotate the secret; their
deliveries and attempt log; redeliver one message, recover failed ones, send a test event."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from app.dependencies import AdminDep, ProvinceDep, SessionDep, SettingsDep
from app.models import DeliveryStatus
from app.webhooks import deliveries
from app.webhooks import endpoints as service

router = APIRouter(prefix="/webhooks/endpoints", tags=["webhooks"])

EventType = Literal[
    "mismatch.opened",
    "mismatch.updated",
    "mismatch.resolved",
    "run.completed",
    "run.failed",
    "endpoint.disabled",
]
EndpointId = Annotated[str, Path(max_length=40)]
MessageId = Annotated[str, Path(max_length=40)]
Limit = Annotated[int, Query(ge=1, le=500)]
AgencyCode = Annotated[str, Field(min_length=1, max_length=32)]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048)
    event_types: list[EventType] = Field(default_factory=list, description="Empty: every type.")
    agency_codes: list[AgencyCode] = Field(default_factory=list, description="Empty: every agency.")
    description: str = Field(default="", max_length=512)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=2048)
    event_types: list[EventType] | None = None
    agency_codes: list[AgencyCode] | None = None
    description: str | None = Field(default=None, max_length=512)
    enabled: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # Every field is optional (left out: unchanged) but none may be cleared: an explicit
        # null is a 422 saying so rather than a NOT NULL violation (500) in the database.
        if isinstance(data, dict):
            nulls = sorted(name for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(
                    f"{', '.join(nulls)} may not be null; leave a field out to keep its value"
                )
        return data


class Recovery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(description="Failed deliveries created at or after this time.")
    until: AwareDatetime | None = Field(default=None, description="…and before this one.")


class TestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: EventType = "mismatch.opened"


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours: float | None = Field(default=None, ge=0, le=24 * 30)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create(
    principal: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    body: EndpointCreate,
) -> dict[str, Any]:
    policy = service.ssrf_policy(settings.webhook_allowed_networks, settings.webhook_allow_http)
    await service.validate_url(body.url, policy)
    endpoint, secret = await service.create_endpoint(
        session,
        province_code=province,
        url=body.url,
        event_types=list(body.event_types),
        agency_codes=body.agency_codes,
        description=body.description,
        box=settings.webhook_secret_box(),
    )
    return {**service.endpoint_view(endpoint), "secret": secret}


@router.get("")
async def list_all(
    principal: AdminDep, session: SessionDep, province: ProvinceDep
) -> dict[str, Any]:
    endpoints = await service.list_endpoints(session, province)
    return {"items": [service.endpoint_view(e) for e in endpoints]}


@router.get("/{endpoint_id}")
async def get(
    principal: AdminDep, session: SessionDep, province: ProvinceDep, endpoint_id: EndpointId
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    return service.endpoint_view(endpoint)


@router.patch("/{endpoint_id}")
async def update(
    principal: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: EndpointUpdate,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        policy = service.ssrf_policy(settings.webhook_allowed_networks, settings.webhook_allow_http)
        await service.validate_url(changes["url"], policy)
    updated = await service.update_endpoint(session, endpoint, changes)
    return service.endpoint_view(updated)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(
    principal: AdminDep, session: SessionDep, province: ProvinceDep, endpoint_id: EndpointId
) -> None:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    await service.delete_endpoint(session, endpoint)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate(
    principal: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: Annotated[Rotation | None, Body()] = None,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    hours = body.grace_hours if body and body.grace_hours is not None else None
    grace = timedelta(hours=settings.webhook_secret_grace_hours if hours is None else hours)
    secret, until = await service.rotate_secret(
        session, endpoint, grace, box=settings.webhook_secret_box()
    )
    return {"id": endpoint.id, "secret": secret, "previous_secrets_valid_until": until.isoformat()}


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    status: DeliveryStatus | None = None,
    event_type: EventType | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await deliveries.list_deliveries(
        session, endpoint_id, status=status, event_type=event_type, limit=limit, cursor=cursor
    )


@router.get("/{endpoint_id}/deliveries/{message_id}")
async def get_delivery(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    message_id: MessageId,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await deliveries.get_delivery(session, endpoint_id, message_id)


@router.get("/{endpoint_id}/attempts")
async def list_attempts(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await deliveries.list_attempts(session, endpoint_id, limit=limit, cursor=cursor)


@router.post(
    "/{endpoint_id}/deliveries/{message_id}/redeliver", status_code=status.HTTP_202_ACCEPTED
)
async def redeliver(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    message_id: MessageId,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    view = await deliveries.redeliver(session, endpoint, message_id)
    request.app.state.dispatcher.wake()
    return view


@router.post("/{endpoint_id}/recover", status_code=status.HTTP_202_ACCEPTED)
async def recover(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: Recovery,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    requeued = await deliveries.recover(session, endpoint, body.since, body.until)
    request.app.state.dispatcher.wake()
    return {"endpoint_id": endpoint.id, "requeued": requeued}


@router.post("/{endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def send_test(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: Annotated[TestEvent | None, Body()] = None,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    sent = await deliveries.send_test_event(session, endpoint, (body or TestEvent()).event_type)
    request.app.state.dispatcher.wake()
    return sent

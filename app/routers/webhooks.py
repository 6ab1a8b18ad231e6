"""Webhook endpoints (admin): register, list, inspect, change, delete, rotate the secret; their
deliveries and attempt log; redeliver one message, recover failed ones, send a test event."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.dependencies import AdminDep, ProvinceDep, SessionDep, SettingsDep
from app.models import DeliveryStatus
from app.schemas.admin import (
    AttemptPage,
    CreatedEndpoint,
    DeliveryDetail,
    DeliveryPage,
    DeliveryView,
    EndpointList,
    EndpointView,
    Recovered,
    RotatedSecret,
    TestSent,
)
from app.schemas.problems import problem_responses
from app.validation import AgencyCode, CursorParam, Moment, Text
from app.webhooks import delivery_admin
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
EndpointId = Annotated[Text, Path(max_length=40)]
MessageId = Annotated[Text, Path(max_length=40)]
Limit = Annotated[int, Query(ge=1, le=500)]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text = Field(min_length=8, max_length=2048)
    event_types: list[EventType] = Field(default_factory=list, description="Empty: every type.")
    agency_codes: list[AgencyCode] = Field(default_factory=list, description="Empty: every agency.")
    description: Text = Field(default="", max_length=512)


class EndpointUpdate(BaseModel):
    """Every field optional (left out: unchanged), none nullable: the document says so
    (``SkipJsonSchema``), and an explicit null is a 422."""

    model_config = ConfigDict(extra="forbid")

    url: Text | SkipJsonSchema[None] = Field(default=None, min_length=8, max_length=2048)
    event_types: list[EventType] | SkipJsonSchema[None] = None
    agency_codes: list[AgencyCode] | SkipJsonSchema[None] = None
    description: Text | SkipJsonSchema[None] = Field(default=None, max_length=512)
    enabled: bool | SkipJsonSchema[None] = None

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

    since: Moment = Field(description="Failed deliveries created at or after this time.")
    until: Moment | None = Field(default=None, description="…and before this one.")


class TestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: EventType = "mismatch.opened"


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours: float | None = Field(default=None, ge=0, le=24 * 30)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedEndpoint,
    summary="Register a webhook endpoint",
    description="A subscriber URL, the event types and agencies it wants (empty: all). The URL "
    "is checked against the SSRF policy now and again at every connection; the `whsec_` secret "
    "is in the answer, once.",
    responses=problem_responses(400, 401, 403, 404, 422, 503, 413, success=201),
)
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


@router.get(
    "",
    response_model=EndpointList,
    summary="List webhook endpoints",
    description="The province's endpoints, without their secrets.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def list_all(
    principal: AdminDep, session: SessionDep, province: ProvinceDep
) -> dict[str, Any]:
    endpoints = await service.list_endpoints(session, province)
    return {"items": [service.endpoint_view(e) for e in endpoints]}


@router.get(
    "/{endpoint_id}",
    response_model=EndpointView,
    summary="One webhook endpoint",
    description="The endpoint, whether it is enabled, and since when it has been failing.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def get(
    principal: AdminDep, session: SessionDep, province: ProvinceDep, endpoint_id: EndpointId
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    return service.endpoint_view(endpoint)


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointView,
    summary="Change a webhook endpoint",
    description="Change the URL (checked again), event types, agencies or description; "
    '`{"enabled": false}` disables it, `true` re-enables it.',
    responses=problem_responses(400, 401, 403, 404, 422, 503, 413),
)
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


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint",
    description="The endpoint, its secrets and its deliveries are deleted.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def delete(
    principal: AdminDep, session: SessionDep, province: ProvinceDep, endpoint_id: EndpointId
) -> None:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    await service.delete_endpoint(session, endpoint)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=RotatedSecret,
    summary="Rotate an endpoint's secret",
    description="A new `whsec_` secret, in the answer once; the previous ones keep signing "
    "until `previous_secrets_valid_until` (`grace_hours`, default WEBHOOK_SECRET_GRACE_HOURS).",
    responses=problem_responses(400, 401, 403, 404, 422, 503, 413),
)
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


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="Deliveries to an endpoint",
    description="What was sent to the endpoint, newest first: status, attempts, next attempt, "
    "last answer. Filter by status or event type; page with `next_cursor`.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def list_deliveries(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    status: DeliveryStatus | None = None,
    event_type: EventType | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await delivery_admin.list_deliveries(
        session, endpoint_id, status=status, event_type=event_type, limit=limit, cursor=cursor
    )


@router.get(
    "/{endpoint_id}/deliveries/{message_id}",
    response_model=DeliveryDetail,
    summary="One delivery",
    description="One message to the endpoint, its payload and every attempt, oldest first.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def get_delivery(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    message_id: MessageId,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await delivery_admin.get_delivery(session, endpoint_id, message_id)


@router.get(
    "/{endpoint_id}/attempts",
    response_model=AttemptPage,
    summary="Attempt log of an endpoint",
    description="Every delivery attempt to the endpoint, newest first: outcome, status code, "
    "duration, the first 1 kB of the answer, the error.",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def list_attempts(
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    await service.get_endpoint(session, province, endpoint_id)
    return await delivery_admin.list_attempts(session, endpoint_id, limit=limit, cursor=cursor)


@router.post(
    "/{endpoint_id}/deliveries/{message_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryView,
    summary="Send one message again",
    description="Queue the message again, whatever its status, with the same `webhook-id`. "
    "409 when the endpoint is disabled or the message is being delivered right now.",
    responses=problem_responses(400, 409, 401, 403, 404, 422, 503),
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
    view = await delivery_admin.redeliver(session, endpoint, message_id)
    request.app.state.dispatcher.wake()
    return view


@router.post(
    "/{endpoint_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Recovered,
    summary="Send failed messages again",
    description="Queue again every failed delivery to the endpoint created in [`since`, "
    "`until`). 409 when the endpoint is disabled.",
    responses=problem_responses(400, 409, 401, 403, 404, 422, 503, 413),
)
async def recover(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: Recovery,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    requeued = await delivery_admin.recover(session, endpoint, body.since, body.until)
    request.app.state.dispatcher.wake()
    return {"endpoint_id": endpoint.id, "requeued": requeued}


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestSent,
    summary="Send a test event",
    description='An example event of the type, marked `"test": true`, to this endpoint only. '
    "409 when the endpoint is disabled.",
    responses=problem_responses(400, 409, 401, 403, 404, 422, 503, 413),
)
async def send_test(
    request: Request,
    principal: AdminDep,
    session: SessionDep,
    province: ProvinceDep,
    endpoint_id: EndpointId,
    body: Annotated[TestEvent | None, Body()] = None,
) -> dict[str, Any]:
    endpoint = await service.get_endpoint(session, province, endpoint_id)
    sent = await delivery_admin.send_test_event(session, endpoint, (body or TestEvent()).event_type)
    request.app.state.dispatcher.wake()
    return sent

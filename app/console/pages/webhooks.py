"""Console pages: webhook endpoints (admin only), their deliveries and each delivery's attempts;
redeliver one message, recover an endpoint's failed ones.

Every read and every action calls the route function of ``app/routers/webhooks.py`` itself, so
the console does exactly what the API does (the dispatcher is woken the same way). A secret is
never read here: the endpoint views the API lists carry none.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import col, func, select

from app.auth import Role
from app.console.deps import FormPageDep, Page, PageDep
from app.domain.values import LOCAL_TZ
from app.errors import BadRequest, Conflict, NotFound
from app.models import DeliveryStatus, WebhookDelivery
from app.routers import webhooks as api
from app.webhooks import endpoints as service

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
_LOCAL_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def _here(page: Page, path: str) -> str:
    """``path`` in the page's province: a deployment serving several names it in the query."""
    if len(page.provinces) < 2:
        return path
    return f"{path}{'&' if '?' in path else '?'}province={page.province}"


def _admin(page: Page) -> None:
    page.nav = "webhooks"
    page.require(Role.ADMIN)


async def _counts_by_endpoint(page: Page, endpoint_ids: list[str]) -> dict[str, dict[str, int]]:
    """Deliveries per endpoint and status (the API has no such list: one GROUP BY here)."""
    counts: dict[str, dict[str, int]] = {endpoint_id: {} for endpoint_id in endpoint_ids}
    if not endpoint_ids:
        return counts
    rows = await page.session.exec(
        select(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status), func.count())
        .where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
        .group_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status))
    )
    for endpoint_id, status, count in rows.all():
        counts[endpoint_id][status] = int(count)
    return counts


@router.get("/console/webhooks", response_class=HTMLResponse)
async def endpoints(page: PageDep) -> HTMLResponse:
    _admin(page)
    listed = await api.list_all(
        principal=page.user.principal, session=page.session, province=page.province
    )
    items: list[dict[str, Any]] = listed["items"]
    return page.render(
        "webhooks.html",
        endpoints=items,
        counts=await _counts_by_endpoint(page, [item["id"] for item in items]),
        statuses=[s.value for s in DeliveryStatus],
    )


def _status_filter(status: str) -> DeliveryStatus | None:
    if not status:
        return None
    try:
        return DeliveryStatus(status)
    except ValueError:
        raise BadRequest(
            f"No delivery status {status!r}; one of {', '.join(s.value for s in DeliveryStatus)}."
        ) from None


async def _endpoint_page(
    page: Page,
    endpoint_id: str,
    *,
    status: str = "",
    cursor: str = "",
    notice: str | None = None,
    problem: str | None = None,
    since: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    principal, session, province = page.user.principal, page.session, page.province
    endpoint = await api.get(
        principal=principal, session=session, province=province, endpoint_id=endpoint_id
    )
    listing = await api.list_deliveries(
        principal=principal,
        session=session,
        province=province,
        endpoint_id=endpoint_id,
        status=_status_filter(status),
        event_type=None,
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    return page.render(
        "webhooks_endpoint.html",
        status_code=status_code,
        endpoint=endpoint,
        counts=(await _counts_by_endpoint(page, [endpoint_id]))[endpoint_id],
        deliveries=listing["items"],
        next_cursor=listing["next_cursor"],
        paged=bool(cursor),
        status=status,
        statuses=[s.value for s in DeliveryStatus],
        notice=notice,
        problem=problem,
        since=since,
    )


@router.get("/console/webhooks/{endpoint_id}", response_class=HTMLResponse)
async def endpoint(
    page: PageDep, endpoint_id: str, status: str = "", cursor: str = "", requeued: str = ""
) -> HTMLResponse:
    _admin(page)
    notice = None
    if requeued.isdigit():
        notice = (
            f"Đã xếp lại hàng {requeued} lần gửi thất bại để gửi lại."
            if page.user.lang == "vi"
            else f"{requeued} failed deliveries queued to be sent again."
        )
    return await _endpoint_page(page, endpoint_id, status=status, cursor=cursor, notice=notice)


def _aware(text: str) -> str:
    """A ``datetime-local`` input's value is a local time without an offset: the province's."""
    text = text.strip()
    if _LOCAL_MOMENT.fullmatch(text):
        return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).isoformat()
    return text


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )


@router.post("/console/webhooks/{endpoint_id}/recover", response_class=HTMLResponse)
async def recover(
    page: FormPageDep,
    endpoint_id: str,
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    _admin(page)
    try:
        body = api.Recovery.model_validate(
            {"since": _aware(since), "until": _aware(until) if until.strip() else None}
        )
    except ValidationError as exc:
        return await _endpoint_page(
            page, endpoint_id, problem=_validation_message(exc), since=since, status_code=422
        )
    try:
        recovered = await api.recover(
            request=page.request,
            principal=page.user.principal,
            session=page.session,
            province=page.province,
            endpoint_id=endpoint_id,
            body=body,
        )
    except (Conflict, BadRequest) as exc:
        return await _endpoint_page(
            page, endpoint_id, problem=exc.detail, since=since, status_code=exc.status
        )
    return RedirectResponse(
        _here(page, f"/console/webhooks/{endpoint_id}?requeued={recovered['requeued']}"),
        status_code=303,
    )


async def _delivery_page(
    page: Page,
    endpoint_id: str,
    message_id: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    principal, session, province = page.user.principal, page.session, page.province
    endpoint = await api.get(
        principal=principal, session=session, province=province, endpoint_id=endpoint_id
    )
    delivery = await api.get_delivery(
        principal=principal,
        session=session,
        province=province,
        endpoint_id=endpoint_id,
        message_id=message_id,
    )
    return page.render(
        "webhooks_delivery.html",
        status_code=status_code,
        endpoint=endpoint,
        delivery=delivery,
        # Vietnamese names as written (tojson would escape them to \u sequences).
        payload_text=json.dumps(delivery["payload"], ensure_ascii=False, indent=2)
        if delivery["payload"] is not None
        else None,
        notice=notice,
        problem=problem,
    )


@router.get("/console/webhooks/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery_by_id(page: PageDep, delivery_id: int) -> Response:
    """A delivery by its row id, sent on to its page under its endpoint (as the API names it)."""
    _admin(page)
    delivery = await page.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id}.")
    await service.get_endpoint(page.session, page.province, delivery.endpoint_id)
    return RedirectResponse(
        _here(page, f"/console/webhooks/{delivery.endpoint_id}/deliveries/{delivery.event_id}"),
        status_code=303,
    )


@router.get("/console/webhooks/{endpoint_id}/deliveries/{message_id}", response_class=HTMLResponse)
async def delivery(
    page: PageDep, endpoint_id: str, message_id: str, redelivered: str = ""
) -> HTMLResponse:
    _admin(page)
    notice = None
    if redelivered:
        notice = (
            "Đã xếp lại hàng tin nhắn này để gửi lại."
            if page.user.lang == "vi"
            else "The message is queued to be sent again."
        )
    return await _delivery_page(page, endpoint_id, message_id, notice=notice)


@router.post(
    "/console/webhooks/{endpoint_id}/deliveries/{message_id}/redeliver",
    response_class=HTMLResponse,
)
async def redeliver(page: FormPageDep, endpoint_id: str, message_id: str) -> Response:
    _admin(page)
    try:
        await api.redeliver(
            request=page.request,
            principal=page.user.principal,
            session=page.session,
            province=page.province,
            endpoint_id=endpoint_id,
            message_id=message_id,
        )
    except Conflict as exc:
        # Disabled endpoint, or the message is being delivered right now: say so on its page.
        return await _delivery_page(
            page, endpoint_id, message_id, problem=exc.detail, status_code=409
        )
    return RedirectResponse(
        _here(page, f"/console/webhooks/{endpoint_id}/deliveries/{message_id}?redelivered=1"),
        status_code=303,
    )

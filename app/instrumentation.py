"""Per-request instrumentation, as one pure ASGI middleware: a request id for every request
(taken from ``X-Request-ID`` when the caller sends a sane one, else new), bound to every log
line written while it is served (uvicorn's access line included) and returned in the response
header and in problem+json; and the request's duration by route template and status."""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import HTTP_REQUEST_SECONDS

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
UNMATCHED = "unmatched"  # a path no route knows: one label, whatever was asked for


def request_id() -> str | None:
    """The id of the request being served, if any."""
    return CURRENT_REQUEST_ID.get()


class RequestInstrumentation:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER)
        rid = offered if offered and _SANE_ID.match(offered) else uuid.uuid4().hex
        token = CURRENT_REQUEST_ID.set(rid)
        bound = structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            HTTP_REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
            structlog.contextvars.reset_contextvars(**bound)
            CURRENT_REQUEST_ID.reset(token)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None

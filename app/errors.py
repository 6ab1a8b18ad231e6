"""Domain errors carry their HTTP meaning; one handler renders them as RFC 9457 problem+json.

ProblemError
├── BadRequest           400  (bad cursor, inconsistent parameters)
├── Unauthorized         401  (missing or unknown API key)
├── Forbidden            403  (key lacks the role)
├── NotFound             404
├── Conflict             409  (another run of the province is active: RunConflict)
└── ServiceUnavailable   503  (a query outran DATABASE_STATEMENT_TIMEOUT_S; Retry-After)

A database error whose query PostgreSQL cancelled (SQLSTATE 57014: statement timeout) is
answered as ServiceUnavailable, and so is a request that found no free pooled connection in
time; never as a 500. The run pipeline's own ``RunConflict`` (app/reconcile/executor.py, no HTTP
there) is answered as the ``Conflict`` that ``run_conflict`` makes of it.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.instrumentation import request_id

if TYPE_CHECKING:
    from app.reconcile.executor import RunConflict

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


class ProblemError(Exception):
    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class ServiceUnavailable(ProblemError):
    status, title, slug = 503, "Service Unavailable", "unavailable"
    retry_after_s = 30

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


def run_conflict(exc: RunConflict) -> Conflict:
    """The 409 of a refused run: its detail, and the active run's id and status as members."""
    return Conflict(exc.detail, **exc.extra)


QUERY_CANCELED = "57014"  # PostgreSQL: statement_timeout, or pg_cancel_backend()


def query_canceled(exc: BaseException) -> bool:
    """Whether PostgreSQL cancelled the statement behind ``exc`` (asyncpg's QueryCanceledError,
    seen through SQLAlchemy's DBAPIError and its adapted driver error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == QUERY_CANCELED:
            return True
        if type(current).__name__ == "QueryCanceledError":
            return True
        following = current.orig if isinstance(current, DBAPIError) else None
        current = following or current.__cause__
    return False


def query_timeout() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The query took too long and was cancelled (DATABASE_STATEMENT_TIMEOUT_S); "
        "retry later, or narrow the request (a shorter period, one agency)."
    )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    rid = request_id()
    if rid:
        body["request_id"] = rid  # the same id as the X-Request-ID header and the log lines
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _domain(request: Request, exc: ProblemError) -> Response:
        # The console (app/console) answers its own pages' errors as pages, not JSON.
        render_page = getattr(request.app.state, "html_problem", None)
        if render_page is not None:
            page = render_page(request, exc)
            if page is not None:
                return cast(Response, page)
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            instance=request.url.path,
            headers=exc.headers(),
            **exc.extra,
        )

    # Imported here: the pipeline module is far heavier than this one, and imports much.
    from app.reconcile.executor import RunConflict

    @app.exception_handler(RunConflict)
    async def _run_conflict(request: Request, exc: RunConflict) -> Response:
        return await _domain(request, run_conflict(exc))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if query_canceled(exc):
            logger.warning("query cancelled on %s %s: %s", request.method, request.url.path, exc)
            return await _domain(request, query_timeout())
        if exc.connection_invalidated:
            # A connection the server had cut (app/db.py pings only idle ones): the pool has
            # dropped it, and a retry gets a new one.
            logger.warning("database connection lost on %s %s", request.method, request.url.path)
            lost = ServiceUnavailable("The database connection was lost; retry.")
            lost.retry_after_s = 1
            return await _domain(request, lost)
        # Not logger.exception: the driver's message and its chained causes carry the server's
        # DETAIL, which quotes row values ("Key (key_hash)=(…) already exists", "Failing row
        # contains (…)"), and the statement's parameters would too. Logged instead: the error's
        # class, SQLSTATE, first line and statement, and where it was raised.
        logger.error(
            "unhandled database error on %s %s: %s\n%s",
            request.method,
            request.url.path,
            database_error_summary(exc),
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        return _internal(request)

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> Response:
        # Every pooled connection stayed busy for the pool's timeout: as unavailable as a
        # cancelled query, and as temporary.
        logger.warning(
            "no database connection for %s %s: %s", request.method, request.url.path, exc
        )
        return await _domain(
            request,
            ServiceUnavailable("Every database connection is busy; retry later."),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(part) for part in err.get("loc", ())],
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['location'])}: {e['message']}" for e in errors)
        return problem(
            422,
            "Unprocessable Content",
            summary or "The request is not valid.",
            slug="validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            _title(exc.status_code),
            str(exc.detail),
            slug=f"http-{exc.status_code}",
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _internal(request)


def _internal(request: Request) -> JSONResponse:
    return problem(
        500,
        "Internal Server Error",
        "An unexpected error occurred; it has been logged.",
        slug="internal",
        instance=request.url.path,
    )


def database_error_summary(exc: DBAPIError) -> str:
    """A database error without any value it could quote: the driver error's class, its
    SQLSTATE, the first line of its message (which names a constraint or a type, not a row)
    and the statement (its parameters are never part of it)."""
    cause: BaseException | None = exc.orig
    sqlstate = None
    while cause is not None and sqlstate is None:
        sqlstate = getattr(cause, "sqlstate", None)
        cause = cause.__cause__
    first_line = (str(exc.orig).splitlines() or [""])[0]
    return (
        f"{type(exc.orig).__name__} (SQLSTATE {sqlstate or 'unknown'}): {first_line} "
        f"[SQL: {exc.statement}]"
    )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

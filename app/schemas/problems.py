"""RFC 9457 problem details, and the ``responses=`` of every route: one helper, used everywhere."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.errors import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"


class ProblemLocation(BaseModel):
    location: list[str] = Field(description="Where: `query`, `path`, `body`, then the field.")
    message: str
    type: str


class Problem(BaseModel):
    """An error, as `application/problem+json` (RFC 9457). Some problems add members: `errors`
    (422), `provinces` (the provinces served), `reason` (a refused webhook URL)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No run 3f0c….",
                    "instance": "/runs/3f0c…",
                }
            ]
        },
    )

    type: str = Field(description="A URI reference naming the kind of problem: /problems/<slug>.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The path that was asked for.")
    errors: list[ProblemLocation] | None = Field(
        default=None, description="422: every invalid parameter or body field."
    )


DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: an invalid cursor, inconsistent parameters, or no `province` when the "
    "deployment serves several (the problem lists them).",
    401: "No API key, or one that is not valid (`WWW-Authenticate: Bearer`).",
    403: "The key lacks the role this needs.",
    404: "Not found (or a province this deployment does not serve).",
    409: "Conflict with the current state.",
    413: "The request body is too large.",
    422: "A parameter or the body is not valid; `errors` says which and why.",
    503: "The database is busy or the query took too long (DATABASE_STATEMENT_TIMEOUT_S); "
    "retry after `Retry-After` seconds.",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
}


def problem_responses(
    *statuses: int,
    descriptions: dict[int, str] | None = None,
    example: Any = None,
    success: int = 200,
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each error status with the shared Problem schema, as
    `application/problem+json` only; ``descriptions`` overrides the generic text of a status.
    ``example``: an example of the ``success`` answer (its schema is the route's
    ``response_model``)."""
    responses: dict[int | str, dict[str, Any]] = {}
    if example is not None:
        responses[success] = {"content": {"application/json": {"example": example}}}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {
            "description": (descriptions or {}).get(status, DESCRIPTIONS.get(status, "Error.")),
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        responses[status] = entry
    return responses


READER = (400, 401, 403, 404, 422, 503)  # a read of one province's data (province, cursor)
ADMIN = (400, 401, 403, 404, 422, 503)


def install_problem_schema(document: dict[str, Any]) -> dict[str, Any]:
    """Put the Problem schema in the document's components, and answer every 422 with it
    instead of FastAPI's HTTPValidationError (app.errors renders validation errors as problems)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["Problem"] = problem
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"]["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
                responses["422"]["description"] = DESCRIPTIONS[422]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document

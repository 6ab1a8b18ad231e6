"""What every exportable endpoint declares alike: the ``format`` parameter, the file media types
of its 200 answer in OpenAPI, and the choice between JSON (cached) and a file (``json_or_file``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, TypeVar

from fastapi import Query, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.exports.negotiate import MEDIA_TYPES, negotiate_format
from app.exports.pages import ListQuery
from app.exports.worklists import Worklist, export_worklist
from app.read.answer_cache import AnswerCache
from app.routers.answers import json_body

Q = TypeVar("Q", bound=ListQuery)

LIST_FORMATS: Final = ("json", "xlsx", "csv", "zip")  # lists mailed per agency
FIGURE_FORMATS: Final = ("json", "xlsx", "csv")
_FILE: Final = {"schema": {"type": "string", "format": "binary"}}
# Paging and the format itself are not filters: a file holds every item under the filters.
_NOT_FILTERS: Final = frozenset({"format", "cursor", "limit"})


def _format_query(formats: Sequence[str]) -> Any:
    # Declared as a string and checked by ``negotiate_format``, so that any format the endpoint
    # does not offer ("pdf", or "zip" on a figure) is the same 400 problem naming those it
    # does; the schema still lists them, as a Literal would.
    offered = ", ".join(f"`{fmt}`" for fmt in formats if fmt != "json")
    per_agency = "; `zip`: one workbook per agency" if "zip" in formats else ""
    return Query(
        alias="format",
        description=f"{offered} for a file of everything under the filters (`csv`: UTF-8 "
        f"with BOM{per_agency}); else the `Accept` header; else JSON.",
        json_schema_extra={"anyOf": [{"type": "string", "enum": list(formats)}, {"type": "null"}]},
    )


FormatParam = Annotated[str | None, _format_query(LIST_FORMATS)]
FigureFormatParam = Annotated[str | None, _format_query(FIGURE_FORMATS)]


def with_exports(
    responses: dict[int | str, dict[str, Any]], formats: Sequence[str] = LIST_FORMATS
) -> dict[int | str, dict[str, Any]]:
    """``responses`` with the file media types added to the 200 answer's JSON."""
    merged = dict(responses)
    ok = dict(merged.get(200, {}))
    content = dict(ok.get("content", {}))
    content.setdefault("application/json", {})
    for fmt in formats:
        if fmt != "json":
            content[MEDIA_TYPES[fmt]] = _FILE
    ok["content"] = content
    merged[200] = ok
    return merged


def chosen_format(request: Request, fmt: str | None, formats: Sequence[str]) -> str:
    """``json`` or the export format asked for (``format`` first, then ``Accept``)."""
    return negotiate_format(fmt, request.headers.get("accept"), formats)


def export_filters(request: Request) -> Mapping[str, str]:
    """The query's filters as the user gave them, printed on the file's summary sheet."""
    return {k: v for k, v in request.query_params.items() if k not in _NOT_FILTERS}


async def json_or_file(
    request: Request,
    session: AsyncSession,
    province_code: str,
    answers: AnswerCache,
    query: Q,
    fmt: str | None,
    worklist: Worklist[Q],
) -> Response:
    """The list's page in JSON (from the answer cache), or every item of it as the file asked
    for (a ZIP where the list is per agency), read in sessions of the export's own: a CSV
    streams on after this request's session closed."""
    chosen = chosen_format(request, fmt, LIST_FORMATS if worklist.zipped else FIGURE_FORMATS)
    if chosen != "json":
        factory = request.app.state.session_factory
        filters = export_filters(request)
        return await export_worklist(factory, province_code, worklist, query, chosen, filters)
    body = await answers.answer(
        session, province_code, query, lambda: worklist.read(session, province_code, query)
    )
    return json_body(body)

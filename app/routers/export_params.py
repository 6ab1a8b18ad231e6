"""What every exportable endpoint declares alike: the ``format`` parameter, the file media types
of its 200 answer in OpenAPI, and the choice between JSON and a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal

from fastapi import Query, Request

from app.exports.negotiate import MEDIA_TYPES, negotiate_format

LIST_FORMATS: Final = ("json", "xlsx", "csv", "zip")  # lists mailed per agency
FIGURE_FORMATS: Final = ("json", "xlsx", "csv")
_FILE: Final = {"schema": {"type": "string", "format": "binary"}}
# Paging and the format itself are not filters: a file holds every item under the filters.
_NOT_FILTERS: Final = frozenset({"format", "cursor", "limit"})

FormatParam = Annotated[
    Literal["json", "xlsx", "csv", "zip"] | None,
    Query(
        alias="format",
        description="`xlsx`, `csv` (UTF-8 with BOM) or, on the lists, `zip` (one workbook per "
        "agency) for a file of everything under the filters; else the `Accept` header; else "
        "JSON.",
    ),
]


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

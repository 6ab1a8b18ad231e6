"""A page's list as a file: the same workbooks the API serves, for a signed-in browser."""

from __future__ import annotations

from fastapi.responses import Response

from app.console.deps import Page
from app.errors import BadRequest
from app.exports.pages import Q
from app.exports.worklists import Worklist, export_worklist

FORMATS = ("xlsx", "csv", "zip")
# Console-only parameters, not filters of the list: kept off the file's summary sheet.
_NOT_FILTERS = frozenset({"province", "tab", "cursor", "format"})


def filters_of(page: Page) -> dict[str, str]:
    return {k: v for k, v in page.request.query_params.items() if k not in _NOT_FILTERS}


def file_format(fmt: str, offered: tuple[str, ...] = ("xlsx", "csv")) -> str:
    if fmt not in offered:
        raise BadRequest(f"Files here are {', '.join(offered)}; not {fmt!r}.")
    return fmt


async def download_list(page: Page, worklist: Worklist[Q], query: Q, fmt: str) -> Response:
    """Every item of the list (not one page of it), read in sessions of the export's own."""
    factory = page.request.app.state.session_factory
    return await export_worklist(factory, page.province, worklist, query, fmt, filters_of(page))

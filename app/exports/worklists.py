"""What every worklist's file shares: the agency and fix columns, the summary's meta, and the
answer itself — the whole list in one workbook or CSV, or one workbook per agency in a ZIP.

The lists (``procedure_lists``, ``dossier_lists``) say which read function, query, columns and
figures; the rows are the JSON pages' items, read by ``pages`` in a session of the export's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from fastapi import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.exports.model import Column, ExportMeta, Figure, Sheet, Text
from app.exports.pages import Q, Read, every_item, per_agency
from app.exports.responses import export_response
from app.models.types import utcnow

AGENCY_COLUMNS: Final = (
    Column("agency_code", "Mã cơ quan", "Agency code", "text", width=18),
    Column("agency_name", "Tên cơ quan", "Agency", "text", width=45),
)


def _fix_field(name: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(row: Mapping[str, Any]) -> Any:
        fix = row.get("fix")
        return fix[name] if fix else None

    return get


def fix_columns(title: Text) -> tuple[Column, ...]:
    """The item's ``fix`` as three columns: the reason's title (headed ``title``), who acts
    and the fix with both sides' values."""
    return (
        Column("title", title.vi, title.en, "text", width=40, get=_fix_field("title")),
        Column(
            "who_acts", "Đơn vị xử lý", "Who acts", "text", width=35, get=_fix_field("who_acts")
        ),
        Column("fix", "Cách khắc phục", "The fix", "text", width=90, get=_fix_field("fix")),
    )


@dataclass(frozen=True, slots=True)
class RunStamp:
    """The run a list stands on, printed on the file's summary."""

    run_id: str | None = None
    finished_at: datetime | str | None = None  # ISO text as a JSON page has it, or a moment

    def moment(self) -> datetime | None:
        at = self.finished_at
        return datetime.fromisoformat(at) if isinstance(at, str) else at


T = TypeVar("T")
# What an export learns of its list before the rows: (session, province, query, first page).
Describe = Callable[[AsyncSession, str, Q, Any], Awaitable[T]]


def from_page(read: Callable[[Any], T]) -> Describe[Any, T]:
    """A ``Describe`` that reads only the list's first page."""

    async def describe(session: AsyncSession, province_code: str, query: Any, page: Any) -> T:
        return read(page)

    return describe


def _same(query: Q) -> Q:
    return query


@dataclass(frozen=True, slots=True)
class Worklist(Generic[Q]):
    """One list as a file: the read behind its JSON pages, its title and file name, its columns
    (which may depend on the query: its view, its language), the figures of its summary and the
    run it stands on (both from the list's first page); with ``agencies``, a ZIP of one
    workbook per agency the list holds under the query's filters (``query`` then has
    ``agency`` and ``include_descendants``, and ``zip_query`` is the query its rows are read
    with)."""

    read: Read[Q]
    title: Text
    stem: str  # the file's name before "-<province>.<format>", in ASCII
    columns: Callable[[Q], Sequence[Column]]
    figures: Describe[Q, Sequence[Figure]]
    run: Describe[Q, RunStamp]
    agencies: Describe[Q, Iterable[str]] | None = None
    zip_query: Callable[[Q], Q] = _same

    @property
    def zipped(self) -> bool:
        return self.agencies is not None


def agency_group(row: Mapping[str, Any]) -> tuple[str, str]:
    """The ZIP's group of a row: its agency's code and readable name."""
    code = row.get("agency_code") or ""
    return code, row.get("agency_name") or code


async def export_worklist(
    factory: SessionFactory,
    province_code: str,
    worklist: Worklist[Q],
    query: Q,
    fmt: str,
    filters: Mapping[str, str],
) -> Response:
    """``fmt`` (xlsx, csv; zip if the list has ``agencies``) of every item of ``query``'s list.
    The ZIP reads each agency's items alone, one agency after the other, one workbook each."""
    if fmt == "zip" and worklist.agencies is not None:
        query = worklist.zip_query(query)
    async with factory() as session:
        head = await worklist.read(session, province_code, replace(query, limit=1, cursor=None))
        run = await worklist.run(session, province_code, query, head)
        figures = await worklist.figures(session, province_code, query, head)
        if fmt == "zip" and worklist.agencies is not None:
            agencies = await worklist.agencies(session, province_code, query, head)
            rows = per_agency(factory, province_code, worklist.read, query, agencies)
        else:
            rows = every_item(factory, province_code, worklist.read, query)
    meta = ExportMeta(
        title_vi=worklist.title.vi,
        title_en=worklist.title.en,
        province_code=province_code,
        run_id=run.run_id,
        data_as_of=run.moment(),
        generated_at=utcnow(),
        filters=filters,
        figures=figures,
    )
    sheet = Sheet(worklist.title.vi, worklist.title.en, worklist.columns(query), rows)
    return await export_response(
        fmt,
        meta,
        [sheet],
        f"{worklist.stem}-{province_code}",
        query.lang,
        group_of=agency_group if fmt == "zip" else None,
    )

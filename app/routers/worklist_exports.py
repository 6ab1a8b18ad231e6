"""The procedure worklists as files: one workbook, a CSV, or a ZIP of one workbook per agency.

The rows are the same read models the JSON pages hold (``app.read.procedures``), read page by
page in a session of the export's own, so a CSV can stream after the request's session closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from fastapi import Response
from sqlmodel import col, select

from app.db import SessionFactory
from app.exports.model import Column, ExportMeta, Sheet
from app.exports.responses import export_response
from app.models import ProcedureSnapshot
from app.models.types import utcnow
from app.read.kpi import hierarchy
from app.read.procedures import ConfigurationsQuery, configurations
from app.read.visibility import agency_set

PAGE: Final = 1000


def _joined(key: str) -> Any:
    def get(row: Mapping[str, Any]) -> str:
        return "\n".join(str(fix[key]) for fix in row.get("fixes") or [])

    return get


CONFIGURATION_COLUMNS: Final = (
    Column("procedure_code", "Mã TTHC", "Procedure code", "text", width=14),
    Column("procedure_name", "Tên thủ tục hành chính", "Procedure", "text", width=60),
    Column("agency_code", "Mã cơ quan", "Agency code", "text", width=18),
    Column("agency_name", "Tên cơ quan", "Agency", "text", width=45),
    Column("level", "Cấp", "Level", "text", width=8),
    Column("reasons", "Mã lý do", "Reason codes", "text", width=28),
    Column(
        "titles", "Lý do chưa đồng bộ", "Why not synced", "text", width=50, get=_joined("title")
    ),
    Column("who_acts", "Đơn vị xử lý", "Who acts", "text", width=35, get=_joined("who_acts")),
    Column("fix", "Cách khắc phục", "The fix", "text", width=90, get=_joined("fix")),
    Column("first_seen_at", "Phát hiện từ", "First seen", "datetime"),
)
PROCEDURE_COLUMNS: Final = (
    Column("procedure_code", "Mã TTHC", "Procedure code", "text", width=14),
    Column("procedure_name", "Tên thủ tục hành chính", "Procedure", "text", width=60),
    Column("level", "Cấp", "Level", "text", width=8),
    Column("configurations", "Số cấu hình", "Configurations", "int"),
    Column("synced_configurations", "Cấu hình đã đồng bộ", "Synced configurations", "int"),
    Column(
        "agencies",
        "Cơ quan chưa đồng bộ",
        "Agencies not synced",
        "text",
        width=60,
        get=lambda row: "; ".join(
            f"{a['agency_name'] or a['agency_code']} ({a['agency_code']})"
            for a in row["agencies"]
            if not a["synced"]
        ),
    ),
)


async def _pages(
    factory: SessionFactory, province_code: str, query: ConfigurationsQuery
) -> AsyncIterator[dict[str, Any]]:
    page_query = replace(query, limit=PAGE, cursor=None)
    async with factory() as session:
        while True:
            page = await configurations(session, province_code, page_query)
            for item in page.items:
                yield item.model_dump(mode="json")
            if not page.next_cursor:
                return
            page_query = replace(page_query, cursor=page.next_cursor)


async def _agencies(
    factory: SessionFactory, province_code: str, query: ConfigurationsQuery
) -> list[str]:
    """The agencies the export covers, in the order their workbooks are written."""
    async with factory() as session:
        tree = await hierarchy(session, province_code)
        conditions = [
            col(ProcedureSnapshot.province_code) == province_code,
            col(ProcedureSnapshot.kind) == "configuration",
            col(ProcedureSnapshot.synced).is_(query.synced),
        ]
        if query.level:
            conditions.append(col(ProcedureSnapshot.level) == query.level)
        chosen = agency_set(tree, query.agency, query.include_descendants, query.visible)
        if chosen is not None:
            conditions.append(col(ProcedureSnapshot.agency_code).in_(chosen))
        rows = await session.exec(
            select(col(ProcedureSnapshot.agency_code)).where(*conditions).distinct()
        )
        return sorted(rows.all())


async def _per_agency(
    factory: SessionFactory, province_code: str, query: ConfigurationsQuery, agencies: list[str]
) -> AsyncIterator[dict[str, Any]]:
    # One agency after the other, so each agency's workbook is written whole before the next.
    for agency in agencies:
        one = replace(query, agency=agency, include_descendants=False)
        async for row in _pages(factory, province_code, one):
            yield row


async def export_configurations(
    factory: SessionFactory,
    province_code: str,
    query: ConfigurationsQuery,
    fmt: str,
    filters: Mapping[str, str],
) -> Response:
    async with factory() as session:
        head = await configurations(session, province_code, replace(query, limit=1, cursor=None))
    synced = query.synced
    title_vi = "TTHC có thu phí đã đồng bộ" if synced else "TTHC có thu phí chưa đồng bộ"
    title_en = "Fee-bearing procedures synced" if synced else "Fee-bearing procedures not synced"
    figures: list[Any] = []
    for level, figure in head.summary.items():
        figures.append(
            (f"Cấp {level}: TTHC có thu phí", f"Level {level}: fee-bearing", figure.fee_bearing)
        )
        figures.append((f"Cấp {level}: đã đồng bộ", f"Level {level}: synced", figure.synced))
        figures.append(
            (f"Cấp {level}: chưa đồng bộ", f"Level {level}: not synced", figure.not_synced)
        )
        figures.append((f"Cấp {level}: tỷ lệ", f"Level {level}: rate", figure.rate, "rate"))
    as_of = head.as_of
    meta = ExportMeta(
        title_vi=title_vi,
        title_en=title_en,
        province_code=province_code,
        run_id=as_of.run_id if as_of else None,
        data_as_of=datetime.fromisoformat(as_of.finished_at)
        if as_of and as_of.finished_at
        else None,
        generated_at=utcnow(),
        filters=filters,
        figures=figures,
    )
    columns: tuple[Column, ...] = (
        PROCEDURE_COLUMNS if query.view == "procedure" else CONFIGURATION_COLUMNS
    )
    if synced and query.view != "procedure":
        columns = tuple(c for c in columns if c.key not in {"titles", "who_acts", "fix", "reasons"})
    stem = "tthc-da-dong-bo" if synced else "tthc-chua-dong-bo"
    if fmt == "zip":
        agencies = await _agencies(factory, province_code, query)
        rows = _per_agency(factory, province_code, replace(query, view="configuration"), agencies)
        sheet = Sheet(title_vi, title_en, CONFIGURATION_COLUMNS if not synced else columns, rows)
        return await export_response(
            fmt,
            meta,
            [sheet],
            f"{stem}-{province_code}",
            query.lang,
            group_of=lambda row: (row["agency_code"], row["agency_name"] or row["agency_code"]),
        )
    sheet = Sheet(title_vi, title_en, columns, _pages(factory, province_code, query))
    return await export_response(fmt, meta, [sheet], f"{stem}-{province_code}", query.lang)

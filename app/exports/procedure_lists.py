"""The procedure worklists as files: unsynced and synced configurations (a workbook, a CSV, or
a ZIP of one workbook per agency) and the orphans on the national database (a workbook or CSV).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from app.exports.model import Column, Figure, Text
from app.exports.worklists import AGENCY_COLUMNS, RunStamp, Worklist, fix_columns, from_page
from app.read.procedures import (
    ConfigurationsQuery,
    OrphansQuery,
    configuration_agencies,
    configurations,
    orphan_count,
    orphans_on_national,
)
from app.schemas.procedures import RunRef, UnsyncedPage


def _joined(key: str) -> Callable[[Mapping[str, Any]], str]:
    def get(row: Mapping[str, Any]) -> str:
        return "\n".join(str(fix[key]) for fix in row.get("fixes") or [])

    return get


PROCEDURE_CODE: Final = Column("procedure_code", "Mã TTHC", "Procedure code", "text", width=14)
PROCEDURE_NAME: Final = Column(
    "procedure_name", "Tên thủ tục hành chính", "Procedure", "text", width=60
)
LEVEL: Final = Column("level", "Cấp", "Level", "text", width=8)
FIX_TEXTS: Final = frozenset({"reasons", "titles", "who_acts", "fix"})
CONFIGURATION_COLUMNS: Final = (
    PROCEDURE_CODE,
    PROCEDURE_NAME,
    *AGENCY_COLUMNS,
    LEVEL,
    Column("reasons", "Mã lý do", "Reason codes", "text", width=28),
    Column(
        "titles", "Lý do chưa đồng bộ", "Why not synced", "text", width=50, get=_joined("title")
    ),
    Column("who_acts", "Đơn vị xử lý", "Who acts", "text", width=35, get=_joined("who_acts")),
    Column("fix", "Cách khắc phục", "The fix", "text", width=90, get=_joined("fix")),
    Column("first_seen_at", "Phát hiện từ", "First seen", "datetime"),
)
SYNCED_CONFIGURATION_COLUMNS: Final = tuple(
    c for c in CONFIGURATION_COLUMNS if c.key not in FIX_TEXTS
)
PROCEDURE_COLUMNS: Final = (
    PROCEDURE_CODE,
    PROCEDURE_NAME,
    LEVEL,
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


def _national_payment(key: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(row: Mapping[str, Any]) -> Any:
        info = (row.get("national") or {}).get("payment_info") or {}
        return info.get(key)

    return get


PROVINCIAL_CONFIGURATION: Final = {
    "absent": Text("Không có cấu hình", "No configuration"),
    "without_fees": Text("Có cấu hình, không thu phí", "Configured without fees"),
}


def _provincial_configuration(lang: str) -> Callable[[Mapping[str, Any]], str]:
    def get(row: Mapping[str, Any]) -> str:
        kind = row["provincial_configuration"]
        label = PROVINCIAL_CONFIGURATION.get(kind)
        return label.get("en" if lang == "en" else "vi") if label else kind

    return get


def orphan_columns(lang: str) -> tuple[Column, ...]:
    return (
        PROCEDURE_CODE,
        *AGENCY_COLUMNS,
        Column(
            "provincial_configuration",
            "Trên Hệ thống tỉnh",
            "In the provincial system",
            "text",
            width=28,
            get=_provincial_configuration(lang),
        ),
        Column(
            "account",
            "Số tài khoản (CSDL quốc gia)",
            "Account (national)",
            "text",
            width=20,
            get=_national_payment("account"),
        ),
        Column(
            "bank",
            "Ngân hàng (CSDL quốc gia)",
            "Bank (national)",
            "text",
            width=16,
            get=_national_payment("bank"),
        ),
        Column(
            "beneficiary_name",
            "Đơn vị thụ hưởng (CSDL quốc gia)",
            "Beneficiary (national)",
            "text",
            width=45,
            get=_national_payment("beneficiary_name"),
        ),
        *fix_columns(Text("Lý do", "Reason")),
    )


def _level_figures(page: UnsyncedPage) -> list[Figure]:
    figures: list[Figure] = []
    for level, figure in page.summary.items():
        figures += [
            (f"Cấp {level}: TTHC có thu phí", f"Level {level}: fee-bearing", figure.fee_bearing),
            (f"Cấp {level}: đã đồng bộ", f"Level {level}: synced", figure.synced),
            (f"Cấp {level}: chưa đồng bộ", f"Level {level}: not synced", figure.not_synced),
            (f"Cấp {level}: tỷ lệ", f"Level {level}: rate", figure.rate, "rate"),
        ]
    return figures


def _as_of(page: Any) -> RunStamp:
    """The complete procedure run the first page names."""
    run: RunRef | None = page.as_of
    return RunStamp(run.run_id, run.finished_at) if run else RunStamp()


def _configuration_columns(query: ConfigurationsQuery) -> tuple[Column, ...]:
    if query.view == "procedure":
        return PROCEDURE_COLUMNS
    return SYNCED_CONFIGURATION_COLUMNS if query.synced else CONFIGURATION_COLUMNS


def _configurations(synced: bool) -> Worklist[ConfigurationsQuery]:
    return Worklist(
        read=configurations,
        title=Text("TTHC có thu phí đã đồng bộ", "Fee-bearing procedures synced")
        if synced
        else Text("TTHC có thu phí chưa đồng bộ", "Fee-bearing procedures not synced"),
        stem="tthc-da-dong-bo" if synced else "tthc-chua-dong-bo",
        columns=_configuration_columns,
        figures=from_page(_level_figures),
        run=from_page(_as_of),
        agencies=lambda session, province_code, query, _: configuration_agencies(
            session, province_code, query
        ),
        # The ZIP is per agency: configurations, whatever the view.
        zip_query=lambda query: replace(query, view="configuration"),
    )


SYNCED: Final = _configurations(synced=True)
UNSYNCED: Final = _configurations(synced=False)


async def _orphan_figures(
    session: AsyncSession, province_code: str, query: OrphansQuery, page: Any
) -> list[Figure]:
    count = await orphan_count(session, province_code, query)
    return [("Số cấu hình thừa", "Orphan configurations", count)]


ORPHANS: Final[Worklist[OrphansQuery]] = Worklist(
    read=orphans_on_national,
    title=Text("Thông tin thụ hưởng thừa trên CSDL quốc gia", "Orphans on national"),
    stem="thua-tren-csdl-quoc-gia",
    columns=lambda query: orphan_columns(query.lang),
    figures=_orphan_figures,
    run=from_page(_as_of),
)

"""The figures as files: the agency summary, the online-payment table and the overdue report.

A figure is a few dozen rows already computed for its JSON answer; the file shows the same rows
with Vietnamese headers (or English), its sections as sheets of a workbook (one table in a CSV,
the section as a column), and on the summary sheet the province's totals, the run and the time
the data are from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from fastapi import Response

from app.domain.reasons import reason
from app.exports.model import Column, ExportMeta, Figure, Lang, Sheet, listed
from app.exports.responses import export_response
from app.models.types import utcnow
from app.schemas.agencies import AgencySummary

UNIT_COLUMNS: Final = (
    Column("group", "Mã đơn vị", "Unit code", "text", width=18),
    Column("name", "Tên đơn vị", "Unit", "text", width=45),
)
ONLINE_PAYMENT_COLUMNS: Final = (
    *UNIT_COLUMNS,
    Column("fee_bearing", "Hồ sơ có thu phí", "Fee-bearing dossiers", "int"),
    Column(
        "portal_counted",
        "Thanh toán trực tuyến (Cổng DVCQG ghi nhận)",
        "Paid online (portal-counted)",
        "int",
    ),
    Column("portal_rate", "Tỷ lệ", "Rate", "rate"),
    Column("verified_online", "Thanh toán trực tuyến đã xác minh", "Verified online", "int"),
    Column("verified_rate", "Tỷ lệ đã xác minh", "Verified rate", "rate"),
    Column("target", "Chỉ tiêu", "Target", "rate"),
    Column("met", "Đạt chỉ tiêu", "Met", "bool"),
)
SECTION_COLUMN: Final = Column("section_title", "Nhóm", "Section", "text", width=32)
OVERDUE_COLUMNS: Final = (
    *UNIT_COLUMNS,
    Column("month", "Tháng", "Month", "text", width=9),
    Column("finished", "Hồ sơ đã giải quyết", "Finished", "int"),
    Column("overdue", "Giải quyết quá hạn", "Finished late", "int"),
    Column("rate", "Tỷ lệ quá hạn", "Overdue rate", "rate"),
    Column(
        "change_points",
        "Thay đổi so với tháng trước (điểm %)",
        "Change against the previous month (points)",
        "decimal",
    ),
    Column("open_past_due", "Chưa giải quyết, đã quá hạn", "Open past due", "int"),
)
LEVEL_NAMES: Final[Mapping[str, tuple[str, str]]] = {
    "tinh": ("Cấp tỉnh", "Province level"),
    "huyen": ("Cấp huyện", "District level"),
    "xa": ("Cấp xã", "Commune level"),
}


def _level_title(level: str, lang: Lang) -> str:
    vi, en = LEVEL_NAMES.get(level, (level or "(không rõ)", level or "(unknown)"))
    return vi if lang == "vi" else en


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _meta(
    title: tuple[str, str],
    province_code: str,
    run_id: str | None,
    as_of: str | None,
    filters: Mapping[str, str],
    figures: Sequence[Figure],
) -> ExportMeta:
    return ExportMeta(
        title_vi=title[0],
        title_en=title[1],
        province_code=province_code,
        run_id=run_id,
        data_as_of=_moment(as_of),
        generated_at=utcnow(),
        filters=filters,
        figures=figures,
    )


def _reason_column(code: str) -> Column:
    title = reason(code).title
    return Column(
        f"reason:{code}",
        title.vi,
        title.en,
        "int",
        width=min(max(len(title.vi), 12), 40),
        get=lambda row: row["reasons"].get(code, 0),
    )


async def export_agency_summary(
    body: AgencySummary, fmt: str, province_code: str, lang: Lang, filters: Mapping[str, str]
) -> Response:
    procedures = body.view == "procedure"
    unit = "TTHC" if procedures else "cấu hình"
    unit_en = "procedures" if procedures else "configurations"
    columns = (
        Column("agency_code", "Mã cơ quan", "Agency code", "text", width=18),
        Column("agency_name", "Tên cơ quan", "Agency", "text", width=45),
        Column(
            "level",
            "Cấp thực hiện",
            "Level",
            "text",
            width=14,
            get=lambda row: _level_title(row["level"], lang),
        ),
        Column("fee_bearing", f"Số {unit} có thu phí", f"Fee-bearing {unit_en}", "int"),
        Column("synced", "Đã đồng bộ", "Synced", "int"),
        Column("not_synced", "Chưa đồng bộ", "Not synced", "int"),
        Column("rate", "Tỷ lệ đồng bộ", "Sync rate", "rate"),
        *(_reason_column(code) for code in body.reason_titles),
    )
    figures: list[Figure] = []
    for level, figure in body.province.items():
        vi, en = LEVEL_NAMES.get(level, (level, level))
        figures += [
            (f"{vi}: TTHC có thu phí", f"{en}: fee-bearing procedures", figure.fee_bearing),
            (f"{vi}: đã đồng bộ", f"{en}: synced", figure.synced),
            (f"{vi}: chưa đồng bộ", f"{en}: not synced", figure.not_synced),
            (f"{vi}: tỷ lệ", f"{en}: rate", figure.rate, "rate"),
        ]
    meta = _meta(
        (
            f"Tình hình đồng bộ TTHC có thu phí theo cơ quan (tính theo {unit})",
            f"Fee-bearing procedure sync per agency (counted in {unit_en})",
        ),
        province_code,
        body.as_of.run_id if body.as_of else None,
        body.as_of.finished_at if body.as_of else None,
        filters,
        figures,
    )
    rows = [item.model_dump(mode="json") for item in body.items]
    sheet = Sheet("Theo cơ quan", "Per agency", columns, listed(rows))
    return await export_response(fmt, meta, [sheet], f"tong-hop-co-quan-{province_code}", lang)


async def export_online_payment(
    body: Mapping[str, Any], fmt: str, province_code: str, lang: Lang, filters: Mapping[str, str]
) -> Response:
    province = body["province"]
    figures: list[Figure] = [
        ("Từ ngày", "From", body["from"], "date"),
        ("Đến ngày", "To", body["to"], "date"),
        ("Chỉ tiêu", "Target", body["target"], "rate"),
        ("Toàn tỉnh: hồ sơ có thu phí", "Province: fee-bearing", province["fee_bearing"]),
        (
            "Toàn tỉnh: thanh toán trực tuyến",
            "Province: paid online",
            province["portal_counted"],
        ),
        ("Toàn tỉnh: tỷ lệ", "Province: rate", province["portal_rate"], "rate"),
    ]
    for section in body["sections"]:
        figures.append(
            (
                f"{section['title']}: đạt chỉ tiêu",
                f"{section['title']}: met the target",
                f"{section['met']}/{section['units']}",
            )
        )
    coverage = body["coverage"]
    meta = _meta(
        ("Tỷ lệ thanh toán trực tuyến", "Online payment rate"),
        province_code,
        coverage["run_id"],
        coverage["as_of"],
        filters,
        figures,
    )
    if not body["sections"] or fmt == "csv":
        rows = [
            {**item, "section_title": section["title"]}
            for section in body["sections"]
            for item in section["items"]
        ] or list(body["items"])
        columns = (
            (SECTION_COLUMN, *ONLINE_PAYMENT_COLUMNS)
            if body["sections"]
            else (ONLINE_PAYMENT_COLUMNS)
        )
        sheets = [Sheet("Tỷ lệ TTTT", "Online payment", columns, listed([*rows, province]))]
    else:
        sheets = [
            Sheet(
                section["title"], section["title"], ONLINE_PAYMENT_COLUMNS, listed(section["items"])
            )
            for section in body["sections"]
        ]
        sheets.append(Sheet("Toàn tỉnh", "Province", ONLINE_PAYMENT_COLUMNS, listed([province])))
    return await export_response(fmt, meta, sheets, f"thanh-toan-truc-tuyen-{province_code}", lang)


def _overdue_rows(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"group": group["group"], "name": group["name"], **month} for month in group["months"]]


async def export_overdue(
    body: Mapping[str, Any], fmt: str, province_code: str, lang: Lang, filters: Mapping[str, str]
) -> Response:
    figures: list[Figure] = []
    for month in body["province"]:
        figures += [
            (f"{month['month']}: đã giải quyết", f"{month['month']}: finished", month["finished"]),
            (f"{month['month']}: quá hạn", f"{month['month']}: overdue", month["overdue"]),
            (f"{month['month']}: tỷ lệ", f"{month['month']}: rate", month["rate"], "rate"),
        ]
    coverage = body["coverage"]
    meta = _meta(
        ("Hồ sơ giải quyết quá hạn theo tháng", "Overdue dossiers per month"),
        province_code,
        coverage["run_id"],
        coverage["as_of"],
        filters,
        figures,
    )
    province = {"group": "province", "name": "Toàn tỉnh", "months": body["province"]}
    rows = [row for group in [*body["items"], province] for row in _overdue_rows(group)]
    sheet = Sheet("Quá hạn theo tháng", "Overdue per month", OVERDUE_COLUMNS, listed(rows))
    return await export_response(fmt, meta, [sheet], f"qua-han-{province_code}", lang)

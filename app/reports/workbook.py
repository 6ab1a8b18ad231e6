"""A frozen month's report as a workbook, made from its frozen body (and the previous one's) only.

The workbook's creation date is the report's ``frozen_at`` and its rows come from the stored
bodies, so the same two frozen rows give the same file, byte for byte, however often it is asked
for. Sheets: per level, per agency, online payment of the departments (CapDonVi 1) and of the
districts (CapDonVi 2) worst first, overdue per unit, and the change against the previous frozen
month. Changes in points are plain numbers with two decimals (-2.16).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from fastapi import Response

from app.exports.model import Column, ExportMeta, Lang, Sheet, listed
from app.exports.responses import export_response
from app.reports.change import level_order, report_change

LEVEL_COLUMNS: Final = (
    Column("level", "Cấp thực hiện", "Level", "text", width=14),
    Column("fee_bearing", "TTHC có thu phí", "Fee-bearing procedures", "int"),
    Column("synced", "Đã đồng bộ", "Synced", "int"),
    Column("not_synced", "Chưa đồng bộ", "Not synced", "int"),
    Column("rate", "Tỷ lệ đồng bộ", "Sync rate", "rate"),
)
AGENCY_COLUMNS: Final = (
    Column("agency_code", "Mã cơ quan", "Agency code", "text", width=18),
    Column("agency_name", "Tên cơ quan", "Agency", "text", width=45),
    Column("agency_level", "Cấp đơn vị", "Agency level", "int"),
    Column("level", "Cấp thực hiện", "Level", "text", width=14),
    Column("fee_bearing", "TTHC có thu phí", "Fee-bearing procedures", "int"),
    Column("synced", "Đã đồng bộ", "Synced", "int"),
    Column("not_synced", "Chưa đồng bộ", "Not synced", "int"),
    Column("rate", "Tỷ lệ đồng bộ", "Sync rate", "rate"),
    Column(
        "reasons",
        "Lý do chưa đồng bộ (số TTHC)",
        "Why not synced (procedures)",
        "text",
        width=60,
        get=lambda row: "; ".join(f"{code}: {n}" for code, n in sorted(row["reasons"].items())),
    ),
)
PAYMENT_COLUMNS: Final = (
    Column("group", "Mã đơn vị", "Unit code", "text", width=18),
    Column("name", "Tên đơn vị", "Unit", "text", width=45),
    Column("fee_bearing", "Hồ sơ có phí trong tháng", "Fee-bearing dossiers (month)", "int"),
    Column("portal_counted", "Thanh toán trực tuyến (tháng)", "Paid online (month)", "int"),
    Column("verified_online", "Đã đối chiếu (tháng)", "Verified online (month)", "int"),
    Column("portal_rate", "Tỷ lệ (tháng)", "Rate (month)", "rate"),
    Column("verified_rate", "Tỷ lệ đối chiếu (tháng)", "Verified rate (month)", "rate"),
    Column("ytd_fee_bearing", "Hồ sơ có phí lũy kế năm", "Fee-bearing dossiers (year)", "int"),
    Column("ytd_portal_counted", "Thanh toán trực tuyến lũy kế", "Paid online (year)", "int"),
    Column("ytd_portal_rate", "Tỷ lệ lũy kế năm", "Rate (year to date)", "rate"),
    Column("target", "Chỉ tiêu", "Target", "rate"),
    Column("met", "Đạt chỉ tiêu (lũy kế)", "Target met (year to date)", "bool"),
)
OVERDUE_COLUMNS: Final = (
    Column("group", "Mã đơn vị", "Unit code", "text", width=18),
    Column("name", "Tên đơn vị", "Unit", "text", width=45),
    Column("finished", "Hồ sơ đã giải quyết", "Finished", "int"),
    Column("overdue", "Giải quyết quá hạn", "Finished late", "int"),
    Column("rate", "Tỷ lệ quá hạn", "Overdue rate", "rate"),
    Column(
        "change",
        "Thay đổi so với tháng trước (điểm %)",
        "Change on the month before (points)",
        "decimal",
        get=lambda row: row["change_points"],
    ),
    Column("open_past_due", "Tồn quá hạn cuối tháng", "Open past due at month end", "int"),
)
CHANGE_COLUMNS: Final = (
    Column("section", "Mục", "Section", "text", width=28),
    Column("code", "Mã", "Code", "text", width=18),
    Column("name", "Tên", "Name", "text", width=45),
    Column("level", "Cấp thực hiện", "Level", "text", width=12),
    Column("previous_rate", "Tỷ lệ tháng trước", "Rate, previous month", "rate"),
    Column("rate", "Tỷ lệ tháng này", "Rate, this month", "rate"),
    Column(
        "points",
        "Thay đổi tỷ lệ (điểm %)",
        "Rate change (points)",
        "decimal",
    ),
    Column("previous_count", "Số tháng trước", "Count, previous month", "int"),
    Column("count", "Số tháng này", "Count, this month", "int"),
    Column("count_change", "Thay đổi số", "Count change", "int"),
)
# Each section of the change sheet: its title, the rate and the count it compares.
_SECTIONS: Final = {
    "levels": ("Đồng bộ theo cấp: tỷ lệ, số chưa đồng bộ", "Sync per level: rate, not synced"),
    "agencies": (
        "Đồng bộ theo cơ quan: tỷ lệ, số chưa đồng bộ",
        "Sync per agency: rate, not synced",
    ),
    "online_payment": (
        "Thanh toán trực tuyến (tháng): tỷ lệ, hồ sơ có phí",
        "Online payment (month): rate, fee-bearing dossiers",
    ),
    "overdue": ("Quá hạn: tỷ lệ, số quá hạn", "Overdue: rate, finished late"),
}
PROVINCE_VI, PROVINCE_EN = "Toàn tỉnh", "Whole province"


def _levels(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The levels as the letters list them (tinh, huyen, xa): the body's keys are sorted."""
    levels: Mapping[str, Mapping[str, Any]] = body["procedures"]["levels"]
    return sorted(levels.items(), key=lambda item: level_order(item[0]))


def _payment_rows(body: Mapping[str, Any], level: int | None) -> list[dict[str, Any]]:
    """The top-level units of ``level`` (``None``: neither 1 nor 2), with the month's figures
    and the year's, worst first by the year's rate (the target is a year's)."""
    payment = body["online_payment"]
    months = {item["group"]: item for item in payment["month"]["items"]}
    years = {item["group"]: item for item in payment["year_to_date"]["items"]}
    rows = []
    for group in set(months) | set(years):
        month, year = months.get(group, {}), years.get(group, {})
        unit_level = year.get("agency_level", month.get("agency_level"))
        if (level is None and unit_level in (1, 2)) or (level is not None and unit_level != level):
            continue
        rows.append(
            {
                "group": group,
                "name": year.get("name") or month.get("name"),
                "fee_bearing": month.get("fee_bearing", 0),
                "portal_counted": month.get("portal_counted", 0),
                "verified_online": month.get("verified_online", 0),
                "portal_rate": month.get("portal_rate"),
                "verified_rate": month.get("verified_rate"),
                "ytd_fee_bearing": year.get("fee_bearing", 0),
                "ytd_portal_counted": year.get("portal_counted", 0),
                "ytd_portal_rate": year.get("portal_rate"),
                "target": payment["target"],
                "met": bool(year.get("met")),
            }
        )
    rows.sort(
        key=lambda row: (
            row["ytd_portal_rate"] if row["ytd_portal_rate"] is not None else 2,
            row["group"],
        )
    )
    return rows


def _overdue_rows(body: Mapping[str, Any], lang: Lang) -> list[dict[str, Any]]:
    overdue = body["overdue"]
    rows = []
    for group, name, series in [
        ("province", PROVINCE_VI if lang == "vi" else PROVINCE_EN, overdue["province"]),
        *((item["group"], item["name"], item["months"]) for item in overdue["items"]),
    ]:
        if series:
            rows.append({"group": group, "name": name, **series[0]})
    return rows


def _change_rows(change: Mapping[str, Any] | None, lang: Lang) -> list[dict[str, Any]]:
    if change is None:
        return []
    titles = {key: vi if lang == "vi" else en for key, (vi, en) in _SECTIONS.items()}
    province = PROVINCE_VI if lang == "vi" else PROVINCE_EN

    def row(section: str, code: str | None, name: Any, level: Any, values: Mapping[str, Any],
            rate: str, count: str) -> dict[str, Any]:  # fmt: skip
        return {
            "section": titles[section],
            "code": code,
            "name": name,
            "level": level,
            "previous_rate": values[f"previous_{rate}"],
            "rate": values[rate],
            "points": values[f"{rate}_points"],
            "previous_count": values[f"previous_{count}"],
            "count": values[count],
            "count_change": values[f"{count}_change"],
        }

    rows = [
        row("levels", None, province, level, values, "rate", "not_synced")
        for level, values in change["levels"].items()
    ]
    rows += [
        row("agencies", a["agency_code"], a["agency_name"], a["level"], a, "rate", "not_synced")
        for a in change["agencies"]
    ]
    payment = change["online_payment"]["month"]
    rows.append(
        row(
            "online_payment",
            "province",
            province,
            None,
            payment["province"],
            "portal_rate",
            "fee_bearing",
        )
    )
    rows += [
        row("online_payment", i["group"], i["name"], None, i, "portal_rate", "fee_bearing")
        for i in payment["items"]
    ]
    overdue = change["overdue"]
    rows.append(row("overdue", "province", province, None, overdue["province"], "rate", "overdue"))
    rows += [
        row("overdue", i["group"], i["name"], None, i, "rate", "overdue") for i in overdue["items"]
    ]
    return rows


def workbook_sheets(
    body: Mapping[str, Any], previous: Mapping[str, Any] | None, lang: Lang
) -> list[Sheet]:
    change = report_change(body, previous) if previous is not None else None
    levels = [{"level": level, **f} for level, f in _levels(body)]
    sheets = [
        Sheet("Theo cấp", "By level", LEVEL_COLUMNS, listed(levels)),
        Sheet("Theo cơ quan", "By agency", AGENCY_COLUMNS, listed(body["agencies"]["items"])),
        Sheet(
            "TT trực tuyến - Sở, ngành",
            "Online payment - departments",
            PAYMENT_COLUMNS,
            listed(_payment_rows(body, 1)),
        ),
        Sheet(
            "TT trực tuyến - Huyện",
            "Online payment - districts",
            PAYMENT_COLUMNS,
            listed(_payment_rows(body, 2)),
        ),
    ]
    others = _payment_rows(body, None)
    if others:
        sheets.append(
            Sheet("TT trực tuyến - Khác", "Online payment - other", PAYMENT_COLUMNS, listed(others))
        )
    sheets += [
        Sheet("Quá hạn", "Overdue", OVERDUE_COLUMNS, listed(_overdue_rows(body, lang))),
        Sheet(
            "So với tháng trước",
            "Change vs previous month",
            CHANGE_COLUMNS,
            listed(_change_rows(change, lang)),
        ),
    ]
    return sheets


def _figures(body: Mapping[str, Any], previous_month: str | None) -> Sequence[Any]:
    figures: list[Any] = [
        ("Tháng báo cáo", "Report month", body["month"]),
        ("Số liệu đầy đủ", "Figures complete", bool(body["complete"])),
        ("So với tháng", "Compared with month", previous_month or "—"),
    ]
    for reason in body["incomplete"]:
        figures.append(("Chưa đầy đủ", "Incomplete", reason))
    for level, f in _levels(body):
        figures.append(
            (f"Cấp {level}: tỷ lệ đồng bộ", f"Level {level}: sync rate", f["rate"], "rate")
        )
    payment = body["online_payment"]
    figures.append(
        (
            "Thanh toán trực tuyến lũy kế năm (toàn tỉnh)",
            "Online payment, year to date (province)",
            payment["year_to_date"]["province"]["portal_rate"],
            "rate",
        )
    )
    figures.append(("Chỉ tiêu", "Target", payment["target"], "rate"))
    province_overdue = body["overdue"]["province"]
    if province_overdue:
        figures.append(
            (
                "Tỷ lệ quá hạn (toàn tỉnh)",
                "Overdue rate (province)",
                province_overdue[0]["rate"],
                "rate",
            )
        )
    return figures


async def report_workbook(
    body: Mapping[str, Any],
    previous: tuple[str, Mapping[str, Any]] | None,
    lang: Lang,
) -> Response:
    """The report as ``bao-cao-thang-2023-11-H53.xlsx``."""
    as_of = body["procedures"]["as_of"]
    month, province = body["month"], body["province_code"]
    year_text, month_text = month.split("-")
    meta = ExportMeta(
        title_vi=f"Báo cáo tháng {month_text}/{year_text}",
        title_en=f"Monthly report {month}",
        province_code=province,
        run_id=as_of["run_id"] if as_of else None,
        data_as_of=datetime.fromisoformat(as_of["finished_at"])
        if as_of and as_of["finished_at"]
        else None,
        generated_at=datetime.fromisoformat(body["frozen_at"]),
        filters={"month": month},
        figures=_figures(body, previous[0] if previous else None),
    )
    sheets = workbook_sheets(body, previous[1] if previous else None, lang)
    return await export_response("xlsx", meta, sheets, f"bao-cao-thang-{month}-{province}", lang)

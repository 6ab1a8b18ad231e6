"""The dossier worklists as files (``worklists.export_worklist``): mismatches and offline
payments (a workbook, a CSV, or a ZIP of one workbook per agency) and the orphan transactions
(a workbook or a CSV)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.reasons import CATALOGUE
from app.exports.model import Column, Figure, Text
from app.exports.worklists import AGENCY_COLUMNS, RunStamp, Worklist, fix_columns, from_page
from app.models import RunScope
from app.read.dossiers import (
    MismatchesQuery,
    OfflineQuery,
    OrphanTransactionsQuery,
    mismatch_agencies,
    mismatches,
    offline,
    orphan_transactions,
)
from app.runs_history import latest_complete

# The dossier as both lists show it: its code, agency, procedure, dates, fees and payment.
DOSSIER_COLUMNS: Final = (
    Column("code", "Mã hồ sơ", "Dossier code", "text", width=28),
    *AGENCY_COLUMNS,
    Column("procedure_code", "Mã TTHC", "Procedure code", "text", width=14),
    Column("received_at", "Ngày tiếp nhận", "Received", "datetime"),
    Column("due_at", "Hạn trả kết quả", "Due", "datetime"),
    Column("finished_at", "Ngày hoàn thành", "Finished", "datetime"),
    Column("fee_total", "Tổng phí, lệ phí", "Fees total", "money"),
    Column("payment_method", "Hình thức thanh toán", "Payment method", "text", width=16),
)
REASON: Final = Text("Lý do", "Reason")
LINK: Final = Column("link", "Liên kết", "Link", "text", width=40)
MISMATCH_COLUMNS: Final = (
    *DOSSIER_COLUMNS,
    Column("reason", "Mã lý do", "Reason code", "text", width=24),
    *fix_columns(REASON),
    Column("first_seen_at", "Phát hiện từ", "First seen", "datetime"),
    LINK,
)
OFFLINE_COLUMNS: Final = (*DOSSIER_COLUMNS, *fix_columns(REASON), LINK)
ORPHAN_TRANSACTION_COLUMNS: Final = (
    Column("transaction_id", "Mã giao dịch", "Transaction", "text", width=24),
    Column("dossier_code", "Mã hồ sơ trên giao dịch", "Dossier code given", "text", width=28),
    Column("reference", "Mã tham chiếu", "Reference", "text", width=24),
    *AGENCY_COLUMNS,
    Column("amount", "Số tiền", "Amount", "money"),
    Column("at", "Thời điểm giao dịch", "Paid at", "datetime"),
    Column("channel", "Kênh thanh toán", "Channel", "text", width=16),
    *fix_columns(REASON),
)


async def _dossier_run(
    session: AsyncSession, province_code: str, query: Any, page: Any
) -> RunStamp:
    """The latest complete dossier run: the lists show what it (and the runs before it, for
    other periods) left open."""
    complete = await latest_complete(session, province_code, RunScope.DOSSIERS)
    run = complete.run if complete else None
    return RunStamp(run.id, run.finished_at) if run else RunStamp()


def _reason_figures(head: Mapping[str, Any]) -> list[Figure]:
    summary: Mapping[str, int] = head["summary"]
    figures: list[Figure] = [("Tổng số phát hiện", "Findings", sum(summary.values()))]
    for code, count in summary.items():
        entry = CATALOGUE.get(code)
        title = entry.title if entry else Text(code, code)
        figures.append((f"{title.vi} ({code})", f"{title.en} ({code})", count))
    return figures


def _offline_figures(head: Mapping[str, Any]) -> list[Figure]:
    agencies: list[dict[str, Any]] = head["agencies"]
    total = sum(a["paid_offline"] for a in agencies)
    figures: list[Figure] = [("Tổng số hồ sơ thanh toán ngoài Cổng", "Paid offline", total)]
    for agency in agencies:
        name = f"{agency['agency_name'] or agency['agency_code']} ({agency['agency_code']})"
        figures.append((name, name, agency["paid_offline"]))
        for method, count in sorted(agency["by_method"].items()):
            vi, en = method or "(không ghi)", method or "(none)"
            figures.append((f"{name}: {vi}", f"{name}: {en}", count))
    return figures


def _orphan_figures(head: Mapping[str, Any]) -> list[Figure]:
    summary = head["summary"]
    return [
        ("Số giao dịch", "Transactions", summary["transactions"]),
        ("Tổng số tiền", "Amount", summary["amount"], "money"),
    ]


def _offline_agencies(head: Mapping[str, Any]) -> list[str]:
    # The first page's figures are per agency under the same filters: they name the workbooks.
    return sorted(a["agency_code"] for a in head["agencies"])


MISMATCHES: Final[Worklist[MismatchesQuery]] = Worklist(
    read=mismatches,
    title=Text("Hồ sơ sai lệch thanh toán", "Dossier mismatches"),
    stem="ho-so-sai-lech",
    columns=lambda _: MISMATCH_COLUMNS,
    figures=from_page(_reason_figures),
    run=_dossier_run,
    agencies=lambda session, province_code, query, _: mismatch_agencies(
        session, province_code, query
    ),
)
OFFLINE: Final[Worklist[OfflineQuery]] = Worklist(
    read=offline,
    title=Text("Hồ sơ thanh toán ngoài Cổng", "Dossiers paid offline"),
    stem="ho-so-thanh-toan-ngoai-cong",
    columns=lambda _: OFFLINE_COLUMNS,
    figures=from_page(_offline_figures),
    run=_dossier_run,
    agencies=from_page(_offline_agencies),
)
ORPHAN_TRANSACTIONS: Final[Worklist[OrphanTransactionsQuery]] = Worklist(
    read=orphan_transactions,
    title=Text("Giao dịch không khớp hồ sơ", "Orphan transactions"),
    stem="giao-dich-khong-khop-ho-so",
    columns=lambda _: ORPHAN_TRANSACTION_COLUMNS,
    figures=from_page(_orphan_figures),
    run=_dossier_run,
)

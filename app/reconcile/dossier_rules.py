"""Semantics §3, one fee-bearing dossier at a time: pure, so every rule is a unit test.

The run streams dossiers through ``judge_dossier`` in bounded chunks; nothing here holds a
listing. Rule choices where the contract is silent are marked "(choice)" and in the README.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from app.domain.dossiers import (
    NationalDossier,
    PaymentTransaction,
    ProvincialDossier,
    fee_total,
)
from app.domain.normalize import normalize_code

DOSSIER_REASONS: Final = (
    "invalid_dossier_code",
    "dossier_not_synced",
    "status_mismatch",
    "fee_mismatch",
    "payment_not_on_platform",
    "payment_pending",
    "payment_not_recorded",
    "amount_mismatch",
    "online_flag_mismatch",
)
PORTAL: Final = "DVCQG"
OFFLINE_METHODS: Final = frozenset({"QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS"})
PORTAL_COUNTED_FLAGS: Final = frozenset({"1", "2"})

_CODE = re.compile(r"^(?P<agency>.+)-(?P<day>\d{6})-(?P<seq>\d{4})$")


def code_date(code: str) -> date | None:
    """The ``yyMMdd`` of a well-formed ``MaHoSo`` (any agency part), or None."""
    match = _CODE.match(normalize_code(code))
    if not match:
        return None
    day = match["day"]
    try:
        return date(2000 + int(day[0:2]), int(day[2:4]), int(day[4:6]))
    except ValueError:
        return None


def valid_dossier_code(code: str, agency_code: str) -> bool:
    """``<its own MaDonVi>-<yyMMdd, a real date>-<4 digits>`` (codes compared normalized)."""
    match = _CODE.match(normalize_code(code))
    if match is None:
        return False
    return match["agency"] == normalize_code(agency_code) and code_date(code) is not None


def _int(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() else None


def _side(raw: Any, normalized: Any) -> dict[str, Any]:
    return {"raw": raw, "normalized": normalized}


def _fees_raw(dossier: ProvincialDossier | NationalDossier) -> list[str]:
    return [f.amount_raw for f in dossier.fees]


@dataclass(frozen=True)
class DossierJudgement:
    """What §3 says about one fee-bearing dossier, and the flags the figures (§4) count."""

    reasons: tuple[str, ...]
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_counted: bool = False  # N's DuocThanhToanTrucTuyen is "1" or "2"
    verified_online: bool = False  # a verified platform transaction exists
    paid_offline: bool = False
    verified_amount: int = 0
    transaction_ids: tuple[str, ...] = ()


def matching_transactions(
    dossier: ProvincialDossier, candidates: Sequence[PaymentTransaction]
) -> list[PaymentTransaction]:
    """By P's ``MaThamChieu`` when it has one, else by ``MaHoSo`` (codes normalized)."""
    reference = dossier.payment.reference if dossier.payment else None
    if reference:
        return [t for t in candidates if t.reference and t.reference.strip() == reference]
    key = normalize_code(dossier.code)
    return [t for t in candidates if normalize_code(t.dossier_code) == key]


def judge_dossier(
    dossier: ProvincialDossier,
    national: NationalDossier | None,
    transactions: Sequence[PaymentTransaction],
    *,
    pending_cutoff: datetime,
) -> DossierJudgement:
    """Every §3 reason that holds. ``transactions`` are this dossier's (``matching_transactions``);
    ``pending_cutoff`` is the run's start minus the grace window: a pending transaction at or
    after it is still young."""
    reasons: list[str] = []
    evidence: dict[str, dict[str, Any]] = {}
    verified = [t for t in transactions if t.verified]
    pending = [t for t in transactions if t.pending]
    verified_amount = sum(t.amount or 0 for t in verified)
    payment = dossier.payment
    method = payment.method.strip().upper() if payment else None

    if not valid_dossier_code(dossier.code, dossier.agency_code):
        reasons.append("invalid_dossier_code")
        evidence["invalid_dossier_code"] = {
            "field": "MaHoSo",
            "provincial": _side(dossier.code, normalize_code(dossier.code)),
            "expected": f"{dossier.agency_code}-yyMMdd-nnnn",
        }

    flag = national.online_flag.strip() if national else ""
    if national is None:
        reasons.append("dossier_not_synced")
        evidence["dossier_not_synced"] = {"field": "MaHoSo", "national": None}
    else:
        p_status, n_status = _int(dossier.status_raw), _int(national.status_raw)
        if p_status != n_status:
            reasons.append("status_mismatch")
            evidence["status_mismatch"] = {
                "field": "TrangThaiHoSo",
                "provincial": _side(dossier.status_raw, p_status),
                "national": _side(national.status_raw, n_status),
            }
        p_fee, n_fee = fee_total(dossier.fees), fee_total(national.fees)
        if p_fee != n_fee:
            reasons.append("fee_mismatch")
            evidence["fee_mismatch"] = {
                "field": "DanhSachLePhi.Gia",
                "provincial": _side(_fees_raw(dossier), p_fee),
                "national": _side(_fees_raw(national), n_fee),
            }

    young_pending = any(t.at is not None and t.at >= pending_cutoff for t in pending)
    # (choice) a pending transaction without a parseable time counts as old: it cannot prove
    # it is within the grace window.
    old_pending = [t for t in pending if t.at is None or t.at < pending_cutoff]
    if method == PORTAL and not verified and not young_pending:
        reasons.append("payment_not_on_platform")
        evidence["payment_not_on_platform"] = {
            "field": "ThanhToan",
            "provincial": _side(method, payment.reference if payment else None),
            "national": {"verified": 0, "pending": len(pending)},
        }
    if not verified and pending and not young_pending:
        reasons.append("payment_pending")
        newest = max((t.at for t in old_pending if t.at), default=None)
        evidence["payment_pending"] = {
            "field": "TrangThaiGD",
            "national": {
                "pending": sorted(t.transaction_id for t in pending),
                "newest_at": newest.isoformat() if newest else None,
            },
        }
    if verified and method != PORTAL:
        reasons.append("payment_not_recorded")
        evidence["payment_not_recorded"] = {
            "field": "ThanhToan.HinhThuc",
            "provincial": _side(payment.method if payment else None, method),
            "national": {"verified": sorted(t.transaction_id for t in verified)},
        }
    if verified:
        expected = (payment.amount or 0) if payment else fee_total(dossier.fees)
        if verified_amount != expected:
            reasons.append("amount_mismatch")
            evidence["amount_mismatch"] = {
                "field": "SoTien",
                "provincial": _side(
                    payment.amount_raw if payment else _fees_raw(dossier), expected
                ),
                "national": _side([t.amount_raw for t in verified], verified_amount),
            }
    if national is not None and (flag in PORTAL_COUNTED_FLAGS) != bool(verified):
        reasons.append("online_flag_mismatch")
        evidence["online_flag_mismatch"] = {
            "field": "DuocThanhToanTrucTuyen",
            "national": _side(national.online_flag, flag),
            "verified": bool(verified),
        }

    return DossierJudgement(
        reasons=tuple(reasons),
        evidence=evidence,
        portal_counted=flag in PORTAL_COUNTED_FLAGS,
        verified_online=bool(verified),
        paid_offline=not verified and method in OFFLINE_METHODS,
        verified_amount=verified_amount,
        transaction_ids=tuple(sorted(t.transaction_id for t in transactions)),
    )


def is_orphan_transaction(
    transaction: PaymentTransaction, period_start_local: date, matched: bool
) -> bool:
    """A verified payment matching no dossier of the period is an orphan, unless its ``MaHoSo``
    is well formed and dated before the period (it pays an older dossier). The caller decides
    the period of ``ThoiGianGD`` and ``matched``."""
    if not transaction.verified or matched:
        return False
    dated = code_date(transaction.dossier_code)
    return not (dated is not None and dated < period_start_local)

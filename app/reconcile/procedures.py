"""Fee-bearing procedure sync, per procedure configuration (semantics §1). Pure: no I/O.

The caller reads P's ``/v1/procedures``, N's ``thong-tin-thu-huong`` and N's ``thong-ke-tthc``
for the run's period and hands the typed records here. What comes back is everything the run
stores or shows: one result per fee-bearing configuration with every reason that holds, the
orphans on national, the figure per level and the data-quality warnings.

Two kinds of data sit on a result, on purpose:

* ``evidence`` — per reason, only the compared values (raw and normalized) of both sides. The
  caller updates a finding only when its evidence changes, so nothing volatile (``NgayCapNhat``,
  ``LoiDongBo`` text, ``NgayDongBo``, ``KhoBac``) may appear in it.
* ``provincial`` / ``national`` snapshots and ``fingerprint`` — everything shown to a user,
  volatile fields included; the fingerprint lets the caller skip rewriting unchanged items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.domain.records import (
    DataQualityWarning,
    FeeLine,
    NationalPaymentInfo,
    PaymentInfo,
    ProcedureStat,
    ProvincialProcedure,
)
from app.reconcile.normalize import (
    is_known_bank,
    is_valid_account,
    normalize_account,
    normalize_bank,
    normalize_code,
    normalize_name,
)

__all__ = [
    "KNOWN_LEVELS",
    "LISTING_NATIONAL_PAYMENT_INFO",
    "LISTING_PROVINCIAL_PROCEDURES",
    "REASON_CODES",
    "ConfigurationResult",
    "LevelFigure",
    "Orphan",
    "ProcedureReconciliation",
    "configuration_key",
    "national_snapshot",
    "provincial_snapshot",
    "reconcile_procedures",
]

# The §1 table order; reasons on a result are always listed in this order.
REASON_CODES: Final[tuple[str, ...]] = (
    "missing_payment_info",
    "invalid_account",
    "unknown_bank",
    "not_on_national",
    "inactive_on_national",
    "account_mismatch",
    "bank_mismatch",
    "beneficiary_mismatch",
    "treasury_mismatch",
    "sync_pending",
    "sync_failed",
    "no_fee_dossier_synced",
)
_REASON_ORDER: Final[dict[str, int]] = {code: i for i, code in enumerate(REASON_CODES)}

KNOWN_LEVELS: Final[tuple[str, ...]] = ("tinh", "huyen", "xa")
_SYNC_STATUSES: Final[frozenset[str]] = frozenset({"0", "1", "2"})
_ACTIVE_STATUSES: Final[frozenset[str]] = frozenset({"0", "1"})

LISTING_PROVINCIAL_PROCEDURES: Final = "provincial.procedures"
LISTING_NATIONAL_PAYMENT_INFO: Final = "national.payment_info"

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConfigurationResult:
    """One fee-bearing configuration of P and what was found about it."""

    procedure_code: str  # normalized MaTTHC
    agency_code: str  # normalized MaDonVi
    key: str  # f"{procedure_code}|{agency_code}"
    level: str  # CapThucHien, trimmed and lower-cased
    procedure_name: str
    reasons: tuple[str, ...]  # in REASON_CODES order; empty means synced
    evidence: Mapping[str, JsonDict]  # reason → compared values only (deterministic)
    provincial: JsonDict  # display snapshot of P's item, raw values incl. volatile ones
    national: JsonDict | None  # display snapshot of N's item, None when N has none
    fingerprint: str  # sha256 of both snapshots' canonical JSON

    @property
    def synced(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class LevelFigure:
    """The figure for one ``CapThucHien`` level: Y fee-bearing, X synced, rate X ÷ Y."""

    fee_bearing: int  # Y: distinct MaTTHC with a fee-bearing configuration at this level
    synced: int  # X: those whose every fee-bearing configuration at this level is synced
    not_synced: int  # Y − X
    rate: float | None  # round(X ÷ Y, 4); None when Y = 0


@dataclass(frozen=True, slots=True)
class Orphan:
    """An N item whose key matches no fee-bearing configuration of P (no finding, no event)."""

    key: str
    procedure_code: str
    agency_code: str
    national: JsonDict
    has_provincial_configuration: bool  # P has the key, but without a fee above zero


@dataclass(frozen=True, slots=True)
class ProcedureReconciliation:
    configurations: tuple[ConfigurationResult, ...]  # fee-bearing only, sorted by key
    orphans: tuple[Orphan, ...]  # sorted by key
    summary: dict[str, LevelFigure]  # by level: tinh, huyen, xa first, then any other
    warnings: tuple[DataQualityWarning, ...]


def configuration_key(procedure_code: str | None, agency_code: str | None) -> str:
    """The (MaTTHC, MaDonVi) key, codes normalized, as stored on findings."""
    return f"{normalize_code(procedure_code)}|{normalize_code(agency_code)}"


# --- display snapshots --------------------------------------------------------------------


def _fee_snapshot(fee: FeeLine) -> JsonDict:
    return {
        "code": fee.code,
        "name": fee.name,
        "amount_raw": fee.amount_raw,
        "amount": fee.amount,
        "kind": fee.kind,
    }


def _payment_snapshot(info: PaymentInfo | None) -> JsonDict | None:
    if info is None:
        return None
    return {
        "account": info.account,
        "bank": info.bank,
        "beneficiary_name": info.beneficiary_name,
        "treasury_branch": info.treasury_branch,
        "treasury_account": info.treasury_account,
    }


def provincial_snapshot(item: ProvincialProcedure) -> JsonDict:
    """P's item as shown to users (any configuration, fee-bearing or not): raw values."""
    return {
        "procedure_code": item.procedure_code,
        "service_code": item.service_code,
        "procedure_name": item.procedure_name,
        "agency_code": item.agency_code,
        "level": item.level,
        "fees": [_fee_snapshot(fee) for fee in item.fees],
        "payment_info": _payment_snapshot(item.payment_info),
        "updated_at_raw": item.updated_at_raw,
    }


def national_snapshot(item: NationalPaymentInfo) -> JsonDict:
    """N's item as shown to users, volatile fields (LoiDongBo, NgayDongBo …) included."""
    return {
        "procedure_code": item.procedure_code,
        "agency_code": item.agency_code,
        "payment_info": _payment_snapshot(item.payment_info),
        "status": item.status,
        "sync_status": item.sync_status,
        "sync_error": item.sync_error,
        "synced_at_raw": item.synced_at_raw,
        "updated_at_raw": item.updated_at_raw,
    }


def _fingerprint(provincial: JsonDict, national: JsonDict | None) -> str:
    canonical = json.dumps(
        {"provincial": provincial, "national": national},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- evidence -----------------------------------------------------------------------------


def _pair(raw: str | None, normalized: str) -> JsonDict:
    return {"raw": raw, "normalized": normalized}


def _stat_evidence(stat: ProcedureStat | None) -> JsonDict | None:
    if stat is None:
        return None
    # Only the compared count: the other counts move every day and must not update the finding.
    return {
        "procedure_code": normalize_code(stat.procedure_code),
        "fee_dossiers": stat.fee_dossiers,
    }


# --- the rules ----------------------------------------------------------------------------


def _is_fee_bearing(item: ProvincialProcedure) -> bool:
    # A fee that is not an amount counts as 0 (semantics §2 "Money"); it is warned about apart.
    return any((fee.amount or 0) > 0 for fee in item.fees)


def _check(
    item: ProvincialProcedure,
    counterpart: NationalPaymentInfo | None,
    stat: ProcedureStat | None,
) -> dict[str, JsonDict]:
    """Every §1 reason that holds for one fee-bearing configuration, with its evidence."""
    found: dict[str, JsonDict] = {}
    info = item.payment_info

    p_account = normalize_account(info.account) if info else ""
    if info is None or not p_account:
        found["missing_payment_info"] = {
            "field": "account",
            "provincial": {
                "has_payment_info": info is not None,
                "account": _pair(info.account, p_account) if info else None,
            },
        }
    else:
        if not is_valid_account(p_account):
            found["invalid_account"] = {
                "field": "account",
                "provincial": _pair(info.account, p_account),
            }
        p_bank = normalize_bank(info.bank)
        if not is_known_bank(p_bank):
            found["unknown_bank"] = {"field": "bank", "provincial": _pair(info.bank, p_bank)}

    if counterpart is None:
        found["not_on_national"] = {"national": None}
    else:
        status = counterpart.status.strip()
        if status != "1":
            found["inactive_on_national"] = {
                "field": "status",
                "national": _pair(counterpart.status, status),
            }
        if info is not None and p_account:  # else missing_payment_info skips the comparisons
            found.update(_mismatches(info, counterpart.payment_info))
        sync_status = counterpart.sync_status.strip()
        if sync_status == "2":
            # The status only: LoiDongBo's text changes between attempts and is shown instead.
            found["sync_failed"] = {
                "field": "sync_status",
                "national": _pair(counterpart.sync_status, sync_status),
            }
        elif sync_status != "1":
            found["sync_pending"] = {
                "field": "sync_status",
                "national": {
                    **_pair(counterpart.sync_status, sync_status),
                    "known": sync_status in _SYNC_STATUSES,
                },
            }

    if stat is None or stat.fee_dossiers < 1:
        found["no_fee_dossier_synced"] = {"field": "fee_dossiers", "national": _stat_evidence(stat)}
    return found


def _mismatches(provincial: PaymentInfo, national: PaymentInfo) -> dict[str, JsonDict]:
    found: dict[str, JsonDict] = {}
    comparisons = (
        ("account_mismatch", "account", normalize_account),
        ("bank_mismatch", "bank", normalize_bank),
        ("beneficiary_mismatch", "beneficiary_name", normalize_name),
        # normalize_account maps None to "", so null and empty are the same treasury account.
        ("treasury_mismatch", "treasury_account", normalize_account),
    )
    for reason, field, normalize in comparisons:
        p_raw: str | None = getattr(provincial, field)
        n_raw: str | None = getattr(national, field)
        p_norm, n_norm = normalize(p_raw), normalize(n_raw)
        if p_norm != n_norm:
            found[reason] = {
                "field": field,
                "provincial": _pair(p_raw, p_norm),
                "national": _pair(n_raw, n_norm),
            }
    return found


def _provincial_warnings(key: str, item: ProvincialProcedure) -> list[DataQualityWarning]:
    warnings = [
        DataQualityWarning(
            listing=LISTING_PROVINCIAL_PROCEDURES,
            key=key,
            field="Gia",
            value=fee.amount_raw,
            message=f"fee {fee.code!r} is not an amount; counted as 0",
        )
        for fee in item.fees
        if fee.amount is None
    ]
    level = item.level.strip().lower()
    if _is_fee_bearing(item) and level not in KNOWN_LEVELS:
        warnings.append(
            DataQualityWarning(
                listing=LISTING_PROVINCIAL_PROCEDURES,
                key=key,
                field="CapThucHien",
                value=item.level,
                message="unknown level; counted under its own name in the summary",
            )
        )
    return warnings


def _national_warnings(key: str, item: NationalPaymentInfo) -> list[DataQualityWarning]:
    warnings: list[DataQualityWarning] = []
    if item.sync_status.strip() not in _SYNC_STATUSES:
        warnings.append(
            DataQualityWarning(
                listing=LISTING_NATIONAL_PAYMENT_INFO,
                key=key,
                field="TrangThaiDongBo",
                value=item.sync_status,
                message="unknown sync status; counted as sync_pending",
            )
        )
    if item.status.strip() not in _ACTIVE_STATUSES:
        warnings.append(
            DataQualityWarning(
                listing=LISTING_NATIONAL_PAYMENT_INFO,
                key=key,
                field="TrangThai",
                value=item.status,
                message="unknown status; counted as inactive_on_national",
            )
        )
    return warnings


def _summary(configurations: Iterable[ConfigurationResult]) -> dict[str, LevelFigure]:
    # level → MaTTHC → "every fee-bearing configuration at this level is synced so far"
    by_level: dict[str, dict[str, bool]] = {}
    for result in configurations:
        procedures = by_level.setdefault(result.level, {})
        procedures[result.procedure_code] = (
            procedures.get(result.procedure_code, True) and result.synced
        )
    ordered = [lvl for lvl in KNOWN_LEVELS if lvl in by_level]
    ordered += sorted(lvl for lvl in by_level if lvl not in KNOWN_LEVELS)
    summary: dict[str, LevelFigure] = {}
    for level in ordered:
        total = len(by_level[level])
        synced = sum(by_level[level].values())
        summary[level] = LevelFigure(
            fee_bearing=total,
            synced=synced,
            not_synced=total - synced,
            rate=round(synced / total, 4) if total else None,
        )
    return summary


def reconcile_procedures(
    provincial: Iterable[ProvincialProcedure],
    national: Iterable[NationalPaymentInfo],
    stats: Iterable[ProcedureStat],
) -> ProcedureReconciliation:
    """Apply semantics §1 to one province's configurations; see the module docstring."""
    # Keys can repeat (paging is not a snapshot): the later item wins, as in the clients.
    p_by_key: dict[str, ProvincialProcedure] = {}
    for p_item in provincial:
        p_by_key[configuration_key(p_item.procedure_code, p_item.agency_code)] = p_item
    n_by_key: dict[str, NationalPaymentInfo] = {}
    for n_item in national:
        n_by_key[configuration_key(n_item.procedure_code, n_item.agency_code)] = n_item
    stat_by_code: dict[str, ProcedureStat] = {}
    for stat in stats:
        stat_by_code[normalize_code(stat.procedure_code)] = stat

    warnings: list[DataQualityWarning] = []
    results: list[ConfigurationResult] = []
    for key in sorted(p_by_key):
        p_item = p_by_key[key]
        warnings.extend(_provincial_warnings(key, p_item))
        if not _is_fee_bearing(p_item):
            continue
        procedure_code = normalize_code(p_item.procedure_code)
        counterpart = n_by_key.get(key)
        found = _check(p_item, counterpart, stat_by_code.get(procedure_code))
        reasons = tuple(sorted(found, key=_REASON_ORDER.__getitem__))
        p_snapshot = provincial_snapshot(p_item)
        n_snapshot = national_snapshot(counterpart) if counterpart is not None else None
        results.append(
            ConfigurationResult(
                procedure_code=procedure_code,
                agency_code=normalize_code(p_item.agency_code),
                key=key,
                level=p_item.level.strip().lower(),
                procedure_name=p_item.procedure_name,
                reasons=reasons,
                evidence={reason: found[reason] for reason in reasons},
                provincial=p_snapshot,
                national=n_snapshot,
                fingerprint=_fingerprint(p_snapshot, n_snapshot),
            )
        )

    fee_bearing_keys = {result.key for result in results}
    orphans: list[Orphan] = []
    for key in sorted(n_by_key):
        n_item = n_by_key[key]
        warnings.extend(_national_warnings(key, n_item))
        if key in fee_bearing_keys:
            continue
        orphans.append(
            Orphan(
                key=key,
                procedure_code=normalize_code(n_item.procedure_code),
                agency_code=normalize_code(n_item.agency_code),
                national=national_snapshot(n_item),
                has_provincial_configuration=key in p_by_key,
            )
        )

    return ProcedureReconciliation(
        configurations=tuple(results),
        orphans=tuple(orphans),
        summary=_summary(results),
        warnings=tuple(warnings),
    )

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

A run that already holds the last complete run's judgements (``StoredSubject``) judges only what
changed: ``plan_changes`` fingerprints every key's inputs (P's item, N's item, the period's
statistic where it matters, the rules' version) and lists the keys whose fingerprint moved;
``judge_changes`` judges those and carries the others over as they were stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from app.domain.normalize import (
    is_known_bank,
    is_valid_account,
    normalize_account,
    normalize_bank,
    normalize_code,
    normalize_name,
)
from app.domain.records import (
    DataQualityWarning,
    FeeLine,
    ListingName,
    NationalPaymentInfo,
    PaymentInfo,
    ProcedureStat,
    ProvincialProcedure,
)
from app.domain.values import parse_local_time

__all__ = [
    "KNOWN_LEVELS",
    "LISTING_NATIONAL_PAYMENT_INFO",
    "LISTING_PROVINCIAL_PROCEDURES",
    "REASON_CODES",
    "RULES_VERSION",
    "ChangePlan",
    "ConfigurationResult",
    "JudgedChanges",
    "LevelFigure",
    "Orphan",
    "ProcedureReconciliation",
    "Standing",
    "StoredSubject",
    "UnpaidConfiguration",
    "configuration_key",
    "judge_changes",
    "keyed_inputs",
    "listing_warnings",
    "national_snapshot",
    "plan_changes",
    "provincial_from_snapshot",
    "provincial_snapshot",
    "reconcile_procedures",
    "summarize",
]

# Part of every fingerprint: a release that changes a rule (or what a snapshot holds) bumps it,
# and its first run judges every key again instead of trusting judgements made by the old rules.
RULES_VERSION: Final = "2"

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

LISTING_PROVINCIAL_PROCEDURES: Final = ListingName.PROVINCIAL_PROCEDURES
LISTING_NATIONAL_PAYMENT_INFO: Final = ListingName.NATIONAL_PAYMENT_INFO

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
    fingerprint: str  # of everything the result derives from (see plan_changes)

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
    provincial: JsonDict | None = None  # P's item without fees, shown beside N's
    level: str | None = None
    procedure_name: str | None = None
    fingerprint: str | None = None


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


def provincial_from_snapshot(snapshot: JsonDict) -> ProvincialProcedure:
    """P's item back from the snapshot a run stored (``provincial_snapshot`` keeps every field),
    so an incremental run can judge a configuration again without asking P for it."""
    info = snapshot.get("payment_info")
    raw_time = snapshot.get("updated_at_raw") or ""
    return ProvincialProcedure(
        procedure_code=snapshot["procedure_code"],
        service_code=snapshot["service_code"],
        procedure_name=snapshot["procedure_name"],
        agency_code=snapshot["agency_code"],
        level=snapshot["level"],
        fees=tuple(
            FeeLine(fee["code"], fee["name"], fee["amount_raw"], fee["amount"], fee["kind"])
            for fee in snapshot.get("fees") or ()
        ),
        payment_info=PaymentInfo(**info) if isinstance(info, dict) else None,
        updated_at_raw=raw_time,
        updated_at=parse_local_time(raw_time),
    )


# --- fingerprints -------------------------------------------------------------------------


def _digest(value: Any) -> str:
    # orjson with sorted keys is canonical JSON (compact, UTF-8) at a fraction of json.dumps' cost.
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _stat_input(stat: ProcedureStat | None) -> Any:
    # Only what the rule reads: the statistic's other counts move daily and must not make a
    # configuration look changed.
    if stat is not None and stat.fee_dossiers >= 1:
        return True
    return _stat_evidence(stat)


def _subject_fingerprint(
    provincial: str | None, fee_bearing: bool, national: str | None, stat: ProcedureStat | None
) -> str:
    """Everything a key's snapshot row and findings are derived from, and the rules' version."""
    stat_part = (
        orjson.dumps(_stat_input(stat), option=orjson.OPT_SORT_KEYS) if fee_bearing else b"-"
    )
    head = f"{RULES_VERSION}|{provincial or '-'}|{national or '-'}|".encode()
    return hashlib.sha256(head + stat_part).hexdigest()


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


def listing_warnings(
    provincial: Mapping[str, ProvincialProcedure], national: Mapping[str, NationalPaymentInfo]
) -> list[DataQualityWarning]:
    """Data-quality warnings about the items read (P's, then N's, each in key order)."""
    warnings: list[DataQualityWarning] = []
    for key in sorted(provincial):
        warnings.extend(_provincial_warnings(key, provincial[key]))
    for key in sorted(national):
        warnings.extend(_national_warnings(key, national[key]))
    return warnings


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one key stands after a run: judged now or carried over from the stored snapshot."""

    key: str
    kind: str  # "configuration" (fee-bearing, compared) | "unpaid" | "orphan"
    level: str | None
    procedure_code: str
    reasons: tuple[str, ...]

    @property
    def synced(self) -> bool:
        return not self.reasons


def summarize(standings: Iterable[Standing]) -> dict[str, LevelFigure]:
    """The figure per level over every fee-bearing configuration (semantics §1)."""
    # level → MaTTHC → "every fee-bearing configuration at this level is synced so far"
    by_level: dict[str, dict[str, bool]] = {}
    for standing in standings:
        if standing.kind != "configuration":
            continue
        procedures = by_level.setdefault(standing.level or "", {})
        procedures[standing.procedure_code] = (
            procedures.get(standing.procedure_code, True) and standing.synced
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


@dataclass(frozen=True, slots=True)
class StoredSubject:
    """What the last complete run stored for one key: enough to carry it over unchanged."""

    key: str
    kind: str
    level: str | None
    procedure_code: str
    reasons: tuple[str, ...]
    fingerprint: str | None
    has_provincial: bool  # P had an item under this key
    provincial_fingerprint: str | None  # of that item's snapshot; None when unknown


@dataclass(frozen=True, slots=True)
class ChangePlan:
    """Which keys a run must judge again, from the fingerprints of their inputs."""

    fingerprints: Mapping[str, str]  # every key on either side now → its fingerprint
    provincial_fingerprints: Mapping[str, str | None]  # key → P's item's; None: P has none
    provincial_snapshots: Mapping[str, JsonDict]  # P's items read by this run
    national_snapshots: Mapping[str, JsonDict]
    changed: tuple[str, ...]  # keys whose fingerprint differs from the stored one, or new
    gone: tuple[str, ...]  # stored keys on neither side any more
    stored_provincial_needed: tuple[str, ...]  # changed keys whose P item is only in the store
    provincial_keys: int  # P's distinct keys: read now, or (incremental) stored and not re-read


def plan_changes(
    stored: Mapping[str, StoredSubject],
    provincial: Mapping[str, ProvincialProcedure],
    national: Mapping[str, NationalPaymentInfo],
    stats: Mapping[str, ProcedureStat],
    *,
    provincial_is_whole: bool,
) -> ChangePlan:
    """Fingerprint every key's inputs and compare them with what is stored.

    ``provincial`` holds P's items this run read, by key: all of them
    (``provincial_is_whole``), or only those changed since a moment (``updatedSince``); then a
    stored key P did not send still has its stored item, and none is ever gone from P.
    """
    provincial_fps: dict[str, str | None] = {}
    fee_bearing: dict[str, bool] = {}
    snapshots: dict[str, JsonDict] = {}
    for key, item in provincial.items():
        snapshot = provincial_snapshot(item)
        snapshots[key] = snapshot
        provincial_fps[key] = _digest(snapshot)
        fee_bearing[key] = _is_fee_bearing(item)
    if not provincial_is_whole:
        for key, subject in stored.items():
            if subject.has_provincial and key not in provincial_fps:
                # An unknown fingerprint never matches: the key is judged from its stored item.
                provincial_fps[key] = subject.provincial_fingerprint or "unknown"
                fee_bearing[key] = subject.kind == "configuration"
    national_snapshots = {key: national_snapshot(item) for key, item in national.items()}
    national_fps = {key: _digest(snapshot) for key, snapshot in national_snapshots.items()}

    fingerprints: dict[str, str] = {}
    changed: list[str] = []
    for key in provincial_fps.keys() | national_fps.keys():
        procedure_code = key.split("|", 1)[0]
        fingerprint = _subject_fingerprint(
            provincial_fps.get(key),
            fee_bearing.get(key, False),
            national_fps.get(key),
            stats.get(procedure_code),
        )
        fingerprints[key] = fingerprint
        before = stored.get(key)
        if before is None or before.fingerprint != fingerprint:
            changed.append(key)
    changed.sort()
    return ChangePlan(
        fingerprints=fingerprints,
        provincial_fingerprints={key: provincial_fps.get(key) for key in fingerprints},
        provincial_snapshots=snapshots,
        national_snapshots=national_snapshots,
        changed=tuple(changed),
        gone=tuple(sorted(key for key in stored if key not in fingerprints)),
        stored_provincial_needed=tuple(
            key for key in changed if key in provincial_fps and key not in provincial
        ),
        provincial_keys=len(provincial_fps),
    )


@dataclass(frozen=True, slots=True)
class UnpaidConfiguration:
    """A P configuration without a fee above zero and no N item: stored for display only."""

    key: str
    procedure_code: str
    agency_code: str
    level: str
    procedure_name: str
    provincial: JsonDict
    fingerprint: str


@dataclass(frozen=True, slots=True)
class JudgedChanges:
    """The keys a run judged again, and where every key stands (judged or carried over)."""

    configurations: tuple[ConfigurationResult, ...]  # changed fee-bearing, sorted by key
    orphans: tuple[Orphan, ...]  # changed orphans, sorted by key
    unpaid: tuple[UnpaidConfiguration, ...]  # changed, sorted by key
    standings: Mapping[str, Standing]  # every key on either side now


def judge_changes(
    plan: ChangePlan,
    stored: Mapping[str, StoredSubject],
    provincial: Mapping[str, ProvincialProcedure],
    national: Mapping[str, NationalPaymentInfo],
    stats: Mapping[str, ProcedureStat],
) -> JudgedChanges:
    """Apply semantics §1 to the plan's changed keys; ``provincial`` must hold P's item of every
    changed key that has one (read now, or rebuilt from the store)."""
    configurations: list[ConfigurationResult] = []
    orphans: list[Orphan] = []
    unpaid: list[UnpaidConfiguration] = []
    standings: dict[str, Standing] = {}
    for key in plan.changed:
        p_item = provincial.get(key) if plan.provincial_fingerprints.get(key) else None
        n_item = national.get(key)
        procedure_code = key.split("|", 1)[0]
        fingerprint = plan.fingerprints[key]
        p_snapshot = None
        if p_item is not None:
            p_snapshot = plan.provincial_snapshots.get(key) or provincial_snapshot(p_item)
        if p_item is not None and p_snapshot is not None and _is_fee_bearing(p_item):
            found = _check(p_item, n_item, stats.get(procedure_code))
            reasons = tuple(sorted(found, key=_REASON_ORDER.__getitem__))
            result = ConfigurationResult(
                procedure_code=procedure_code,
                agency_code=key.split("|", 1)[1],
                key=key,
                level=p_item.level.strip().lower(),
                procedure_name=p_item.procedure_name,
                reasons=reasons,
                evidence={reason: found[reason] for reason in reasons},
                provincial=p_snapshot,
                national=plan.national_snapshots.get(key),
                fingerprint=fingerprint,
            )
            configurations.append(result)
            standings[key] = Standing(key, "configuration", result.level, procedure_code, reasons)
        elif n_item is not None:
            orphan = Orphan(
                key=key,
                procedure_code=procedure_code,
                agency_code=key.split("|", 1)[1],
                national=plan.national_snapshots[key],
                has_provincial_configuration=p_item is not None,
                provincial=p_snapshot,
                level=p_item.level.strip().lower() if p_item is not None else None,
                procedure_name=p_item.procedure_name if p_item is not None else None,
                fingerprint=fingerprint,
            )
            orphans.append(orphan)
            standings[key] = Standing(key, "orphan", orphan.level, procedure_code, ())
        elif p_item is not None and p_snapshot is not None:
            level = p_item.level.strip().lower()
            unpaid.append(
                UnpaidConfiguration(
                    key=key,
                    procedure_code=procedure_code,
                    agency_code=key.split("|", 1)[1],
                    level=level,
                    procedure_name=p_item.procedure_name,
                    provincial=p_snapshot,
                    fingerprint=fingerprint,
                )
            )
            standings[key] = Standing(key, "unpaid", level, procedure_code, ())
        else:
            raise ValueError(f"{key}: P's stored item is needed to judge it again")
    for key in plan.fingerprints:
        if key not in standings:
            before = stored[key]
            standings[key] = Standing(
                key, before.kind, before.level, before.procedure_code, before.reasons
            )
    return JudgedChanges(
        configurations=tuple(configurations),
        orphans=tuple(orphans),
        unpaid=tuple(unpaid),
        standings=standings,
    )


def keyed_inputs(
    provincial: Iterable[ProvincialProcedure],
    national: Iterable[NationalPaymentInfo],
    stats: Iterable[ProcedureStat],
) -> tuple[
    dict[str, ProvincialProcedure], dict[str, NationalPaymentInfo], dict[str, ProcedureStat]
]:
    """P's and N's items by configuration key, N's statistics by procedure code."""
    # Keys can repeat (paging is not a snapshot): the later item wins, as in the clients.
    p_by_key = {configuration_key(i.procedure_code, i.agency_code): i for i in provincial}
    n_by_key = {configuration_key(i.procedure_code, i.agency_code): i for i in national}
    stat_by_code = {normalize_code(stat.procedure_code): stat for stat in stats}
    return p_by_key, n_by_key, stat_by_code


def reconcile_procedures(
    provincial: Iterable[ProvincialProcedure],
    national: Iterable[NationalPaymentInfo],
    stats: Iterable[ProcedureStat],
) -> ProcedureReconciliation:
    """Apply semantics §1 to every configuration of a province, nothing stored before."""
    p_by_key, n_by_key, stat_by_code = keyed_inputs(provincial, national, stats)
    plan = plan_changes({}, p_by_key, n_by_key, stat_by_code, provincial_is_whole=True)
    judged = judge_changes(plan, {}, p_by_key, n_by_key, stat_by_code)
    return ProcedureReconciliation(
        configurations=judged.configurations,
        orphans=judged.orphans,
        summary=summarize(judged.standings.values()),
        warnings=tuple(listing_warnings(p_by_key, n_by_key)),
    )

"""Ground truth of a scenario: what a correct reconciliation must conclude (semantics §1).

The builder records the reasons it PLANTED on each configuration; nothing here looks at the wire
data, so the truth is an independent oracle for the service under test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Final

from pydantic import BaseModel, ConfigDict

REASONS: Final[tuple[str, ...]] = (
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
LEVELS: Final[tuple[str, ...]] = ("tinh", "huyen", "xa")

Key = tuple[str, str]


class ConfigurationTruth(BaseModel):
    """One fee-bearing configuration; codes are normalized (trimmed, upper-case)."""

    model_config = ConfigDict(frozen=True)

    ma_tthc: str
    ma_don_vi: str
    level: str
    synced: bool
    reasons: list[str]

    @property
    def key(self) -> Key:
        return (self.ma_tthc, self.ma_don_vi)


class LevelSummary(BaseModel):
    fee_bearing: int
    synced: int
    not_synced: int
    rate: float | None


class DataQualityWarning(BaseModel):
    """An item a run must keep but flag; ``source`` is the listing it arrives on."""

    source: str
    ma_tthc: str
    ma_don_vi: str
    field: str
    value: str | None

    @property
    def key(self) -> Key:
        return (self.ma_tthc, self.ma_don_vi)


class ScenarioTruth(BaseModel):
    scenario: str
    seed: int
    province_code: str
    period_start: date
    period_end: date
    configurations: list[ConfigurationTruth]
    summary: dict[str, LevelSummary]
    synced_procedures: dict[str, list[str]]
    not_synced_procedures: dict[str, list[str]]
    reason_counts: dict[str, dict[str, int]]
    orphans_on_national: list[Key]
    non_fee_bearing: list[Key]
    data_quality: list[DataQualityWarning]

    def reasons_by_key(self) -> dict[Key, frozenset[str]]:
        return {c.key: frozenset(c.reasons) for c in self.configurations}

    def data_quality_keys(self) -> set[Key]:
        return {w.key for w in self.data_quality}


def summarize(
    configurations: Iterable[ConfigurationTruth], levels_present: Iterable[str]
) -> tuple[dict[str, LevelSummary], dict[str, list[str]], dict[str, list[str]]]:
    """The per-level figure exactly as semantics §1 defines it, from the planted reasons."""
    by_level: dict[str, dict[str, bool]] = {level: {} for level in levels_present}
    for config in configurations:
        procedures = by_level.setdefault(config.level, {})
        procedures[config.ma_tthc] = procedures.get(config.ma_tthc, True) and config.synced
    summary: dict[str, LevelSummary] = {}
    synced: dict[str, list[str]] = {}
    not_synced: dict[str, list[str]] = {}
    for level in sorted(by_level, key=_level_order):
        procedures = by_level[level]
        total = len(procedures)
        done = sum(procedures.values())
        summary[level] = LevelSummary(
            fee_bearing=total,
            synced=done,
            not_synced=total - done,
            rate=round(done / total, 4) if total else None,
        )
        synced[level] = sorted(code for code, ok in procedures.items() if ok)
        not_synced[level] = sorted(code for code, ok in procedures.items() if not ok)
    return summary, synced, not_synced


def count_reasons(configurations: Iterable[ConfigurationTruth]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for config in configurations:
        counts.setdefault(config.level, Counter()).update(config.reasons)
    return {
        level: {reason: counts[level][reason] for reason in REASONS if counts[level][reason]}
        for level in sorted(counts, key=_level_order)
    }


def _level_order(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)

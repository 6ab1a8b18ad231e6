"""Deterministic scenarios for the upstream simulator, with ground truth by construction.

A scenario is planned first — which procedures exist, which agencies perform them, and which
semantics §1 reasons each fee-bearing configuration must end up with — and only then rendered to
wire items. The rendering plants exactly the planned reasons (and formatting variants that must
NOT count as mismatches), so the truth is what was planned, never what a normalizer computes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from app.domain.values import UPSTREAM_TIME_FORMAT
from app.simulator import geography as geo
from app.simulator.truth import (
    ConfigurationTruth,
    DataQualityWarning,
    ScenarioTruth,
    count_reasons,
    summarize,
)
from app.simulator.variants import (
    ACCOUNT_VARIANTS,
    NAME_VARIANTS,
    SHORT_CODE_BY_BIN,
    account_variant,
    bank_variant,
    code_variant,
    name_variant,
    treasury_dotted,
)

if TYPE_CHECKING:
    from app.simulator.dossiers import DossierSet, DossierSource, DossierTruth

JsonDict = dict[str, Any]

MPI: Final = "missing_payment_info"
IA: Final = "invalid_account"
UB: Final = "unknown_bank"
NON: Final = "not_on_national"
INACTIVE: Final = "inactive_on_national"
AM: Final = "account_mismatch"
BM: Final = "bank_mismatch"
BEN: Final = "beneficiary_mismatch"
TM: Final = "treasury_mismatch"
PENDING: Final = "sync_pending"
FAILED: Final = "sync_failed"
NO_FEE: Final = "no_fee_dossier_synced"

P_PROCEDURES: Final = "provincial.procedures"
N_PAYMENT_INFO: Final = "national.thong-tin-thu-huong"

_SKIPPED_BY_MPI: Final = frozenset({IA, UB, AM, BM, BEN, TM})
_SKIPPED_BY_NON: Final = frozenset({INACTIVE, AM, BM, BEN, TM, PENDING, FAILED})
_TREASURY_BINS: Final = ("970415", "970418", "970405", "970436")
_BANK_BINS: Final = ("970415", "970418", "970405", "970436", "970403", "970422", "970406", "970407")


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    cap: int
    parent: str | None
    beneficiary: str
    account: str  # normalized digits
    treasury_account: bool  # a State Treasury account, shown dotted (3511.0.1104195)
    bank_bin: str
    revenue_account: str | None  # TaiKhoanThuNSNN digits; None → the unit collects no budget
    khobac: str


@dataclass
class ConfigPlan:
    agency: Agency
    level: str
    fee_bearing: bool = True
    reasons: frozenset[str] = frozenset()  # planted; the procedure-wide NO_FEE is added later
    on_national: bool = True  # non-fee configurations only: does N hold an (orphan) item?
    extra_bad_gia: str | None = None  # an invalid fee line next to a valid positive one
    only_bad_gia: str | None = None  # the only fee line is invalid → counts 0 → not fee-bearing
    bad_updated: str | None = None  # P NgayCapNhat that does not parse
    bad_national_updated: str | None = None
    unknown_sync_state: str | None = None  # TrangThaiDongBo value the contract does not list

    def __post_init__(self) -> None:
        if MPI in self.reasons and self.reasons & _SKIPPED_BY_MPI:
            raise ValueError(f"{MPI} skips {sorted(self.reasons & _SKIPPED_BY_MPI)}")
        if NON in self.reasons and self.reasons & _SKIPPED_BY_NON:
            raise ValueError(f"{NON} skips {sorted(self.reasons & _SKIPPED_BY_NON)}")
        if {PENDING, FAILED} <= self.reasons:
            raise ValueError("a sync state is either pending or failed")
        if NO_FEE in self.reasons:
            raise ValueError(f"{NO_FEE} is planned per procedure (ProcedurePlan.fee_dossiers)")
        if self.unknown_sync_state is not None and PENDING not in self.reasons:
            raise ValueError("an unknown TrangThaiDongBo makes the configuration sync_pending")
        if not self.fee_bearing and self.reasons:
            raise ValueError("reasons apply to fee-bearing configurations only")


@dataclass
class ProcedurePlan:
    ma_tthc: str
    name: str
    configs: list[ConfigPlan]
    fee_dossiers: bool = True  # ≥1 synced dossier with a non-zero fee inside the period
    no_fee_style: str = "absent"  # absent | zero_fee | outside_period (when not fee_dossiers)


@dataclass(frozen=True)
class MonthlyStat:
    """Dossiers of one procedure synced to N in one month (counted at the month's 15th, noon)."""

    ma_tthc: str  # as written on the wire
    year: int
    month: int
    synced: int
    with_fee: int
    paid_online: int

    @property
    def moment(self) -> str:
        return f"{self.year:04d}{self.month:02d}15120000"


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    province_code: str
    period_start: date
    period_end: date
    agencies: list[JsonDict]
    procedures: list[JsonDict]
    payment_infos: list[JsonDict]
    monthly_stats: list[MonthlyStat]
    truth: ScenarioTruth
    # Dossiers are planned lazily (first use), so procedure-only users never pay for them.
    dossier_source: DossierSource | None = field(default=None, compare=False, repr=False)

    @property
    def dossiers(self) -> DossierSet | None:
        """The scenario's dossiers and transactions (``None``: dossiers are not simulated)."""
        return self.dossier_source.get() if self.dossier_source is not None else None

    @property
    def dossier_truth(self) -> DossierTruth | None:
        dossiers = self.dossiers
        return dossiers.truth if dossiers is not None else None

    def procedure_stats(self, from_: str, to: str) -> list[JsonDict]:
        """N's ``thong-ke-tthc`` for a window given as ``yyyyMMddHHmmss`` bounds (inclusive)."""
        totals: dict[str, list[int]] = {}
        for stat in self.monthly_stats:
            if from_ <= stat.moment <= to:
                row = totals.setdefault(stat.ma_tthc, [0, 0, 0])
                row[0] += stat.synced
                row[1] += stat.with_fee
                row[2] += stat.paid_online
        return [
            {
                "MaTTHC": code,
                "SoHoSoDongBo": row[0],
                "SoHoSoCoPhi": row[1],
                "SoHoSoThanhToanTrucTuyen": row[2],
            }
            for code, row in sorted(totals.items(), key=lambda kv: kv[0].strip())
            if row[0] > 0
        ]

    def period_stats(self) -> list[JsonDict]:
        return self.procedure_stats(
            self.period_start.strftime("%Y%m%d") + "000000",
            self.period_end.strftime("%Y%m%d") + "235959",
        )


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    description: str
    province_code: str
    period_start: date
    period_end: date
    default_seed: int
    demo_scope: str = "procedures"  # what ``recon demo`` reconciles by default: its story


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


class _Cycle:
    """Round-robin choices, so every variant of a kind shows up in a large enough scenario."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def pick(self, kind: str, options: Sequence[str]) -> str:
        index = self._counts[kind]
        self._counts[kind] += 1
        return options[index % len(options)]


@dataclass
class _Renderer:
    name: str
    seed: int
    province: str
    period_start: date
    period_end: date
    rng: random.Random
    agencies: list[Agency]
    cycle: _Cycle = field(default_factory=_Cycle)
    procedures: list[JsonDict] = field(default_factory=list)
    payment_infos: list[JsonDict] = field(default_factory=list)
    stats: list[MonthlyStat] = field(default_factory=list)
    truths: list[ConfigurationTruth] = field(default_factory=list)
    orphans: set[tuple[str, str]] = field(default_factory=set)
    non_fee: set[tuple[str, str]] = field(default_factory=set)
    warnings: list[DataQualityWarning] = field(default_factory=list)
    levels: set[str] = field(default_factory=set)

    # ---- whole procedures ------------------------------------------------------------------

    def render(self, plan: ProcedurePlan) -> None:
        for config in plan.configs:
            self.levels.add(config.level)
            self._render_config(plan, config)
        self._render_stats(plan)

    def _render_config(self, plan: ProcedurePlan, config: ConfigPlan) -> None:
        key = (plan.ma_tthc.strip().upper(), config.agency.code.strip().upper())
        fee_bearing = config.fee_bearing and config.only_bad_gia is None
        reasons = set(config.reasons)
        if fee_bearing and not plan.fee_dossiers:
            reasons.add(NO_FEE)
        p_item = self._provincial_item(plan, config, key)
        self.procedures.append(p_item)
        on_national = NON not in reasons if fee_bearing else config.on_national
        if on_national:
            self.payment_infos.append(
                self._national_item(plan, config, key, p_item["ThongTinThuHuong"])
            )
        if fee_bearing:
            self.truths.append(
                ConfigurationTruth(
                    ma_tthc=key[0],
                    ma_don_vi=key[1],
                    level=config.level,
                    synced=not reasons,
                    reasons=sorted(reasons),
                )
            )
        else:
            self.non_fee.add(key)
            if on_national:
                self.orphans.add(key)

    def add_national_orphan(self, ma_tthc: str, agency: Agency) -> None:
        """An N item whose key P does not configure at all (a removed or moved procedure)."""
        plan = ProcedurePlan(ma_tthc, "", [])
        config = ConfigPlan(agency=agency, level="tinh", fee_bearing=False)
        key = (ma_tthc.strip().upper(), agency.code.strip().upper())
        self.payment_infos.append(self._national_item(plan, config, key, None))
        self.orphans.add(key)

    def add_stat(self, ma_tthc: str, year: int, month: int, synced: int, with_fee: int) -> None:
        self.stats.append(MonthlyStat(ma_tthc, year, month, synced, with_fee, with_fee // 2))

    # ---- P ---------------------------------------------------------------------------------

    def _provincial_item(
        self, plan: ProcedurePlan, config: ConfigPlan, key: tuple[str, str]
    ) -> JsonDict:
        p_code = self.cycle.pick("p.code", ("plain",) * 9 + ("padded",))
        p_unit = self.cycle.pick("p.unit", ("plain",) * 11 + ("lower",))
        updated = config.bad_updated or self._timestamp(date(2021, 3, 1), date(2023, 11, 29))
        if config.bad_updated is not None:
            self._warn(P_PROCEDURES, key, "NgayCapNhat", config.bad_updated)
        return {
            "MaTTHC": code_variant(plan.ma_tthc, p_code),
            "MaDVC": f"{plan.ma_tthc}.000.00.00.{self.province}",
            "TenTTHC": plan.name,
            "MaDonVi": code_variant(config.agency.code, p_unit),
            "CapThucHien": config.level,
            "DanhSachLePhi": self._fees(config, key),
            "ThongTinThuHuong": self._provincial_beneficiary(config),
            "NgayCapNhat": updated,
        }

    def _fees(self, config: ConfigPlan, key: tuple[str, str]) -> list[JsonDict]:
        if config.only_bad_gia is not None:
            self._warn(P_PROCEDURES, key, "Gia", config.only_bad_gia)
            return [self._fee_line(0, config.only_bad_gia)]
        if not config.fee_bearing:
            style = self.cycle.pick("nofee", ("empty", "zero", "zeros"))
            if style == "empty":
                return []
            return [self._fee_line(i, "0") for i in range(1 if style == "zero" else 2)]
        lines: list[JsonDict] = []
        for index in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            amount = self.rng.choice(geo.FEE_AMOUNTS)
            legacy = amount >= 1000000 and self.cycle.pick("legacy", ("no", "yes")) == "yes"
            lines.append(self._fee_line(index, f"{amount:,}".replace(",", ".") if legacy else ""))
            if not legacy:
                lines[-1]["Gia"] = str(amount)
        if self.cycle.pick("zero-line", ("no",) * 6 + ("yes",)) == "yes":
            lines.append(self._fee_line(len(lines), "0"))
        if config.extra_bad_gia is not None:
            self._warn(P_PROCEDURES, key, "Gia", config.extra_bad_gia)
            lines.append(self._fee_line(len(lines), config.extra_bad_gia))
        return lines

    def _fee_line(self, index: int, gia: str) -> JsonDict:
        name, kind = self.rng.choice(geo.FEE_NAMES)
        code = ("LP" if kind == "2" else "PHI" if kind == "1" else "NV") + f"{index + 1:02d}"
        return {"MaPhiLePhi": code, "TenPhiLePhi": name, "Gia": gia, "LoaiPhiLePhi": kind}

    def _provincial_beneficiary(self, config: ConfigPlan) -> JsonDict | None:
        agency = config.agency
        reasons = config.reasons
        treasury = self._provincial_treasury(config)
        if MPI in reasons:
            style = self.cycle.pick("mpi", ("null", "empty", "blank", "null", "dash"))
            if style == "null":
                return None
            account = {"empty": "", "blank": "  ", "dash": " - "}[style]
            return {
                "TKThuHuong": account,
                "MaNHThuHuong": agency.bank_bin if style != "empty" else "",
                "TenTKThuHuong": agency.beneficiary,
                "KhoBac": agency.khobac,
                "TaiKhoanThuNSNN": treasury,
            }
        if IA in reasons:
            account = self.cycle.pick(
                "invalid-account",
                (
                    "12345",
                    "3511.0.1104195/KBNN",
                    "TK 3511.0.1104195",
                    "0123456789012345678901",
                    "Chưa có",
                ),
            )
        else:
            style = "dotted" if agency.treasury_account else self._p_account_style()
            account = account_variant(agency.account, style, treasury=agency.treasury_account)
        if UB in reasons:
            bank = self.cycle.pick("unknown-bank", ("VIETINBANK", "970499", "", "VTB", "NHNo"))
        else:
            bank = bank_variant(agency.bank_bin, self.cycle.pick("p.bank", ("bin", "short")))
        name = agency.beneficiary
        if not config.fee_bearing or BEN not in reasons:
            # A P-side variant too: neither side is the "clean" one.
            kind = self.cycle.pick("p.name", ("none", "none", "none", "abbreviation", "nfd"))
            name = name if kind == "none" else name_variant(name, kind)
        return {
            "TKThuHuong": account,
            "MaNHThuHuong": bank,
            "TenTKThuHuong": name,
            "KhoBac": agency.khobac,
            "TaiKhoanThuNSNN": treasury,
        }

    def _p_account_style(self) -> str:
        return self.cycle.pick("p.account", ("plain", "plain", "spaced", "dashed"))

    def _provincial_treasury(self, config: ConfigPlan) -> str | None:
        revenue = config.agency.revenue_account
        if TM in config.reasons and self.cycle.pick("tm-p", ("value", "empty")) == "empty":
            return None if self.cycle.pick("tm-empty", ("empty", "null")) == "null" else ""
        if revenue is None:
            return None if self.cycle.pick("p.none", ("null", "empty")) == "null" else ""
        return treasury_dotted(revenue)

    # ---- N ---------------------------------------------------------------------------------

    def _national_item(
        self,
        plan: ProcedurePlan,
        config: ConfigPlan,
        key: tuple[str, str],
        p_beneficiary: JsonDict | None,
    ) -> JsonDict:
        agency = config.agency
        reasons = config.reasons if config.fee_bearing else frozenset()
        p_account = p_beneficiary["TKThuHuong"] if p_beneficiary else None
        p_bank = p_beneficiary["MaNHThuHuong"] if p_beneficiary else None
        p_treasury = p_beneficiary["TaiKhoanThuNSNN"] if p_beneficiary else None

        if AM in reasons:
            account = self._other_account(agency)
        elif IA in reasons and p_account is not None:
            account = p_account
        else:
            style = self.cycle.pick("n.account", ACCOUNT_VARIANTS)
            account = account_variant(agency.account, style, treasury=agency.treasury_account)

        if BM in reasons:
            bank = self._other_bank(agency.bank_bin)
        elif UB in reasons and p_bank is not None:
            lower = self.cycle.pick("n.unknown", ("same", "lower")) == "lower"
            bank = f" {p_bank.lower()} " if lower else p_bank
        else:
            bank = bank_variant(
                agency.bank_bin,
                self.cycle.pick("n.bank", ("short", "bin", "short_lower_padded", "bin_padded")),
            )

        if BEN in reasons:
            name = self._other_name(agency)
        else:
            name = name_variant(agency.beneficiary, self.cycle.pick("n.name", NAME_VARIANTS))

        treasury: str | None
        if TM in reasons:
            treasury = self._other_treasury(agency, p_treasury)
        elif MPI in reasons and p_beneficiary is None:
            revenue = agency.revenue_account
            treasury = treasury_dotted(revenue) if revenue else ""
        elif p_treasury:
            revenue = agency.revenue_account or ""
            treasury = self.cycle.pick("n.treasury", (revenue, treasury_dotted(revenue)))
        else:
            # null and "" are the same value (semantics §1): swap them.
            treasury = "" if p_treasury is None else None

        sync_state = "1"
        error = ""
        if PENDING in reasons:
            sync_state = config.unknown_sync_state or "0"
            if config.unknown_sync_state is not None:
                self._warn(N_PAYMENT_INFO, key, "TrangThaiDongBo", sync_state)
        elif FAILED in reasons:
            sync_state = "2"
            error = self.rng.choice(geo.SYNC_ERRORS)
        synced_at = (
            self._timestamp(date(2022, 6, 1), date(2023, 11, 29))
            if sync_state == "1" or self.rng.random() < 0.5
            else ""
        )
        updated = config.bad_national_updated or self._timestamp(
            date(2022, 6, 1), date(2023, 11, 29)
        )
        if config.bad_national_updated is not None:
            self._warn(N_PAYMENT_INFO, key, "NgayCapNhat", config.bad_national_updated)
        return {
            "MaTTHC": code_variant(
                plan.ma_tthc, self.cycle.pick("n.code", ("plain", "plain", "plain", "padded"))
            ),
            "MaDonVi": code_variant(
                agency.code,
                self.cycle.pick("n.unit", ("plain", "plain", "lower", "padded", "lower_padded")),
            ),
            "TKThuHuong": account,
            "MaNHThuHuong": bank,
            "TenTKThuHuong": name,
            "KhoBac": self._khobac_variant(agency.khobac),
            "TaiKhoanThuNSNN": treasury,
            "TrangThai": "0" if INACTIVE in reasons else "1",
            "TrangThaiDongBo": sync_state,
            "LoiDongBo": error,
            "NgayDongBo": synced_at,
            "NgayCapNhat": updated,
        }

    def _khobac_variant(self, khobac: str) -> str:
        # KhoBac is shown, never compared: N may name the branch quite differently.
        style = self.cycle.pick("n.khobac", ("same", "abbr", "other", "empty"))
        if style == "same":
            return khobac
        if style == "abbr":
            return khobac.replace("Kho bạc Nhà nước", "KBNN")
        if style == "other":
            return "Kho bạc Nhà nước khu vực XVI"
        return ""

    def _other_account(self, agency: Agency) -> str:
        digits = agency.account
        if self.cycle.pick("am", ("digit", "other")) == "digit":
            wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        else:
            others = [a for a in self.agencies if a.account != digits]
            wrong = self.rng.choice(others).account if others else digits + "1"
        return account_variant(
            wrong, "dotted" if agency.treasury_account else "plain", treasury=True
        )

    def _other_bank(self, bin_: str) -> str:
        # The classic confusions from public lists: 970406 (DongA) for Sacombank, 970407 for MB.
        trap = {"970403": "970406", "970422": "970407"}.get(bin_)
        wrong = trap or self.rng.choice([b for b in _BANK_BINS if b != bin_])
        return self.cycle.pick("bm", (wrong, SHORT_CODE_BY_BIN[wrong]))

    def _other_name(self, agency: Agency) -> str:
        style = self.cycle.pick("ben", ("parent", "person", "other", "truncated"))
        parent = next((a for a in self.agencies if a.code == agency.parent), None)
        if style == "parent" and parent is not None:
            return parent.beneficiary
        if style == "person":
            return self.rng.choice(geo.PEOPLE)
        if style == "truncated" and agency.beneficiary.count(" ") > 3:
            return agency.beneficiary.rsplit(" ", 2)[0]
        others = [a for a in self.agencies if a.beneficiary != agency.beneficiary]
        return self.rng.choice(others).beneficiary

    def _other_treasury(self, agency: Agency, p_treasury: str | None) -> str:
        if p_treasury:
            # P has one; N either has another or none at all ("" equals only "").
            if self.cycle.pick("tm-n", ("other", "empty")) == "empty":
                return ""
            digits = p_treasury.replace(".", "")
            return treasury_dotted(digits[:-1] + str((int(digits[-1]) + 3) % 10))
        return treasury_dotted(agency.revenue_account or "711101055669")

    # ---- stats -----------------------------------------------------------------------------

    def _render_stats(self, plan: ProcedurePlan) -> None:
        code = code_variant(plan.ma_tthc, self.cycle.pick("s.code", ("plain",) * 7 + ("padded",)))
        months = list(range(self.period_start.month, self.period_end.month + 1))
        year = self.period_end.year
        fee_bearing = any(c.fee_bearing and c.only_bad_gia is None for c in plan.configs)
        if fee_bearing and plan.fee_dossiers:
            chosen = sorted(self.rng.sample(months, self.rng.randint(1, min(8, len(months)))))
            for index, month in enumerate(chosen):
                synced = self.rng.randint(1, 160)
                with_fee = self.rng.randint(1 if index == 0 else 0, synced)
                self.add_stat(code, year, month, synced, with_fee)
            if self.rng.random() < 0.3:
                self.add_stat(code, year - 1, 12, self.rng.randint(1, 50), 1)
            return
        style = plan.no_fee_style if fee_bearing else self.cycle.pick("s.nofee", ("absent", "zero"))
        if style in ("zero_fee", "zero"):
            for month in sorted(self.rng.sample(months, 2)):
                self.add_stat(code, year, month, self.rng.randint(1, 40), 0)
        elif style == "outside_period":
            # Fee dossiers only just before and just after the period: outside the run's window.
            self.add_stat(code, year - 1, 12, self.rng.randint(1, 30), self.rng.randint(1, 5))
            self.add_stat(code, year, 12, self.rng.randint(1, 30), self.rng.randint(1, 5))

    # ---- helpers ---------------------------------------------------------------------------

    def _timestamp(self, start: date, end: date) -> str:
        span = int((end - start).total_seconds())
        moment = datetime.combine(start, datetime.min.time()) + timedelta(
            seconds=self.rng.randint(0, span + 86399)
        )
        return moment.strftime(UPSTREAM_TIME_FORMAT)

    def _warn(self, source: str, key: tuple[str, str], field_: str, value: str | None) -> None:
        self.warnings.append(
            DataQualityWarning(
                source=source, ma_tthc=key[0], ma_don_vi=key[1], field=field_, value=value
            )
        )

    def finish(self, extra_agencies: Iterable[Agency] = ()) -> Scenario:
        used = {p["MaDonVi"].strip().upper() for p in self.procedures}
        used |= {n["MaDonVi"].strip().upper() for n in self.payment_infos}
        by_code = {a.code: a for a in self.agencies}
        listed: dict[str, Agency] = {}
        for code in sorted(used):
            agency = by_code.get(code)
            while agency is not None and agency.code not in listed:
                listed[agency.code] = agency
                agency = by_code.get(agency.parent) if agency.parent else None
        for agency in extra_agencies:
            listed.setdefault(agency.code, agency)
        agencies = [
            {
                "MaDonVi": a.code,
                "TenDonVi": a.name,
                "CapDonVi": a.cap,
                "MaDonViCha": a.parent,
            }
            for a in sorted(listed.values(), key=lambda a: a.code)
        ]
        self.rng.shuffle(self.procedures)
        self.rng.shuffle(self.payment_infos)
        configurations = sorted(self.truths, key=lambda t: (t.ma_tthc, t.ma_don_vi))
        summary, synced, not_synced = summarize(configurations, self.levels)
        truth = ScenarioTruth(
            scenario=self.name,
            seed=self.seed,
            province_code=self.province,
            period_start=self.period_start,
            period_end=self.period_end,
            configurations=configurations,
            summary=summary,
            synced_procedures=synced,
            not_synced_procedures=not_synced,
            reason_counts=count_reasons(configurations),
            orphans_on_national=sorted(self.orphans),
            non_fee_bearing=sorted(self.non_fee),
            data_quality=sorted(self.warnings, key=lambda w: (w.source, w.key, w.field)),
        )
        return Scenario(
            name=self.name,
            seed=self.seed,
            province_code=self.province,
            period_start=self.period_start,
            period_end=self.period_end,
            agencies=agencies,
            procedures=self.procedures,
            payment_infos=self.payment_infos,
            monthly_stats=self.stats,
            truth=truth,
        )


# --------------------------------------------------------------------------------------------
# Agencies and codes
# --------------------------------------------------------------------------------------------


@dataclass
class _Province:
    code: str
    rng: random.Random
    departments: dict[int, Agency] = field(default_factory=dict)
    land_office: Agency | None = None
    land_branches: list[Agency] = field(default_factory=list)
    service_center: Agency | None = None
    districts: list[Agency] = field(default_factory=list)
    communes: list[Agency] = field(default_factory=list)
    _used_accounts: set[str] = field(default_factory=set)
    _used_codes: set[str] = field(default_factory=set)

    def all(self) -> list[Agency]:
        land = [self.land_office] if self.land_office else []
        center = [self.service_center] if self.service_center else []
        return [
            *self.departments.values(),
            *land,
            *self.land_branches,
            *center,
            *self.districts,
            *self.communes,
        ]

    def treasury_digits(self) -> str:
        while True:
            digits = f"35110{self.rng.randint(1000000, 1199999)}"
            if self.rng.random() < 0.15:
                digits += "00000"
            if digits not in self._used_accounts:
                self._used_accounts.add(digits)
                return digits

    def bank_digits(self) -> str:
        while True:
            prefix = self.rng.choice(("0", "1", "57", "6", "19"))
            length = self.rng.choice((10, 12, 13, 14))
            digits = prefix + "".join(
                str(self.rng.randint(0, 9)) for _ in range(length - len(prefix))
            )
            if digits not in self._used_accounts:
                self._used_accounts.add(digits)
                return digits

    def revenue_digits(self) -> str:
        return f"71110{self.rng.randint(1000000, 1099999)}"

    def procedure_code(self) -> str:
        while True:
            code = f"{self.rng.choice('1112')}.{self.rng.randint(0, 12999):06d}"
            if code not in self._used_codes:
                self._used_codes.add(code)
                return code


def _build_province(code: str, rng: random.Random) -> _Province:
    province = _Province(code=code, rng=rng)
    khobac = "Kho bạc Nhà nước Tây Ninh"
    for zz, name, _ in geo.DEPARTMENTS:
        beneficiary = name if "Tây Ninh" in name else f"{name} tỉnh Tây Ninh"
        province.departments[zz] = Agency(
            code=f"000.00.{zz:02d}.{code}",
            name=name,
            cap=1,
            parent=None,
            beneficiary=beneficiary,
            account=province.treasury_digits(),
            treasury_account=True,
            bank_bin=rng.choice(_TREASURY_BINS),
            revenue_account=province.revenue_digits(),
            khobac=khobac,
        )
    tnmt = province.departments[15]
    province.land_office = Agency(
        code=f"000.01.15.{code}",
        name=geo.LAND_OFFICE_NAME,
        cap=1,
        parent=tnmt.code,
        beneficiary=geo.LAND_OFFICE_NAME,
        account=province.bank_digits(),
        treasury_account=False,
        bank_bin="970403",
        revenue_account=None,
        khobac=khobac,
    )
    province.service_center = Agency(
        code=f"000.00.02.{code}",
        name="Trung tâm Phục vụ hành chính công tỉnh Tây Ninh",
        cap=1,
        parent=None,
        beneficiary="Trung tâm Phục vụ hành chính công tỉnh Tây Ninh",
        account=province.bank_digits(),
        treasury_account=False,
        bank_bin="970422",
        revenue_account=province.revenue_digits(),
        khobac=khobac,
    )
    for index, (zz, district, communes) in enumerate(geo.DISTRICTS, start=1):
        place = district.removeprefix("huyện ").removeprefix("thị xã ").removeprefix("thành phố ")
        district_khobac = f"Kho bạc Nhà nước {place}"
        branch_name = f"Chi nhánh Văn phòng Đăng ký đất đai {district}"
        province.land_branches.append(
            Agency(
                code=f"{index:03d}.01.15.{code}",
                name=branch_name,
                cap=1,
                parent=province.land_office.code,
                beneficiary=branch_name,
                account=province.bank_digits(),
                treasury_account=False,
                bank_bin=rng.choice(_BANK_BINS),
                revenue_account=None,
                khobac=district_khobac,
            )
        )
        district_agency = Agency(
            code=f"000.00.{zz:02d}.{code}",
            name=f"UBND {district}",
            cap=2,
            parent=None,
            beneficiary=f"Ủy ban nhân dân {district}",
            account=province.treasury_digits(),
            treasury_account=True,
            bank_bin=rng.choice(_TREASURY_BINS),
            revenue_account=province.revenue_digits(),
            khobac=district_khobac,
        )
        province.districts.append(district_agency)
        for yy, commune in enumerate(communes, start=1):
            province.communes.append(
                Agency(
                    code=f"000.{yy:02d}.{zz:02d}.{code}",
                    name=f"UBND {commune}",
                    cap=3,
                    parent=district_agency.code,
                    beneficiary=f"Ủy ban nhân dân {commune}",
                    account=province.treasury_digits(),
                    treasury_account=True,
                    bank_bin=rng.choice(_TREASURY_BINS),
                    revenue_account=(province.revenue_digits() if rng.random() < 0.8 else None),
                    khobac=district_khobac,
                )
            )
    return province


class _Names:
    """Procedure names that read like the national catalogue and do not repeat."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def department(self, zz: int) -> str:
        objects = next(objs for code, _, objs in geo.DEPARTMENTS if code == zz)
        return self._unique(lambda: f"{self._rng.choice(geo.ACTIONS)} {self._rng.choice(objects)}")

    def land(self) -> str:
        return self._unique(
            lambda: f"{self._rng.choice(geo.ACTIONS[:5])} {self._rng.choice(geo.LAND_OBJECTS)}"
        )

    def pick(self, pool: Sequence[str]) -> str:
        return self._unique(lambda: self._rng.choice(pool))

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(20):
            name = make()
            if name not in self._used:
                self._used.add(name)
                return name
        name = make()
        suffix = 2
        while f"{name} (trường hợp {suffix})" in self._used:
            suffix += 1
        name = f"{name} (trường hợp {suffix})"
        self._used.add(name)
        return name


# --------------------------------------------------------------------------------------------
# Scenario: tay-ninh-2023
# --------------------------------------------------------------------------------------------

TINH_FEE_PROCEDURES: Final = 543
TINH_SYNCED_PROCEDURES: Final = 195

# How the 348 tinh procedures that are NOT synced fail (reasons of their failing configuration;
# NO_FEE marks a procedure without fee-bearing dossiers in the period).
TINH_NOT_SYNCED_PROFILES: Final[tuple[tuple[frozenset[str], int], ...]] = (
    (frozenset({MPI}), 67),
    (frozenset({NO_FEE}), 40),
    (frozenset({NON}), 45),
    (frozenset({AM}), 30),
    (frozenset({BEN}), 28),
    (frozenset({PENDING}), 18),
    (frozenset({FAILED}), 16),
    (frozenset({BM}), 14),
    (frozenset({TM}), 14),
    (frozenset({IA}), 12),
    (frozenset({INACTIVE}), 12),
    (frozenset({UB}), 10),
    (frozenset({MPI, NON}), 10),
    (frozenset({AM, BEN}), 6),
    (frozenset({MPI, NO_FEE}), 5),
    (frozenset({NON, NO_FEE}), 5),
    (frozenset({BM, TM}), 3),
    (frozenset({AM, FAILED}), 3),
    (frozenset({BEN, PENDING}), 3),
    (frozenset({IA, AM}), 2),
    (frozenset({UB, BM}), 2),
    (frozenset({INACTIVE, FAILED}), 2),
    (frozenset({IA, UB, NON}), 1),
)
_SECONDARY_REASONS: Final = (MPI, NON, AM, BEN, PENDING, FAILED, TM)
_XA_PROFILES: Final[tuple[tuple[frozenset[str], int], ...]] = (
    (frozenset({MPI}), 6),
    (frozenset({NON}), 4),
    (frozenset({BEN}), 3),
    (frozenset({AM}), 3),
    (frozenset({PENDING}), 2),
    (frozenset({FAILED}), 2),
    (frozenset({TM}), 2),
    (frozenset({INACTIVE}), 1),
    (frozenset({UB}), 1),
    (frozenset({IA}), 1),
    (frozenset({BM}), 1),
    (frozenset({MPI, NON}), 1),
)


def _weighted(rng: random.Random, profiles: Sequence[tuple[frozenset[str], int]]) -> frozenset[str]:
    return rng.choices([p for p, _ in profiles], weights=[w for _, w in profiles])[0]


def _tay_ninh(name: str, seed: int, scale: int) -> Scenario:
    rng = random.Random(seed)
    province = _build_province("H53", rng)
    names = _Names(rng)
    renderer = _Renderer(
        name=name,
        seed=seed,
        province="H53",
        period_start=date(2023, 1, 1),
        period_end=date(2023, 11, 30),
        rng=rng,
        agencies=province.all(),
    )
    land_office = province.land_office
    assert land_office is not None
    land_units = [land_office, *province.land_branches]
    dept_zz = [zz for zz, _, _ in geo.DEPARTMENTS]
    plans: list[ProcedurePlan] = []

    def single() -> tuple[str, list[Agency]]:
        if rng.random() < 0.12:
            return names.land(), [rng.choice(land_units)]
        zz = rng.choice(dept_zz)
        return names.department(zz), [province.departments[zz]]

    def several(count: int) -> tuple[str, list[Agency]]:
        if count > 2 or rng.random() < 0.75:
            return names.land(), [land_office, *rng.sample(province.land_branches, count - 1)]
        # Building permits are issued both by the department and by the economic-zone board.
        zz = rng.choice((7, 6))
        return names.department(zz), [province.departments[zz], province.departments[20]]

    def tinh(agency: Agency, reasons: frozenset[str] = frozenset()) -> ConfigPlan:
        return ConfigPlan(agency=agency, level="tinh", reasons=reasons)

    # Synced procedures: every fee-bearing configuration at tinh level is synced.
    for index in range(TINH_SYNCED_PROCEDURES):
        count = 3 if index < 5 else 2 if index < 25 else 1
        title, agencies = several(count) if count > 1 else single()
        configs = [tinh(agency) for agency in agencies]
        plans.append(ProcedurePlan(province.procedure_code(), title, configs))

    profiles = [p for p, n in TINH_NOT_SYNCED_PROFILES for _ in range(n)]
    rng.shuffle(profiles)
    partial_two = partial_three = no_fee_two = 0
    for profile in profiles:
        no_fee = NO_FEE in profile
        reasons = profile - {NO_FEE}
        if not no_fee and partial_two < 20:
            # One synced, one not: the procedure is not synced at this level.
            partial_two += 1
            title, agencies = several(2)
            configs = [tinh(agencies[0], reasons), tinh(agencies[1])]
        elif not no_fee and partial_three < 6:
            partial_three += 1
            title, agencies = several(3)
            second = frozenset({rng.choice(_SECONDARY_REASONS)})
            configs = [tinh(agencies[0], reasons), tinh(agencies[1], second), tinh(agencies[2])]
        elif no_fee and no_fee_two < 4:
            no_fee_two += 1
            title, agencies = several(2)
            configs = [tinh(agencies[0], reasons), tinh(agencies[1])]
        else:
            title, agencies = single()
            configs = [tinh(agencies[0], reasons)]
        style = ("absent", "zero_fee", "outside_period")[len(plans) % 3]
        plans.append(
            ProcedurePlan(
                province.procedure_code(),
                title,
                configs,
                fee_dossiers=not no_fee,
                no_fee_style=style,
            )
        )

    _plant_unknown_sync_states(plans, 3)
    tinh_plans = list(plans)

    # A few procedures where a second agency is configured without any fee: its N item is an
    # orphan even though the procedure itself is fee-bearing.
    for plan in rng.sample(tinh_plans, 6):
        used = {c.agency.code for c in plan.configs}
        spare = next(a for a in province.departments.values() if a.code not in used)
        plan.configs.append(ConfigPlan(agency=spare, level="tinh", fee_bearing=False))

    # Non-fee-bearing procedures at tinh level (about one in five on N, as orphans).
    for _ in range(460):
        title, agencies = single()
        config = ConfigPlan(
            agency=agencies[0], level="tinh", fee_bearing=False, on_national=rng.random() < 0.2
        )
        plans.append(ProcedurePlan(province.procedure_code(), title, [config]))

    # Commune level: the same procedure performed by many communes.
    for index in range(32 * scale):
        communes = rng.sample(province.communes, rng.randint(12, 28))
        title = names.pick(geo.COMMUNE_PROCEDURES)
        kind = ("all_synced", "mixed", "mixed", "no_fee", "mixed", "all_synced", "mixed")[index % 7]
        configs = []
        for commune in communes:
            planted = frozenset[str]()
            if kind == "mixed" and rng.random() < 0.35:
                planted = _weighted(rng, _XA_PROFILES)
            configs.append(ConfigPlan(agency=commune, level="xa", reasons=planted))
        if kind == "mixed" and not any(c.reasons for c in configs):
            configs[0] = ConfigPlan(agency=communes[0], level="xa", reasons=frozenset({MPI}))
        plans.append(
            ProcedurePlan(
                province.procedure_code(),
                title,
                configs,
                fee_dossiers=kind != "no_fee",
                no_fee_style="zero_fee",
            )
        )
    for _ in range(16 * scale):
        communes = rng.sample(province.communes, rng.randint(8, 16))
        configs = [
            ConfigPlan(agency=c, level="xa", fee_bearing=False, on_national=rng.random() < 0.1)
            for c in communes
        ]
        plans.append(
            ProcedurePlan(province.procedure_code(), names.pick(geo.COMMUNE_PROCEDURES), configs)
        )

    # District level, old data; two procedures were later moved up to tinh (shared MaTTHC).
    huyen_reasons: tuple[frozenset[str], ...] = (
        frozenset(),
        frozenset({MPI}),
        frozenset({NON}),
        frozenset({BEN}),
        frozenset({PENDING}),
        frozenset(),
        frozenset({AM}),
    )
    counter = 0
    for title in geo.DISTRICT_PROCEDURES[:4]:
        configs = []
        for district in rng.sample(province.districts, 3):
            configs.append(
                ConfigPlan(
                    agency=district,
                    level="huyen",
                    reasons=huyen_reasons[counter % len(huyen_reasons)],
                )
            )
            counter += 1
        plans.append(ProcedurePlan(province.procedure_code(), title, configs))
    synced_tinh = tinh_plans[30]
    no_fee_tinh = next(p for p in tinh_plans if not p.fee_dossiers)
    for plan in (synced_tinh, no_fee_tinh):
        for district in rng.sample(province.districts, 2):
            plan.configs.append(ConfigPlan(agency=district, level="huyen"))

    _plant_data_quality(tinh_plans, plans)
    for plan in plans:
        renderer.render(plan)

    # Orphans with no P configuration at all.
    for _ in range(12):
        zz = rng.choice(dept_zz)
        renderer.add_national_orphan(province.procedure_code(), province.departments[zz])
    for plan in rng.sample(tinh_plans[:195], 4):
        used = {c.agency.code for c in plan.configs}
        other = next(a for a in province.departments.values() if a.code not in used)
        renderer.add_national_orphan(plan.ma_tthc, other)
    # Statistics for procedures P does not know (deleted from the provincial catalogue).
    for _ in range(5):
        renderer.add_stat(province.procedure_code(), 2023, rng.randint(1, 11), 3, 1)
    return renderer.finish()


def _plant_unknown_sync_states(plans: list[ProcedurePlan], count: int) -> None:
    """Turn some sync_pending configurations into ones with a TrangThaiDongBo N does not list."""
    planted = 0
    for plan in plans:
        for index, config in enumerate(plan.configs):
            if planted < count and PENDING in config.reasons and len(config.reasons) == 1:
                plan.configs[index] = ConfigPlan(
                    agency=config.agency,
                    level=config.level,
                    reasons=config.reasons,
                    unknown_sync_state=("5", "3", "5")[planted],
                )
                planted += 1


def _plant_data_quality(tinh_plans: list[ProcedurePlan], plans: list[ProcedurePlan]) -> None:
    synced = [p for p in tinh_plans if p.fee_dossiers and not any(c.reasons for c in p.configs)]
    failing = [p for p in tinh_plans if any(c.reasons for c in p.configs)]
    synced[3].configs[0].extra_bad_gia = "100000.00"
    synced[7].configs[0].extra_bad_gia = ""
    synced[11].configs[0].bad_updated = "20231131083000"
    synced[15].configs[0].bad_national_updated = "2023-10-05 14:20:00"
    failing[5].configs[0].extra_bad_gia = "abc"
    failing[9].configs[0].bad_updated = "30/11/2023 08:30"
    # A configuration whose only fee is unreadable: counts as 0, so it is not fee-bearing.
    non_fee = next(p for p in plans if all(not c.fee_bearing for c in p.configs))
    non_fee.configs[0].only_bad_gia = "abc"
    non_fee.configs[0].on_national = True


# --------------------------------------------------------------------------------------------
# Scenario: small
# --------------------------------------------------------------------------------------------


def _small(name: str, seed: int, scale: int) -> Scenario:
    rng = random.Random(seed)
    province = _build_province("H53", rng)
    renderer = _Renderer(
        name=name,
        seed=seed,
        province="H53",
        period_start=date(2023, 1, 1),
        period_end=date(2023, 11, 30),
        rng=rng,
        agencies=province.all(),
    )
    assert province.land_office is not None
    land = province.land_office
    branch = province.land_branches[6]  # Châu Thành
    d = province.departments
    c1, c2, c3 = province.communes[20], province.communes[21], province.communes[22]

    def cfg(agency: Agency, *reasons: str, level: str = "tinh", **extra: Any) -> ConfigPlan:
        return ConfigPlan(agency=agency, level=level, reasons=frozenset(reasons), **extra)

    codes = iter(
        [
            "1.004227", "1.004221", "1.001990", "2.000889", "1.009994", "1.010092", "2.001824",
            "1.003009", "1.004873", "1.005451", "2.000305", "1.008901", "1.002279", "1.001612",
            "1.003514", "2.000528", "2.000635", "1.000894", "1.004082",
        ]
    )  # fmt: skip
    plans = [
        ProcedurePlan(
            next(codes),
            "Đăng ký biến động quyền sử dụng đất",
            [cfg(land, extra_bad_gia="100000.00"), cfg(branch)],
        ),
        ProcedurePlan(next(codes), "Đăng ký thế chấp quyền sử dụng đất", [cfg(land)]),
        ProcedurePlan(next(codes), "Cấp phiếu lý lịch tư pháp", [cfg(d[5], MPI)]),
        ProcedurePlan(next(codes), "Cấp giấy phép xây dựng", [cfg(d[7], IA, AM)]),
        ProcedurePlan(next(codes), "Cấp giấy phép lái xe", [cfg(d[8], UB)]),
        ProcedurePlan(next(codes), "Cấp chứng chỉ hành nghề dược", [cfg(d[11], NON)]),
        ProcedurePlan(next(codes), "Cấp giấy phép hoạt động in", [cfg(d[16], INACTIVE, FAILED)]),
        ProcedurePlan(
            next(codes), "Cấp giấy phép kinh doanh karaoke", [cfg(d[14], BM, TM)]
        ),
        ProcedurePlan(
            next(codes),
            "Cung cấp thông tin, dữ liệu đất đai",
            [cfg(land), cfg(province.land_branches[1], BEN)],
        ),
        ProcedurePlan(
            next(codes),
            "Cấp giấy phép môi trường",
            [cfg(d[15], PENDING, unknown_sync_state="5")],
        ),
        ProcedurePlan(
            next(codes), "Cấp giấy phép lao động", [cfg(d[13])], fee_dossiers=False,
            no_fee_style="outside_period",
        ),
        ProcedurePlan(next(codes), "Cấp giấy chứng nhận đăng ký đầu tư", [cfg(d[6], FAILED)]),
        ProcedurePlan(next(codes), "Cấp thẻ hướng dẫn viên du lịch", [cfg(d[14], AM)]),
        ProcedurePlan(next(codes), "Cấp giấy phép hoạt động điện lực", [cfg(d[9], PENDING)]),
        ProcedurePlan(
            next(codes),
            "Thủ tục không thu phí",
            [ConfigPlan(agency=d[12], level="tinh", fee_bearing=False)],
        ),
        ProcedurePlan(
            next(codes),
            "Chứng thực bản sao từ bản chính",
            [cfg(c1, level="xa"), cfg(c2, MPI, level="xa"), cfg(c3, BEN, level="xa")],
        ),
        ProcedurePlan(
            next(codes),
            "Đăng ký kết hôn",
            [cfg(c1, level="xa"), cfg(c2, level="xa")],
            fee_dossiers=False,
            no_fee_style="zero_fee",
        ),
        ProcedurePlan(
            next(codes), "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
            [cfg(province.districts[3], NON, level="huyen")],
        ),
    ]  # fmt: skip
    plans[7].configs[0].bad_updated = "20231345000000"
    for plan in plans:
        renderer.render(plan)
    renderer.add_national_orphan(next(codes), d[17])
    return renderer.finish()


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def _dong_thap(name: str, seed: int, scale: int) -> Scenario:
    from app.simulator.dong_thap import build_scenario

    return build_scenario(name, seed, scale)


def _tay_ninh_dossiers(scenario: Scenario, dossier_scale: float) -> DossierSet:
    from app.simulator.dossier_plans import tay_ninh_dossiers

    return tay_ninh_dossiers(
        scenario.name, scenario.seed, dossier_scale, scenario.agencies, scenario.procedures
    )


def _dong_thap_dossiers(scenario: Scenario, dossier_scale: float) -> DossierSet:
    from app.simulator.dong_thap import attach_dossiers

    return attach_dossiers(scenario, dossier_scale)


def _dong_thap_small_dossiers(scenario: Scenario, dossier_scale: float) -> DossierSet:
    return _dong_thap_dossiers(scenario, DONG_THAP_SMALL_SCALE * dossier_scale)


DONG_THAP_SMALL_SCALE: Final = 0.02

_Builder = Callable[[str, int, int], Scenario]
_DossierBuilder = Callable[[Scenario, float], "DossierSet"]
_REGISTRY: Final[dict[str, tuple[ScenarioInfo, _Builder]]] = {
    "tay-ninh-2023": (
        ScenarioInfo(
            name="tay-ninh-2023",
            description=(
                "Tây Ninh (H53), Jan–Nov 2023: ~1,900 configurations; at tinh level 543 "
                "fee-bearing procedures, 195 synced, 348 not (0.3591), every reason code. "
                "Dossiers: overdue 20.74% (Sep), 19.96% (Oct), 17.8% (Nov)."
            ),
            province_code="H53",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 11, 30),
            default_seed=20231130,
        ),
        _tay_ninh,
    ),
    "small": (
        ScenarioInfo(
            name="small",
            description="~20 configurations, every reason at least once: for fast tests.",
            province_code="H53",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 11, 30),
            default_seed=7,
        ),
        _small,
    ),
    "dong-thap-2023": (
        ScenarioInfo(
            name="dong-thap-2023",
            description=(
                "Đồng Tháp (H29), 1 Jan–23 Oct 2023: 256,939 fee-bearing dossiers, 43,109 "
                "portal-counted online (16.78%); 3 of 12 districts meet 30%; every dossier reason."
            ),
            province_code="H29",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 10, 23),
            default_seed=20231023,
            demo_scope="all",
        ),
        _dong_thap,
    ),
    "dong-thap-2023-small": (
        ScenarioInfo(
            name="dong-thap-2023-small",
            description="dong-thap-2023 at 2% of its dossiers, exact truth of its own: fast tests.",
            province_code="H29",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 10, 23),
            default_seed=20231023,
            demo_scope="all",
        ),
        _dong_thap,
    ),
}
_DOSSIERS: Final[dict[str, _DossierBuilder]] = {
    "tay-ninh-2023": _tay_ninh_dossiers,
    "dong-thap-2023": _dong_thap_dossiers,
    "dong-thap-2023-small": _dong_thap_small_dossiers,
}
_CACHE: dict[tuple[str, int, int, float], Scenario] = {}


def list_scenarios() -> list[ScenarioInfo]:
    return [info for info, _ in _REGISTRY.values()]


def get_scenario(
    name: str,
    seed: int | None = None,
    *,
    scale: int = 1,
    dossier_scale: float = 1.0,
    cached: bool = True,
) -> Scenario:
    """Build (or reuse) a scenario; the same name, seed and scales always give the same data.

    ``scale`` multiplies the commune-level procedures (load tests); the tinh-level figures of
    ``tay-ninh-2023`` do not change with it. ``dossier_scale`` multiplies the dossiers (a
    benchmark asks ``dong-thap-2023`` for about 1,000,000 with ``dossier_scale=3.1``); the
    promised rates are kept at every scale, the exact counts of the letters at 1.
    ``dong-thap-2023-small`` is ``dong-thap-2023`` at ``dossier_scale`` × 0.02. Dossiers are
    planned on first use of ``Scenario.dossiers``.
    """
    if name not in _REGISTRY:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(_REGISTRY)}")
    if scale < 1:
        raise ValueError("scale must be >= 1")
    if not dossier_scale > 0:
        raise ValueError("dossier_scale must be > 0")
    info, build = _REGISTRY[name]
    effective_seed = info.default_seed if seed is None else seed
    cache_key = (name, effective_seed, scale, float(dossier_scale))
    if not cached:
        return _with_dossiers(name, build(name, effective_seed, scale), dossier_scale)
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _with_dossiers(name, build(name, effective_seed, scale), dossier_scale)
    return _CACHE[cache_key]


def _with_dossiers(name: str, scenario: Scenario, dossier_scale: float) -> Scenario:
    from app.simulator.dossiers import DossierSource

    attach = _DOSSIERS.get(name)
    if attach is None:
        return scenario
    return replace(scenario, dossier_source=DossierSource(lambda: attach(scenario, dossier_scale)))


__all__ = [
    "Agency",
    "ConfigPlan",
    "MonthlyStat",
    "ProcedurePlan",
    "Scenario",
    "ScenarioInfo",
    "get_scenario",
    "list_scenarios",
]

"""Scenario rendering: planned procedures → P and N wire items, planting exactly the planned reasons
and the formatting variants that must not count as mismatches.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.simulator import geography as geo
from app.simulator.scenarios.plan import (
    AM,
    BANK_BINS,
    BEN,
    BM,
    FAILED,
    IA,
    INACTIVE,
    MPI,
    N_PAYMENT_INFO,
    NO_FEE,
    NON,
    P_PROCEDURES,
    PENDING,
    TM,
    UB,
    Agency,
    ConfigPlan,
    JsonDict,
    MonthlyStat,
    ProcedurePlan,
    Scenario,
)
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
from app.simulator.wire_time import UPSTREAM_TIME_FORMAT


class _Cycle:
    """Round-robin choices, so every variant of a kind shows up in a large enough scenario."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def pick(self, kind: str, options: Sequence[str]) -> str:
        index = self._counts[kind]
        self._counts[kind] += 1
        return options[index % len(options)]


@dataclass
class Renderer:
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
        wrong = trap or self.rng.choice([b for b in BANK_BINS if b != bin_])
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

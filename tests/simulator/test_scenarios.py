"""Scenario data and ground truth: counts, self-consistency, agreement with an oracle."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter

import pytest

from app.simulator.scenarios.plan import Scenario
from app.simulator.scenarios.registry import get_scenario, list_scenarios
from app.simulator.truth import REASONS
from tests.simulator import oracle

CODE_MATTHC = re.compile(r"\d\.\d{6}")
CODE_MADONVI = re.compile(r"\d{3}\.\d{2}\.\d{2}\.H\d{2}")


@pytest.fixture(scope="module")
def tay_ninh() -> Scenario:
    return get_scenario("tay-ninh-2023")


@pytest.fixture(scope="module")
def small() -> Scenario:
    return get_scenario("small")


def test_registry_lists_scenarios_with_periods() -> None:
    infos = {info.name: info for info in list_scenarios()}
    assert {"tay-ninh-2023", "small"} <= set(infos)
    assert infos["tay-ninh-2023"].province_code == "H53"
    assert (
        infos["tay-ninh-2023"].period_start.isoformat(),
        infos["tay-ninh-2023"].period_end.isoformat(),
    ) == (
        "2023-01-01",
        "2023-11-30",
    )
    with pytest.raises(KeyError):
        get_scenario("nowhere")


def test_tay_ninh_headline_figure(tay_ninh: Scenario) -> None:
    tinh = tay_ninh.truth.summary["tinh"]
    assert (tinh.fee_bearing, tinh.synced, tinh.not_synced, tinh.rate) == (543, 195, 348, 0.3591)
    assert set(tay_ninh.truth.summary) == {"tinh", "huyen", "xa"}
    assert len(tay_ninh.truth.synced_procedures["tinh"]) == 195
    assert len(tay_ninh.truth.not_synced_procedures["tinh"]) == 348
    assert 1800 <= len(tay_ninh.procedures) <= 2000


@pytest.mark.parametrize("name", ["tay-ninh-2023", "small"])
def test_every_reason_is_planted(name: str) -> None:
    truth = get_scenario(name).truth
    seen = Counter(r for c in truth.configurations for r in c.reasons)
    assert set(seen) == set(REASONS)
    tinh = truth.reason_counts["tinh"]
    if name == "tay-ninh-2023":
        assert set(tinh) == set(REASONS)
        assert any(len(c.reasons) >= 3 for c in truth.configurations)


@pytest.mark.parametrize("name", ["tay-ninh-2023", "small"])
def test_summary_follows_from_per_configuration_reasons(name: str) -> None:
    truth = get_scenario(name).truth
    by_level: dict[str, dict[str, bool]] = {}
    for config in truth.configurations:
        assert config.synced == (not config.reasons)
        procs = by_level.setdefault(config.level, {})
        procs[config.ma_tthc] = procs.get(config.ma_tthc, True) and config.synced
    for level, procs in by_level.items():
        summary = truth.summary[level]
        assert summary.fee_bearing == len(procs)
        assert summary.synced == sum(procs.values())
        assert summary.not_synced == len(procs) - sum(procs.values())
        assert summary.rate == round(summary.synced / summary.fee_bearing, 4)
        assert set(truth.synced_procedures[level]) == {c for c, ok in procs.items() if ok}
    counted = Counter((c.level, r) for c in truth.configurations for r in c.reasons)
    assert {(lvl, r): n for lvl, rs in truth.reason_counts.items() for r, n in rs.items()} == dict(
        counted
    )


def test_multi_agency_procedure_with_one_synced_one_not(tay_ninh: Scenario) -> None:
    per_proc: dict[str, list[bool]] = {}
    for config in tay_ninh.truth.configurations:
        if config.level == "tinh":
            per_proc.setdefault(config.ma_tthc, []).append(config.synced)
    mixed = [code for code, flags in per_proc.items() if True in flags and False in flags]
    assert len(mixed) >= 20
    assert set(mixed) <= set(tay_ninh.truth.not_synced_procedures["tinh"])


@pytest.mark.parametrize("name", ["tay-ninh-2023", "small"])
def test_truth_agrees_with_an_independent_reading_of_the_wire_data(name: str) -> None:
    scenario = get_scenario(name)
    verdict = oracle.judge(scenario.procedures, scenario.payment_infos, scenario.period_stats())
    truth = scenario.truth
    planted = {k: set(v) for k, v in truth.reasons_by_key().items()}
    differing = {k: (planted.get(k), verdict.reasons.get(k)) for k in planted | verdict.reasons}
    differing = {k: v for k, v in differing.items() if v[0] != v[1]}
    assert differing == {}
    assert verdict.orphans == set(truth.orphans_on_national)
    assert verdict.warnings == {(w.source, w.key, w.field) for w in truth.data_quality}
    assert verdict.summary() == {
        level: (s.fee_bearing, s.synced) for level, s in truth.summary.items() if s.fee_bearing
    }


def test_orphans_include_non_fee_configurations_and_unknown_keys(tay_ninh: Scenario) -> None:
    truth = tay_ninh.truth
    orphans = set(truth.orphans_on_national)
    non_fee = set(truth.non_fee_bearing)
    p_keys = {
        (p["MaTTHC"].strip().upper(), p["MaDonVi"].strip().upper()) for p in tay_ninh.procedures
    }
    assert orphans & non_fee
    assert orphans - p_keys
    assert not orphans & set(truth.reasons_by_key())


def test_data_quality_items(tay_ninh: Scenario) -> None:
    fields = Counter((w.source, w.field) for w in tay_ninh.truth.data_quality)
    assert fields[("provincial.procedures", "Gia")] >= 3
    assert fields[("provincial.procedures", "NgayCapNhat")] >= 2
    assert fields[("national.thong-tin-thu-huong", "TrangThaiDongBo")] >= 1
    values = {w.value for w in tay_ninh.truth.data_quality}
    assert {"100000.00", "abc", "5"} <= values
    # An invalid Gia next to a valid fee leaves the configuration fee-bearing.
    fee_keys = set(tay_ninh.truth.reasons_by_key())
    gia_keys = {w.key for w in tay_ninh.truth.data_quality if w.field == "Gia"}
    assert len(gia_keys & fee_keys) >= 3


def test_formatting_variants_are_present_on_synced_configurations(tay_ninh: Scenario) -> None:
    synced = {k for k, r in tay_ninh.truth.reasons_by_key().items() if not r}
    n_items = [
        n
        for n in tay_ninh.payment_infos
        if (n["MaTTHC"].strip().upper(), n["MaDonVi"].strip().upper()) in synced
    ]
    names = [n["TenTKThuHuong"] for n in n_items]
    accounts = [n["TKThuHuong"] for n in n_items]
    banks = [n["MaNHThuHuong"] for n in n_items]
    assert any(not unicodedata.is_normalized("NFC", x) for x in names)
    assert any("Uỷ" in x or "Hoà" in x or "hoá" in x for x in names)
    assert any("  " in x for x in names)
    assert any("\u00a0" in x for x in names)
    assert any(x.isupper() and x.isascii() for x in names)
    assert any(re.search(r"\b(VP ĐKĐĐ|UBND|KBNN|CN|TP|TTPVHCC|STNMT|TX)\b", x) for x in names)
    assert any("," in x for x in names)
    assert any("." in x for x in accounts)
    assert any(x.isdigit() for x in accounts)
    assert any(" " in x.strip() for x in accounts)
    assert any("-" in x for x in accounts)
    assert any(x.strip().isalpha() for x in banks)
    assert any(x.strip().isdigit() for x in banks)
    assert any(x != x.strip() or x.islower() for x in banks)
    assert any(n["MaDonVi"] != n["MaDonVi"].strip().upper() for n in n_items)
    assert any(n["MaTTHC"] != n["MaTTHC"].strip() for n in n_items)
    assert any(n["TaiKhoanThuNSNN"] is None for n in n_items)
    assert any(n["TaiKhoanThuNSNN"] == "" for n in n_items)
    legacy = [
        line["Gia"]
        for p in tay_ninh.procedures
        for line in p["DanhSachLePhi"]
        if re.fullmatch(r"\d{1,3}(\.\d{3})+", line["Gia"])
    ]
    assert legacy


def test_wire_formats(tay_ninh: Scenario) -> None:
    p_keys = [
        (p["MaTTHC"].strip().upper(), p["MaDonVi"].strip().upper()) for p in tay_ninh.procedures
    ]
    n_keys = [
        (n["MaTTHC"].strip().upper(), n["MaDonVi"].strip().upper()) for n in tay_ninh.payment_infos
    ]
    assert len(set(p_keys)) == len(p_keys)
    assert len(set(n_keys)) == len(n_keys)
    for p in tay_ninh.procedures:
        ma_tthc = p["MaTTHC"].strip().upper()
        assert CODE_MATTHC.fullmatch(ma_tthc)
        assert CODE_MADONVI.fullmatch(p["MaDonVi"].strip().upper())
        assert p["MaDVC"] == f"{ma_tthc}.000.00.00.H53"
        assert p["CapThucHien"] in {"tinh", "huyen", "xa"}
    for agency in tay_ninh.agencies:
        assert CODE_MADONVI.fullmatch(agency["MaDonVi"])
        assert agency["CapDonVi"] in {1, 2, 3}
    for n in tay_ninh.payment_infos:
        assert n["TrangThai"] in {"0", "1"}
        assert {
            "MaTTHC",
            "MaDonVi",
            "TKThuHuong",
            "MaNHThuHuong",
            "TenTKThuHuong",
            "KhoBac",
            "TaiKhoanThuNSNN",
            "TrangThai",
            "TrangThaiDongBo",
            "LoiDongBo",
            "NgayDongBo",
            "NgayCapNhat",
        } == set(n)
        if n["TrangThaiDongBo"] == "2":
            assert n["LoiDongBo"]


def test_truth_is_json_serializable(small: Scenario) -> None:
    text = json.dumps(small.truth.model_dump(mode="json"), ensure_ascii=False)
    assert '"tinh"' in text


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = get_scenario("tay-ninh-2023", 11, cached=False)
    b = get_scenario("tay-ninh-2023", 11, cached=False)
    c = get_scenario("tay-ninh-2023", 12, cached=False)
    assert a.procedures == b.procedures
    assert a.payment_infos == b.payment_infos
    assert a.agencies == b.agencies
    assert a.truth == b.truth
    assert a.period_stats() == b.period_stats()
    assert a.procedures != c.procedures
    assert c.truth.summary["tinh"] == a.truth.summary["tinh"]


def test_scale_grows_commune_level_only() -> None:
    big = get_scenario("tay-ninh-2023", scale=2, cached=False)
    base = get_scenario("tay-ninh-2023")
    assert big.truth.summary["tinh"] == base.truth.summary["tinh"]
    assert len(big.procedures) > len(base.procedures) + 500

"""Fee-bearing procedure sync (semantics §1): reasons, skip rules, figures, orphans, evidence."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app.domain.records import (
    FeeLine,
    NationalPaymentInfo,
    PaymentInfo,
    ProcedureStat,
    ProvincialProcedure,
)
from app.domain.values import parse_money
from app.reconcile.procedures import (
    REASON_CODES,
    ConfigurationResult,
    LevelFigure,
    ProcedureReconciliation,
    reconcile_procedures,
)

CODE = "1.004227"
AGENCY = "000.00.15.H53"
KEY = f"{CODE}|{AGENCY}"
MISMATCHES = ("account_mismatch", "bank_mismatch", "beneficiary_mismatch", "treasury_mismatch")


def fee(amount: str = "100000", code: str = "LP01") -> FeeLine:
    return FeeLine(
        code=code, name="Lệ phí", amount_raw=amount, amount=parse_money(amount), kind="2"
    )


def info(**changes: str | None) -> PaymentInfo:
    base = PaymentInfo(
        account="3511.0.1104195",
        bank="970415",
        beneficiary_name="Văn phòng Đăng ký đất đai tỉnh Tây Ninh",
        treasury_branch="Kho bạc Nhà nước Tây Ninh",
        treasury_account="7111.0.1055669",
    )
    return replace(base, **changes)


DEFAULT_INFO = info()


def p_item(
    code: str = CODE,
    agency: str = AGENCY,
    level: str = "tinh",
    fees: tuple[FeeLine, ...] | None = None,
    payment: PaymentInfo | None = DEFAULT_INFO,
    updated: str = "20231130083000",
) -> ProvincialProcedure:
    return ProvincialProcedure(
        procedure_code=code,
        service_code=f"{code}.000.00.00.H53",
        procedure_name="Đăng ký biến động quyền sử dụng đất",
        agency_code=agency,
        level=level,
        fees=(fee(),) if fees is None else fees,
        payment_info=payment,
        updated_at_raw=updated,
        updated_at=None,
    )


def n_item(
    code: str = CODE,
    agency: str = AGENCY,
    payment: PaymentInfo | None = None,
    status: str = "1",
    sync_status: str = "1",
    sync_error: str = "",
    synced_at: str = "20231201000000",
    updated: str = "20231201000000",
) -> NationalPaymentInfo:
    return NationalPaymentInfo(
        procedure_code=code,
        agency_code=agency,
        payment_info=payment or info(),
        status=status,
        sync_status=sync_status,
        sync_error=sync_error,
        synced_at_raw=synced_at,
        updated_at_raw=updated,
    )


def stat(code: str = CODE, fee_dossiers: int = 3, synced: int = 5) -> ProcedureStat:
    return ProcedureStat(
        procedure_code=code,
        synced_dossiers=synced,
        fee_dossiers=fee_dossiers,
        online_paid_dossiers=1,
    )


def run(
    provincial: list[ProvincialProcedure] | None = None,
    national: list[NationalPaymentInfo] | None = None,
    stats: list[ProcedureStat] | None = None,
) -> ProcedureReconciliation:
    return reconcile_procedures(
        [p_item()] if provincial is None else provincial,
        [n_item()] if national is None else national,
        [stat()] if stats is None else stats,
    )


def only(result: ProcedureReconciliation) -> ConfigurationResult:
    assert len(result.configurations) == 1
    return result.configurations[0]


# --- the baseline ---------------------------------------------------------------------------


def test_reason_codes_follow_the_table() -> None:
    assert REASON_CODES == (
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


def test_matching_configuration_is_synced() -> None:
    result = run()
    config = only(result)
    assert config.reasons == ()
    assert config.synced
    assert config.evidence == {}
    assert config.key == KEY
    assert config.level == "tinh"
    assert result.orphans == ()
    assert result.warnings == ()
    assert result.summary == {"tinh": LevelFigure(1, 1, 0, 1.0)}


def test_codes_and_level_are_normalized() -> None:
    provincial = [p_item(code=" 1.004227 ", agency="000.00.15.h53", level=" TINH ")]
    config = only(run(provincial, [n_item(agency=" 000.00.15.H53")]))
    assert (config.procedure_code, config.agency_code, config.key) == (CODE, AGENCY, KEY)
    assert config.level == "tinh"
    assert config.reasons == ()
    assert config.provincial["agency_code"] == "000.00.15.h53"  # raw kept for display


# --- one test per reason --------------------------------------------------------------------


@pytest.mark.parametrize("payment", [None, info(account=None), info(account=" .- \u00a0")])
def test_missing_payment_info_holds(payment: PaymentInfo | None) -> None:
    config = only(run([p_item(payment=payment)]))
    assert config.reasons == ("missing_payment_info",)


def test_missing_payment_info_does_not_hold_with_an_account() -> None:
    assert "missing_payment_info" not in only(run()).reasons


@pytest.mark.parametrize("account", ["12345", "1" * 21, "12AB5678", "0123/456789"])
def test_invalid_account_holds(account: str) -> None:
    provincial = [p_item(payment=info(account=account))]
    national = [n_item(payment=info(account=account))]
    assert only(run(provincial, national)).reasons == ("invalid_account",)


@pytest.mark.parametrize("account", ["123456", "1" * 20, "0123 456 789", "3511.0.1004872.00000"])
def test_invalid_account_does_not_hold(account: str) -> None:
    provincial = [p_item(payment=info(account=account))]
    national = [n_item(payment=info(account=account))]
    assert only(run(provincial, national)).reasons == ()


@pytest.mark.parametrize("bank", ["", None, "XYZ", "970999"])
def test_unknown_bank_holds(bank: str | None) -> None:
    provincial = [p_item(payment=info(bank=bank))]
    national = [n_item(payment=info(bank=bank))]
    config = only(run(provincial, national))
    assert config.reasons == ("unknown_bank",)


@pytest.mark.parametrize("bank", ["970415", "ICB", " icb "])
def test_unknown_bank_does_not_hold(bank: str) -> None:
    assert only(run([p_item(payment=info(bank=bank))])).reasons == ()


def test_not_on_national_holds() -> None:
    config = only(run(national=[n_item(agency="000.00.16.H53")]))
    assert config.reasons == ("not_on_national",)
    assert config.national is None
    assert config.evidence["not_on_national"] == {"national": None}


def test_inactive_on_national_holds() -> None:
    config = only(run(national=[n_item(status="0")]))
    assert config.reasons == ("inactive_on_national",)
    assert config.evidence["inactive_on_national"]["national"] == {"raw": "0", "normalized": "0"}


def test_inactive_on_national_does_not_hold_when_active() -> None:
    assert only(run(national=[n_item(status=" 1")])).reasons == ()


def test_account_mismatch_holds() -> None:
    config = only(run(national=[n_item(payment=info(account="3511.0.1104196"))]))
    assert config.reasons == ("account_mismatch",)
    assert config.evidence["account_mismatch"] == {
        "field": "account",
        "provincial": {"raw": "3511.0.1104195", "normalized": "351101104195"},
        "national": {"raw": "3511.0.1104196", "normalized": "351101104196"},
    }


def test_bank_mismatch_holds() -> None:
    config = only(run(national=[n_item(payment=info(bank="VCB"))]))
    assert config.reasons == ("bank_mismatch",)
    assert config.evidence["bank_mismatch"]["national"] == {"raw": "VCB", "normalized": "970436"}


def test_unknown_bank_on_both_sides_is_no_mismatch_but_unknown() -> None:
    provincial = [p_item(payment=info(bank="xyz"))]
    national = [n_item(payment=info(bank="XYZ "))]
    assert only(run(provincial, national)).reasons == ("unknown_bank",)
    national = [n_item(payment=info(bank="XYW"))]
    assert only(run(provincial, national)).reasons == ("unknown_bank", "bank_mismatch")


def test_beneficiary_mismatch_holds() -> None:
    other = "Chi nhánh Văn phòng Đăng ký đất đai huyện Châu Thành"
    config = only(run(national=[n_item(payment=info(beneficiary_name=other))]))
    assert config.reasons == ("beneficiary_mismatch",)
    evidence = config.evidence["beneficiary_mismatch"]
    assert evidence["national"]["normalized"] == (
        "chi nhanh van phong dang ky dat dai huyen chau thanh"
    )


def test_treasury_mismatch_holds() -> None:
    config = only(run(national=[n_item(payment=info(treasury_account="7111.0.1055670"))]))
    assert config.reasons == ("treasury_mismatch",)


@pytest.mark.parametrize(("p_value", "n_value"), [("7111.0.1055669", ""), ("", "7111.0.1055669")])
def test_treasury_empty_equals_only_empty(p_value: str, n_value: str) -> None:
    provincial = [p_item(payment=info(treasury_account=p_value))]
    national = [n_item(payment=info(treasury_account=n_value))]
    assert only(run(provincial, national)).reasons == ("treasury_mismatch",)


@pytest.mark.parametrize(("p_value", "n_value"), [(None, ""), ("", None), (None, None), (" ", "")])
def test_treasury_null_and_empty_are_the_same(p_value: str | None, n_value: str | None) -> None:
    provincial = [p_item(payment=info(treasury_account=p_value))]
    national = [n_item(payment=info(treasury_account=n_value))]
    assert only(run(provincial, national)).reasons == ()


@pytest.mark.parametrize("sync_status", ["0", "", "9", "synced"])
def test_sync_pending_holds(sync_status: str) -> None:
    config = only(run(national=[n_item(sync_status=sync_status)]))
    assert config.reasons == ("sync_pending",)


def test_sync_pending_unknown_value_is_a_data_quality_warning() -> None:
    result = run(national=[n_item(sync_status="9")])
    assert [(w.listing, w.key, w.field, w.value) for w in result.warnings] == [
        ("national.payment_info", KEY, "TrangThaiDongBo", "9")
    ]
    assert run(national=[n_item(sync_status="0")]).warnings == ()


def test_sync_failed_holds_and_evidence_omits_the_error_text() -> None:
    config = only(run(national=[n_item(sync_status="2", sync_error="Timeout kết nối")]))
    assert config.reasons == ("sync_failed",)
    assert "Timeout" not in json.dumps(config.evidence["sync_failed"], ensure_ascii=False)
    assert config.national is not None
    assert config.national["sync_error"] == "Timeout kết nối"  # shown, not compared


@pytest.mark.parametrize("stats", [[], [stat(fee_dossiers=0)], [stat(code="1.000001")]])
def test_no_fee_dossier_synced_holds(stats: list[ProcedureStat]) -> None:
    config = only(run(stats=stats))
    assert config.reasons == ("no_fee_dossier_synced",)


def test_no_fee_dossier_synced_evidence_has_the_compared_count_or_null() -> None:
    assert only(run(stats=[])).evidence["no_fee_dossier_synced"]["national"] is None
    evidence = only(run(stats=[stat(fee_dossiers=0, synced=4)])).evidence
    assert evidence["no_fee_dossier_synced"]["national"] == {
        "procedure_code": CODE,
        "fee_dossiers": 0,
    }


def test_no_fee_dossier_synced_evidence_ignores_the_counts_that_move_daily() -> None:
    one = only(run(stats=[stat(fee_dossiers=0, synced=4)])).evidence
    other = only(run(stats=[stat(fee_dossiers=0, synced=9)])).evidence
    assert one == other


def test_no_fee_dossier_synced_does_not_hold_with_one_fee_dossier() -> None:
    assert only(run(stats=[stat(code=" 1.004227 ", fee_dossiers=1)])).reasons == ()


# --- skip rules -----------------------------------------------------------------------------


def test_missing_payment_info_skips_account_bank_and_mismatches() -> None:
    national = [n_item(payment=info(account="999999", bank="VCB", beneficiary_name="X"))]
    config = only(run([p_item(payment=None)], national))
    assert config.reasons == ("missing_payment_info",)


def test_missing_payment_info_keeps_other_checks() -> None:
    national = [n_item(status="0", sync_status="2")]
    config = only(run([p_item(payment=info(account=""))], national, []))
    assert config.reasons == (
        "missing_payment_info",
        "inactive_on_national",
        "sync_failed",
        "no_fee_dossier_synced",
    )
    config = only(run([p_item(payment=None)], [], []))
    assert config.reasons == ("missing_payment_info", "not_on_national", "no_fee_dossier_synced")


def test_missing_payment_info_skips_unknown_bank_even_when_the_bank_is_bad() -> None:
    config = only(run([p_item(payment=info(account=" ", bank="XYZ"))]))
    assert config.reasons == ("missing_payment_info",)


def test_not_on_national_skips_national_checks_but_not_stats() -> None:
    provincial = [p_item(payment=info(account="12", bank="XYZ"))]
    config = only(run(provincial, [], []))
    assert config.reasons == (
        "invalid_account",
        "unknown_bank",
        "not_on_national",
        "no_fee_dossier_synced",
    )


def test_every_reason_at_once_is_listed_in_table_order() -> None:
    provincial = [p_item(payment=info(account="12", bank="XYZ"))]
    national = [
        n_item(
            status="0",
            sync_status="0",
            payment=info(
                account="34",
                bank="VCB",
                beneficiary_name="Other",
                treasury_account="1",
            ),
        )
    ]
    config = only(run(provincial, national, []))
    expected = tuple(
        r
        for r in REASON_CODES
        if r not in {"missing_payment_info", "not_on_national", "sync_failed"}
    )
    assert config.reasons == expected
    assert list(config.evidence) == list(expected)


# --- formatting variants are not mismatches -------------------------------------------------


@pytest.mark.parametrize(
    "national_info",
    [
        info(account="351101104195"),
        info(account=" 3511 0 1104195\u00a0"),
        info(account="3511-0-1104195"),
        info(bank="ICB"),
        info(bank=" icb"),
        info(beneficiary_name="VĂN PHÒNG ĐĂNG KÝ ĐẤT ĐAI TỈNH TÂY NINH"),
        info(beneficiary_name="VP ĐKĐĐ tỉnh Tây Ninh"),
        info(beneficiary_name="Văn phòng Đăng ký đất đai, tỉnh  Tây\u00a0Ninh"),
        info(beneficiary_name="VAN PHONG DANG KY DAT DAI TINH TAY NINH"),
        info(treasury_account="7111 0 1055669"),
        info(treasury_branch="KBNN Tây Ninh - Phòng Giao dịch"),  # KhoBac is not compared
        info(treasury_branch=None),
    ],
)
def test_formatting_variants_are_not_mismatches(national_info: PaymentInfo) -> None:
    assert only(run(national=[n_item(payment=national_info)])).reasons == ()


def test_nfd_beneficiary_is_not_a_mismatch() -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Văn phòng Đăng ký đất đai tỉnh Tây Ninh")
    assert only(run(national=[n_item(payment=info(beneficiary_name=nfd))])).reasons == ()


# --- fee-bearing, data quality, repeats -----------------------------------------------------


def test_configuration_without_fee_above_zero_is_not_fee_bearing() -> None:
    result = run([p_item(fees=()), p_item(agency="000.00.16.H53", fees=(fee("0"), fee("0")))])
    assert result.configurations == ()
    assert result.summary == {}


def test_one_fee_above_zero_makes_it_fee_bearing() -> None:
    result = run([p_item(fees=(fee("0"), fee("1.500.000", code="LP02")))])
    assert only(result).reasons == ()
    fees = only(result).provincial["fees"]
    assert fees[1] == {
        "code": "LP02",
        "name": "Lệ phí",
        "amount_raw": "1.500.000",
        "amount": 1500000,
        "kind": "2",
    }


def test_fee_that_is_not_an_amount_counts_as_zero_and_warns() -> None:
    result = run([p_item(fees=(fee("100000.00"),))])
    assert result.configurations == ()
    assert [(w.listing, w.key, w.field, w.value) for w in result.warnings] == [
        ("provincial.procedures", KEY, "Gia", "100000.00")
    ]
    # the N item is then an orphan whose key P has, without fees
    assert [(o.key, o.has_provincial_configuration) for o in result.orphans] == [(KEY, True)]


def test_bad_fee_beside_a_good_one_still_fee_bearing_and_warns() -> None:
    result = run([p_item(fees=(fee("abc"), fee("50000", code="LP02")))])
    assert only(result).reasons == ()
    assert [w.value for w in result.warnings] == ["abc"]


def test_repeated_keys_later_item_wins() -> None:
    provincial = [p_item(payment=None), p_item(agency=AGENCY.lower())]
    national = [n_item(sync_status="2"), n_item(code=f" {CODE}")]
    result = run(provincial, national)
    assert only(result).reasons == ()
    assert only(result).provincial["agency_code"] == AGENCY.lower()


def test_unknown_level_warns_and_counts_under_its_name() -> None:
    result = run([p_item(level="Bo")])
    assert only(result).level == "bo"
    assert result.summary == {"bo": LevelFigure(1, 1, 0, 1.0)}
    assert [(w.field, w.value) for w in result.warnings] == [("CapThucHien", "Bo")]


# --- the figure per level -------------------------------------------------------------------


def test_summary_counts_distinct_procedures_and_requires_every_agency_synced() -> None:
    provincial = [
        # procedure A at two province-level agencies: one synced, one not → A not synced
        p_item(code="1.000001", agency="000.00.15.H53"),
        p_item(code="1.000001", agency="000.00.16.H53"),
        # procedure B at two agencies, both synced → B synced, counted once
        p_item(code="1.000002", agency="000.00.15.H53"),
        p_item(code="1.000002", agency="000.00.16.H53"),
        # procedure C synced
        p_item(code="1.000003", agency="000.00.15.H53"),
        # commune level: D synced at one commune, not at another; E synced
        p_item(code="1.000004", agency="000.31.01.H53", level="xa"),
        p_item(code="1.000004", agency="000.31.02.H53", level="xa"),
        p_item(code="1.000005", agency="000.31.01.H53", level="xa"),
        # not fee-bearing: not counted anywhere
        p_item(code="1.000006", fees=(fee("0"),)),
    ]
    national = [
        n_item(code=p.procedure_code, agency=p.agency_code)
        for p in provincial
        if (p.procedure_code, p.agency_code) != ("1.000001", "000.00.16.H53")
        and (p.procedure_code, p.agency_code) != ("1.000004", "000.31.02.H53")
    ]
    stats = [stat(code=f"1.00000{i}") for i in range(1, 7)]
    result = run(provincial, national, stats)
    assert len(result.configurations) == 8
    assert result.summary == {
        "tinh": LevelFigure(fee_bearing=3, synced=2, not_synced=1, rate=0.6667),
        "xa": LevelFigure(fee_bearing=2, synced=1, not_synced=1, rate=0.5),
    }
    assert list(result.summary) == ["tinh", "xa"]


def test_same_procedure_at_two_levels_counts_per_level() -> None:
    provincial = [
        p_item(code="1.000001", agency="000.00.15.H53", level="tinh"),
        p_item(code="1.000001", agency="000.31.01.H53", level="huyen"),
    ]
    national = [n_item(code="1.000001", agency="000.00.15.H53")]
    result = run(provincial, national, [stat(code="1.000001")])
    assert result.summary == {
        "tinh": LevelFigure(1, 1, 0, 1.0),
        "huyen": LevelFigure(1, 0, 1, 0.0),
    }


def test_summary_rate_is_rounded_to_four_decimals() -> None:
    # Tây Ninh's proportions at a small scale: 1 of 3 synced → 0.3333
    provincial = [p_item(code=f"1.00000{i}") for i in range(3)]
    national = [n_item(code="1.000000")]
    stats = [stat(code=f"1.00000{i}") for i in range(3)]
    assert run(provincial, national, stats).summary["tinh"].rate == 0.3333


def test_configurations_are_sorted_by_key() -> None:
    provincial = [p_item(code="1.000003"), p_item(code="1.000001"), p_item(code="1.000002")]
    keys = [c.key for c in run(provincial, []).configurations]
    assert keys == sorted(keys)


# --- orphans --------------------------------------------------------------------------------


def test_orphans_on_national() -> None:
    provincial = [p_item(), p_item(code="1.000009", fees=())]
    national = [
        n_item(),
        n_item(code="1.000009"),  # P has it, without fees
        n_item(code="1.000008", sync_status="2", sync_error="x"),  # P has nothing
    ]
    result = run(provincial, national)
    assert [(o.key, o.has_provincial_configuration) for o in result.orphans] == [
        (f"1.000008|{AGENCY}", False),
        (f"1.000009|{AGENCY}", True),
    ]
    assert result.orphans[0].national["sync_error"] == "x"
    assert result.orphans[0].procedure_code == "1.000008"
    assert only(result).key == KEY  # orphans are never among the fee-bearing
    assert result.summary == {"tinh": LevelFigure(1, 1, 0, 1.0)}


# --- evidence and fingerprints --------------------------------------------------------------


def _all_reasons_inputs(
    p_updated: str = "20231130083000",
    n_error: str = "Sai tài khoản",
    n_synced: str = "20231201000000",
    n_updated: str = "20231201000000",
    p_branch: str = "Kho bạc Nhà nước Tây Ninh",
    n_branch: str = "Kho bạc Nhà nước Tây Ninh",
) -> tuple[list[ProvincialProcedure], list[NationalPaymentInfo]]:
    provincial = [
        p_item(payment=info(account="12", bank="XYZ", treasury_branch=p_branch), updated=p_updated),
        p_item(code="1.000002", payment=info(treasury_branch=p_branch), updated=p_updated),
    ]
    national = [
        n_item(
            status="0",
            sync_status="2",
            sync_error=n_error,
            synced_at=n_synced,
            updated=n_updated,
            payment=info(
                account="34", bank="VCB", beneficiary_name="Khác", treasury_branch=n_branch
            ),
        ),
        n_item(
            code="1.000002",
            sync_status="0",
            sync_error=n_error,
            synced_at=n_synced,
            updated=n_updated,
            payment=info(treasury_account="", treasury_branch=n_branch),
        ),
    ]
    return provincial, national


def test_evidence_is_deterministic_and_json_serializable() -> None:
    first = run(*_all_reasons_inputs(), [])
    second = run(*_all_reasons_inputs(), [])
    assert first == second
    for a, b in zip(first.configurations, second.configurations, strict=True):
        assert a.evidence == b.evidence
        assert json.dumps(a.evidence, sort_keys=True) == json.dumps(b.evidence, sort_keys=True)
        assert a.fingerprint == b.fingerprint
        json.dumps([a.provincial, a.national])


def test_volatile_fields_do_not_change_evidence_but_change_the_fingerprint() -> None:
    base = run(*_all_reasons_inputs(), [])
    changed = run(
        *_all_reasons_inputs(
            p_updated="20240101000000",
            n_error="Lỗi khác hoàn toàn",
            n_synced="20240102000000",
            n_updated="20240103000000",
            p_branch="KBNN khu vực XIV",
            n_branch="",
        ),
        [],
    )
    for a, b in zip(base.configurations, changed.configurations, strict=True):
        assert a.reasons == b.reasons
        assert a.evidence == b.evidence
        assert a.fingerprint != b.fingerprint
    by_key = {c.key: c for c in base.configurations}
    assert by_key[f"1.000002|{AGENCY}"].reasons == (
        "treasury_mismatch",
        "sync_pending",
        "no_fee_dossier_synced",
    )
    assert by_key[KEY].reasons == (
        "invalid_account",
        "unknown_bank",
        "inactive_on_national",
        "account_mismatch",
        "bank_mismatch",
        "beneficiary_mismatch",
        "sync_failed",
        "no_fee_dossier_synced",
    )


def test_evidence_changes_when_a_compared_value_changes() -> None:
    before = only(run(national=[n_item(payment=info(account="111111"))]))
    after = only(run(national=[n_item(payment=info(account="222222"))]))
    assert before.reasons == after.reasons == ("account_mismatch",)
    assert before.evidence != after.evidence


def test_evidence_holds_only_compared_values() -> None:
    configs = run(*_all_reasons_inputs(), []).configurations
    text = json.dumps([c.evidence for c in configs], ensure_ascii=False)
    for volatile in ("20231130083000", "20231201000000", "Sai tài khoản", "Kho bạc"):
        assert volatile not in text


def test_fingerprint_follows_every_input_the_judgement_reads() -> None:
    config = only(run())
    assert only(run()).fingerprint == config.fingerprint
    assert only(run(national=[])).fingerprint != config.fingerprint
    assert only(run([p_item(updated="20240101000000")])).fingerprint != config.fingerprint
    # The statistic counts only as far as the rule reads it: at least one fee-bearing dossier.
    assert only(run(stats=[stat(fee_dossiers=9, synced=40)])).fingerprint == config.fingerprint
    assert only(run(stats=[stat(fee_dossiers=0)])).fingerprint != config.fingerprint

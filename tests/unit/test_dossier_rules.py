"""Semantics §3, rule by rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.dossiers import (
    DossierPayment,
    NationalDossier,
    PaymentTransaction,
    ProvincialDossier,
)
from app.domain.records import FeeLine
from app.reconcile.dossier_rules import (
    code_date,
    is_orphan_transaction,
    judge_dossier,
    matching_transactions,
    valid_dossier_code,
)

AGENCY = "000.00.15.H53"
CODE = f"{AGENCY}-231002-0012"
RUN_START = datetime(2023, 11, 30, 1, 0, tzinfo=UTC)
CUTOFF = RUN_START - timedelta(minutes=30)


def fee(gia: str) -> FeeLine:
    amount = int(gia.replace(".", "")) if gia.replace(".", "").isdigit() else None
    return FeeLine("LP01", "Lệ phí", gia, amount, "2")


def p_dossier(
    *,
    code: str = CODE,
    method: str | None = "DVCQG",
    amount: str = "100000",
    ref: str | None = "R1",
) -> ProvincialDossier:
    payment = (
        None
        if method is None
        else DossierPayment(method, amount, int(amount.replace(".", "")), ref, "20231002100000")
    )
    return ProvincialDossier(
        code=code,
        agency_code=AGENCY,
        procedure_code="1.004227",
        channel=2,
        received_at=datetime(2023, 10, 2, 2, 0, tzinfo=UTC),
        due_at=None,
        finished_at=None,
        status_raw="9",
        fees=(fee("100000"),),
        payment=payment,
        believes_synced=True,
    )


def n_dossier(*, flag: str = "1", status: str = "9", gia: str = "100000") -> NationalDossier:
    return NationalDossier(CODE, status, (fee(gia),), flag, "20231002110000")


def tx(
    state: str = "1",
    *,
    amount: str = "100000",
    ref: str | None = "R1",
    at: datetime | None = None,
    tid: str = "GD1",
    code: str = CODE,
) -> PaymentTransaction:
    return PaymentTransaction(
        transaction_id=tid,
        reference=ref,
        dossier_code=code,
        agency_code=AGENCY,
        amount_raw=amount,
        amount=int(amount.replace(".", "")),
        state=state,
        at=at or datetime(2023, 10, 2, 3, 0, tzinfo=UTC),
        channel="QR_DONG",
    )


def reasons(
    p: ProvincialDossier, n: NationalDossier | None, txs: list[PaymentTransaction]
) -> set[str]:
    return set(judge_dossier(p, n, txs, pending_cutoff=CUTOFF).reasons)


def test_a_dossier_paid_through_the_platform_and_synced_has_no_reason() -> None:
    judged = judge_dossier(p_dossier(), n_dossier(), [tx()], pending_cutoff=CUTOFF)
    assert judged.reasons == ()
    assert (judged.portal_counted, judged.verified_online, judged.paid_offline) == (
        True,
        True,
        False,
    )
    assert judged.verified_amount == 100000


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (CODE, True),
        (f" {AGENCY.lower()}-231002-0012 ", True),  # normalized
        (f"{AGENCY}-230231-0012", False),  # 31 February
        (f"{AGENCY}-231002-12", False),
        ("000.00.16.H53-231002-0012", False),  # another agency's code
        ("HS-2023-0012", False),
    ],
)
def test_dossier_code_format(code: str, valid: bool) -> None:
    assert valid_dossier_code(code, AGENCY) is valid
    assert ("invalid_dossier_code" in reasons(p_dossier(code=code), n_dossier(), [tx()])) is (
        not valid
    )


def test_not_synced_skips_the_comparisons_with_n() -> None:
    assert reasons(p_dossier(), None, [tx()]) == {"dossier_not_synced"}


def test_status_compared_as_integers_and_fees_as_sums() -> None:
    assert reasons(p_dossier(), n_dossier(status=" 9"), [tx()]) == set()
    assert reasons(p_dossier(), n_dossier(status="10"), [tx()]) == {"status_mismatch"}
    assert reasons(p_dossier(), n_dossier(gia="100.000"), [tx()]) == set()  # legacy money
    assert reasons(p_dossier(), n_dossier(gia="150000"), [tx()]) == {"fee_mismatch"}


def test_portal_payment_missing_pending_and_grace_window() -> None:
    assert reasons(p_dossier(), n_dossier(flag="3"), []) == {"payment_not_on_platform"}
    young = tx("3", at=CUTOFF + timedelta(minutes=5))
    assert reasons(p_dossier(), n_dossier(flag="3"), [young]) == set()
    old = tx("3", at=CUTOFF - timedelta(hours=2))
    # Literally both hold: no verified payment and no young pending one; pending and old.
    assert reasons(p_dossier(), n_dossier(flag="3"), [old]) == {
        "payment_not_on_platform",
        "payment_pending",
    }
    # The newest pending decides.
    assert reasons(p_dossier(), n_dossier(flag="3"), [old, young]) == set()
    failed = tx("4")
    assert reasons(p_dossier(), n_dossier(flag="3"), [failed]) == {"payment_not_on_platform"}


def test_verified_payment_not_recorded_by_p() -> None:
    assert reasons(p_dossier(method=None), n_dossier(), [tx()]) == {"payment_not_recorded"}
    cash = p_dossier(method="TIEN_MAT", ref=None)
    assert reasons(cash, n_dossier(), [tx(ref=None)]) == {"payment_not_recorded"}


def test_amount_compared_with_p_payment_or_with_its_fees() -> None:
    assert reasons(p_dossier(), n_dossier(), [tx(amount="90000")]) == {"amount_mismatch"}
    split = [tx(amount="60000", tid="A"), tx(amount="40000", tid="B")]
    assert reasons(p_dossier(), n_dossier(), split) == set()
    # No payment recorded by P: compared with the sum of its fees.
    unrecorded = p_dossier(method=None)
    assert reasons(unrecorded, n_dossier(), [tx(amount="100000")]) == {"payment_not_recorded"}
    assert reasons(unrecorded, n_dossier(), [tx(amount="5000")]) == {
        "payment_not_recorded",
        "amount_mismatch",
    }


def test_online_flag_against_verified_payment() -> None:
    assert reasons(p_dossier(), n_dossier(flag="2"), [tx()]) == set()
    assert reasons(p_dossier(), n_dossier(flag="3"), [tx()]) == {"online_flag_mismatch"}
    assert reasons(p_dossier(), n_dossier(flag=""), [tx()]) == {"online_flag_mismatch"}
    portal_counted_unverified = judge_dossier(
        p_dossier(method="QR_TINH", ref=None), n_dossier(flag="2"), [], pending_cutoff=CUTOFF
    )
    assert portal_counted_unverified.reasons == ("online_flag_mismatch",)
    assert portal_counted_unverified.portal_counted
    assert not portal_counted_unverified.verified_online


@pytest.mark.parametrize("method", ["QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS"])
def test_paid_offline_is_not_a_mismatch(method: str) -> None:
    judged = judge_dossier(
        p_dossier(method=method, ref=None), n_dossier(flag="3"), [], pending_cutoff=CUTOFF
    )
    assert judged.reasons == ()
    assert judged.paid_offline
    assert not judged.portal_counted


def test_transactions_match_by_reference_else_by_code() -> None:
    by_ref = tx(ref="R1", code="SOMETHING-ELSE")
    by_code = tx(ref=None, tid="GD2")
    assert matching_transactions(p_dossier(), [by_ref, by_code]) == [by_ref]
    no_ref = p_dossier(ref=None)
    assert matching_transactions(no_ref, [by_ref, by_code]) == [by_code]
    lower = by_code._replace(dossier_code=CODE.lower())
    assert matching_transactions(no_ref, [lower]) == [lower]


def test_orphan_transactions() -> None:
    start = date(2023, 1, 1)
    assert is_orphan_transaction(tx(), start, matched=False)
    assert not is_orphan_transaction(tx(), start, matched=True)
    assert not is_orphan_transaction(tx("3"), start, matched=False)
    older = tx(code=f"{AGENCY}-221230-0001")
    assert not is_orphan_transaction(older, start, matched=False)
    malformed_old = tx(code="HS-221230")
    assert is_orphan_transaction(malformed_old, start, matched=False)
    assert code_date(f"{AGENCY}-221230-0001") == date(2022, 12, 30)

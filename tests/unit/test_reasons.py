"""The reason catalogue: complete against the rules, its doc generated, its fixes rendered."""

from __future__ import annotations

import unicodedata
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.reasons import (
    ACTORS,
    ALL_CODES,
    CATALOGUE,
    DOSSIER_CODES,
    LISTED_APART_CODES,
    MISSING,
    PLACES,
    PROCEDURE_CODES,
    Actor,
    Lang,
    Reason,
    Text,
    reason,
    render_fix,
)
from app.domain.reasons_doc import REGENERATE, render_rules_markdown
from app.reconcile.dossier_rules import DOSSIER_REASONS, judge_dossier
from app.reconcile.procedures import REASON_CODES, reconcile_procedures
from tests.unit import test_dossier_rules as dossiers
from tests.unit import test_procedures as procedures

ROOT = Path(__file__).resolve().parents[2]
LANGS: tuple[Lang, ...] = ("vi", "en")

# A sample evidence of the real shape for every code (copied from how procedures.py and
# dossier_rules.py build it), and the values of each side that the sentence must show.
SAMPLES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "missing_payment_info": (
        {
            "field": "account",
            "provincial": {"has_payment_info": True, "account": {"raw": " ", "normalized": ""}},
        },
        ("(",),
    ),
    "invalid_account": (
        {"field": "account", "provincial": {"raw": "12-34", "normalized": "1234"}},
        ("12-34",),
    ),
    "unknown_bank": (
        {"field": "bank", "provincial": {"raw": "XYZ", "normalized": "XYZ"}},
        ("XYZ",),
    ),
    "not_on_national": ({"national": None}, (MISSING,)),
    "inactive_on_national": (
        {"field": "status", "national": {"raw": "0", "normalized": "0"}},
        ("“0”",),
    ),
    "account_mismatch": (
        {
            "field": "account",
            "provincial": {"raw": "3511.0.1104195", "normalized": "351101104195"},
            "national": {"raw": "351101104196", "normalized": "351101104196"},
        },
        ("3511.0.1104195", "351101104196"),
    ),
    "bank_mismatch": (
        {
            "field": "bank",
            "provincial": {"raw": "970415", "normalized": "970415"},
            "national": {"raw": "VCB", "normalized": "970436"},
        },
        ("970415", "VCB"),
    ),
    "beneficiary_mismatch": (
        {
            "field": "beneficiary_name",
            "provincial": {"raw": "VP ĐKĐĐ tỉnh Tây Ninh", "normalized": "van phong ..."},
            "national": {"raw": "Chi nhánh VP ĐKĐĐ Châu Thành", "normalized": "chi nhanh ..."},
        },
        ("VP ĐKĐĐ tỉnh Tây Ninh", "Chi nhánh VP ĐKĐĐ Châu Thành"),
    ),
    "treasury_mismatch": (
        {
            "field": "treasury_account",
            "provincial": {"raw": "7111.0.1055669", "normalized": "711101055669"},
            "national": {"raw": None, "normalized": ""},
        },
        ("7111.0.1055669", "("),
    ),
    "sync_pending": (
        {
            "field": "sync_status",
            "national": {"raw": "7", "normalized": "7", "known": False},
        },
        ("“7”",),
    ),
    "sync_failed": (
        {"field": "sync_status", "national": {"raw": "2", "normalized": "2"}},
        ("“2”",),
    ),
    "no_fee_dossier_synced": (
        {"field": "fee_dossiers", "national": {"procedure_code": "1.004227", "fee_dossiers": 0}},
        (" 0",),
    ),
    "invalid_dossier_code": (
        {
            "field": "MaHoSo",
            "provincial": {"raw": "HS-0012", "normalized": "HS-0012"},
            "expected": "000.00.15.H53-yyMMdd-nnnn",
        },
        ("HS-0012", "000.00.15.H53-yyMMdd-nnnn"),
    ),
    "dossier_not_synced": ({"field": "MaHoSo", "national": None}, (MISSING,)),
    "status_mismatch": (
        {
            "field": "TrangThaiHoSo",
            "provincial": {"raw": "9", "normalized": 9},
            "national": {"raw": "4", "normalized": 4},
        },
        ("“9”", "“4”"),
    ),
    "fee_mismatch": (
        {
            "field": "DanhSachLePhi.Gia",
            "provincial": {"raw": ["100000", "50000"], "normalized": 150000},
            "national": {"raw": ["1.000.000"], "normalized": 1000000},
        },
        ("100000", "50000", "1.000.000"),
    ),
    "payment_not_on_platform": (
        {
            "field": "ThanhToan",
            "provincial": {"raw": "DVCQG", "normalized": "R1"},
            "national": {"verified": 0, "pending": 2},
        },
        ("DVCQG", "R1", "0", "2"),
    ),
    "payment_pending": (
        {
            "field": "TrangThaiGD",
            "national": {"pending": ["GD7", "GD8"], "newest_at": "2023-10-02T03:00:00+00:00"},
        },
        ("GD7", "GD8", "2023-10-02T03:00:00+00:00"),
    ),
    "payment_not_recorded": (
        {
            "field": "ThanhToan.HinhThuc",
            "provincial": {"raw": "tien_mat", "normalized": "TIEN_MAT"},
            "national": {"verified": ["GD1"]},
        },
        ("tien_mat", "GD1"),
    ),
    "amount_mismatch": (
        {
            "field": "SoTien",
            "provincial": {"raw": "100000", "normalized": 100000},
            "national": {"raw": ["60000", "50000"], "normalized": 110000},
        },
        ("100000", "60000", "50000"),
    ),
    "online_flag_mismatch": (
        {
            "field": "DuocThanhToanTrucTuyen",
            "national": {"raw": "0", "normalized": "0"},
            "verified": True,
        },
        ("“0”",),
    ),
    "orphan_on_national": (
        {
            "national": {
                "payment_info": {
                    "account": "351101104195",
                    "bank": "970415",
                    "beneficiary_name": "Sở Tư pháp",
                    "treasury_branch": None,
                    "treasury_account": None,
                }
            },
            "provincial": None,
        },
        ("351101104195", "970415", "Sở Tư pháp"),
    ),
    "orphan_transaction": (
        {
            "transaction_id": "GD9",
            "reference": None,
            "dossier_code": "000.00.15.H53-231002-0099",
            "agency_code": "000.00.15.H53",
            "amount": 100000,
            "at": datetime(2023, 10, 2, 3, 0, tzinfo=UTC),
            "channel": "QR_DONG",
        },
        ("GD9", "000.00.15.H53-231002-0099", "2023-10-02"),
    ),
    "paid_offline": (
        {"provincial": {"raw": "TIEN_MAT", "normalized": "TIEN_MAT"}},
        ("TIEN_MAT",),
    ),
}


def _texts(entry: Reason) -> list[str]:
    out = [entry.code]
    for f in fields(entry):
        value = getattr(entry, f.name)
        if isinstance(value, Text):
            out += [value.vi, value.en]
    return out


# --- (a) the catalogue covers exactly what the rules emit -----------------------------------


def test_procedure_codes_are_the_rules_reason_codes() -> None:
    assert set(PROCEDURE_CODES) == set(REASON_CODES)


def test_dossier_codes_are_the_dossier_reasons() -> None:
    assert set(DOSSIER_CODES) == set(DOSSIER_REASONS)


def test_listed_apart_and_all_codes() -> None:
    assert set(LISTED_APART_CODES) == {"orphan_on_national", "orphan_transaction", "paid_offline"}
    assert len(ALL_CODES) == len(set(ALL_CODES))
    assert set(ALL_CODES) == set(REASON_CODES) | set(DOSSIER_REASONS) | set(LISTED_APART_CODES)
    assert all(reason(code).code == code for code in ALL_CODES)
    with pytest.raises(KeyError):
        reason("no_such_reason")


def test_every_entry_is_complete() -> None:
    assert set(ACTORS) == set(Actor)
    for entry in CATALOGUE.values():
        assert all(text.strip() for text in _texts(entry)), entry.code
        assert entry.provincial_place is not None or entry.national_place is not None
        for place in (entry.provincial_place, entry.national_place):
            assert place is None or place in PLACES


# --- (b) the doc cannot drift ---------------------------------------------------------------


def test_rules_doc_is_generated_from_the_catalogue() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == render_rules_markdown(), f"docs/rules.md is stale; run: {REGENERATE}"


def test_rules_doc_names_every_code_in_both_languages() -> None:
    text = render_rules_markdown()
    for entry in CATALOGUE.values():
        assert f"### `{entry.code}`" in text
        assert entry.title.vi in text
        assert entry.title.en in text
        assert entry.fix.vi in text
        assert entry.fix.en in text


# --- (c) fixes rendered from evidence -------------------------------------------------------


def test_every_code_has_a_sample() -> None:
    assert set(SAMPLES) == set(ALL_CODES)


@pytest.mark.parametrize("code", ALL_CODES)
@pytest.mark.parametrize("lang", LANGS)
def test_render_fix_shows_both_sides(code: str, lang: Lang) -> None:
    evidence, shown = SAMPLES[code]
    sentence = render_fix(code, evidence, lang)
    assert "{" not in sentence
    assert "}" not in sentence
    assert sentence.endswith(".")
    for value in shown:
        assert value in sentence, (code, lang, value, sentence)


def test_account_mismatch_sentence() -> None:
    evidence = SAMPLES["account_mismatch"][0]
    assert render_fix("account_mismatch", evidence, "vi") == (
        "Xác nhận số tài khoản đúng, rồi sửa bên sai: Hệ thống tỉnh có “3511.0.1104195”, CSDL "
        "quốc gia có “351101104196”."
    )
    assert "the provincial system has “3511.0.1104195”" in render_fix(
        "account_mismatch", evidence, "en"
    )


def test_fee_totals_are_grouped_per_language() -> None:
    evidence = SAMPLES["fee_mismatch"][0]
    assert "1.000.000 (“1.000.000”)" in render_fix("fee_mismatch", evidence, "vi")
    assert "1,000,000 (“1.000.000”)" in render_fix("fee_mismatch", evidence, "en")


@pytest.mark.parametrize("code", ALL_CODES)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "evidence",
    [
        {},
        None,
        {"provincial": None, "national": None},
        {"provincial": {}, "national": {}},
        {"provincial": "?", "national": 3, "verified": None},
        {"provincial": {"raw": None}, "national": {"raw": [], "normalized": None}},
    ],
)
def test_render_fix_never_raises(code: str, lang: Lang, evidence: Any) -> None:
    sentence = render_fix(code, evidence, lang)
    assert sentence
    assert "{" not in sentence


def test_missing_sides_are_dashes() -> None:
    assert "Hệ thống tỉnh có —, CSDL quốc gia có —." in render_fix("account_mismatch", {}, "vi")


def _procedure_evidence() -> dict[str, dict[str, Any]]:
    """Evidence the real §1 rules produce, one or more configurations per reason."""
    p, n, s = procedures.p_item, procedures.n_item, procedures.stat
    bad = procedures.info(
        account="0123 456 789",
        bank="970436",
        beneficiary_name="Sở Tư pháp",
        treasury_account="7111.0.1055670",
    )
    result = reconcile_procedures(
        [
            p(code="1.000001", payment=None),
            p(code="1.000002", payment=procedures.info(account="12", bank="ZZZ")),
            p(code="1.000003"),
            p(code="1.000004"),
            p(code="1.000005"),
        ],
        [
            n(code="1.000001", status="0", sync_status="2"),
            n(code="1.000002", sync_status="0"),
            n(code="1.000004", payment=bad, sync_status="9"),
            n(code="1.000005", status="0"),
        ],
        [s(code="1.000003", fee_dossiers=0), s(code="1.000004")],
    )
    found: dict[str, dict[str, Any]] = {}
    for configuration in result.configurations:
        for code in configuration.reasons:
            found.setdefault(code, dict(configuration.evidence[code]))
    return found


def _dossier_evidence() -> dict[str, dict[str, Any]]:
    cutoff = dossiers.CUTOFF
    old = cutoff - timedelta(hours=1)
    cases = [
        (dossiers.p_dossier(code="HS-1"), None, []),
        (dossiers.p_dossier(), dossiers.n_dossier(status="4", gia="50000", flag="0"), []),
        (dossiers.p_dossier(), dossiers.n_dossier(), [dossiers.tx("3", at=old)]),
        (
            dossiers.p_dossier(method="TIEN_MAT"),
            dossiers.n_dossier(),
            [dossiers.tx(amount="90000")],
        ),
    ]
    found: dict[str, dict[str, Any]] = {}
    for p, n, txs in cases:
        judged = judge_dossier(p, n, txs, pending_cutoff=cutoff)
        for code in judged.reasons:
            found.setdefault(code, judged.evidence[code])
    return found


def _raw_strings(value: Any) -> list[str]:
    """Every non-empty raw value a side holds (what a user recognizes from the upstream)."""
    if isinstance(value, dict):
        if "raw" in value:
            return _raw_strings(value["raw"])
        return [s for item in value.values() for s in _raw_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _raw_strings(item)]
    return [value] if isinstance(value, str) and value.strip() else []


def test_render_fix_from_evidence_the_rules_produce() -> None:
    real = _procedure_evidence() | _dossier_evidence()
    assert set(real) == set(REASON_CODES) | set(DOSSIER_REASONS)
    for code, evidence in real.items():
        for lang in LANGS:
            sentence = render_fix(code, evidence, lang)
            assert "{" not in sentence, (code, sentence)
            for side in ("provincial", "national"):
                values = _raw_strings(evidence.get(side))
                for value in values:
                    assert value in sentence, (code, lang, side, value, sentence)


# --- (d) NFC ----------------------------------------------------------------------------------


def test_all_text_is_nfc() -> None:
    texts = [t for entry in CATALOGUE.values() for t in _texts(entry)]
    texts += [t for label in (*ACTORS.values(), *PLACES.values()) for t in (label.vi, label.en)]
    texts.append(render_rules_markdown())
    for code, (evidence, _) in SAMPLES.items():
        texts += [render_fix(code, evidence, lang) for lang in LANGS]
    for text in texts:
        assert unicodedata.is_normalized("NFC", text), text


def test_vietnamese_text_has_diacritics() -> None:
    for entry in CATALOGUE.values():
        for text in (entry.title.vi, entry.explanation.vi, entry.fix.vi):
            assert any(ord(ch) > 127 for ch in text), (entry.code, text)

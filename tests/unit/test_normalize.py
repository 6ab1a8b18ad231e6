"""Normalization (semantics §2): examples from the contract and properties over generated text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.banks import BIN_BY_SHORT_CODE
from app.domain.normalize import (
    is_known_bank,
    is_valid_account,
    normalize_account,
    normalize_bank,
    normalize_code,
    normalize_name,
)

TAY_NINH_NAMES = [
    "VĂN PHÒNG ĐĂNG KÝ ĐẤT ĐAI TỈNH TÂY NINH",
    unicodedata.normalize("NFD", "Văn phòng  Đăng ký đất đai tỉnh Tây Ninh"),
    "Văn phòng Đăng ký đất đai, tỉnh Tây Ninh",
    "VP ĐKĐĐ tỉnh Tây Ninh",
]

# Vietnamese-heavy text: letters with every tone mark, đ/Đ, digits, spaces and punctuation.
_VI_LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
_ALPHABET = _VI_LETTERS + _VI_LETTERS.upper() + "0123456789 ,.-/()"
vi_text = st.text(alphabet=_ALPHABET, max_size=40)
any_text = st.text(max_size=40)
_SPACES = ["\u00a0", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2007", "\u202f", "\u3000", "\t"]


# --- codes ----------------------------------------------------------------------------------


def test_code_is_trimmed_and_upper_cased() -> None:
    assert normalize_code(" 000.00.15.h53 ") == "000.00.15.H53"
    assert normalize_code(None) == ""


@given(any_text)
def test_code_is_idempotent(raw: str) -> None:
    assert normalize_code(normalize_code(raw)) == normalize_code(raw)


# --- accounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("3511.0.1104195", "351101104195"),
        ("0123 456 789", "0123-456-789"),
        ("0123\u00a0456\u200b789", "0123456789"),
        ("3511.0.1004872.00000", "35110100487200000"),
        ("ab-12", "AB12"),
    ],
)
def test_account_examples_are_equal(left: str, right: str) -> None:
    assert normalize_account(left) == normalize_account(right)


def test_account_none_is_empty() -> None:
    assert normalize_account(None) == ""
    assert normalize_account(" \u00a0.-") == ""


@pytest.mark.parametrize(
    ("raw", "valid"),
    [("123456", True), ("1" * 20, True), ("12345", False), ("1" * 21, False), ("12A456", False)],
)
def test_account_validity(raw: str, valid: bool) -> None:
    assert is_valid_account(normalize_account(raw)) is valid


@given(any_text)
def test_account_is_idempotent(raw: str) -> None:
    assert normalize_account(normalize_account(raw)) == normalize_account(raw)


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.lists(st.tuples(st.integers(0, 20), st.sampled_from([" ", ".", "-", *_SPACES]))),
)
def test_account_ignores_inserted_separators(digits: str, inserts: list[tuple[int, str]]) -> None:
    written = digits
    for position, separator in inserts:
        at = position % (len(written) + 1)
        written = written[:at] + separator + written[at:]
    assert normalize_account(written) == normalize_account(digits) == digits


# --- banks ----------------------------------------------------------------------------------


def test_short_code_equals_its_bin() -> None:
    assert normalize_bank("ICB") == normalize_bank("970415") == "970415"
    assert normalize_bank(" icb ") == "970415"


def test_unknown_code_equals_only_itself() -> None:
    assert normalize_bank("XYZ") == "XYZ"
    assert normalize_bank(" xyz") == normalize_bank("XYZ")
    assert normalize_bank("XYZ") != normalize_bank("XYW")
    assert not is_known_bank(normalize_bank("XYZ"))
    assert not is_known_bank(normalize_bank("970999"))
    assert not is_known_bank("")
    assert not is_known_bank(None)


def test_public_list_traps() -> None:
    assert normalize_bank("DOB") == "970406"  # DongA, not Sacombank
    assert normalize_bank("STB") != "970406"
    assert normalize_bank("MB") == "970422"  # MB, not Techcombank
    assert normalize_bank("TCB") != "970422"


@pytest.mark.parametrize(("short", "bin_"), sorted(BIN_BY_SHORT_CODE.items()))
def test_every_listed_bank_is_known(short: str, bin_: str) -> None:
    assert is_known_bank(normalize_bank(short))
    assert is_known_bank(normalize_bank(bin_))
    assert normalize_bank(short.lower()) == bin_


@given(any_text)
def test_bank_is_idempotent(raw: str) -> None:
    assert normalize_bank(normalize_bank(raw)) == normalize_bank(raw)


# --- names ----------------------------------------------------------------------------------


def test_tay_ninh_names_are_one_name() -> None:
    normalized = {normalize_name(name) for name in TAY_NINH_NAMES}
    assert normalized == {"van phong dang ky dat dai tinh tay ninh"}


def test_chau_thanh_branch_is_another_name() -> None:
    branch = normalize_name("Chi nhánh Văn phòng Đăng ký đất đai huyện Châu Thành")
    assert branch != normalize_name(TAY_NINH_NAMES[0])
    assert branch == normalize_name("CN VPĐKĐĐ huyện Châu Thành")


@pytest.mark.parametrize(("left", "right"), [("Ủy ban", "Uỷ ban"), ("Hòa Thành", "Hoà Thành")])
def test_tone_mark_placement_does_not_matter(left: str, right: str) -> None:
    assert normalize_name(left) == normalize_name(right)


@pytest.mark.parametrize(
    ("abbreviated", "expanded"),
    [
        ("KBNN Tây Ninh", "Kho bạc Nhà nước Tây Ninh"),
        ("UBND huyện Tam Nông", "Ủy ban nhân dân huyện Tam Nông"),
        ("TTPVHCC tỉnh", "Trung tâm Phục vụ hành chính công tỉnh"),
        ("STNMT", "Sở Tài nguyên và Môi trường"),
        ("SNNMT", "Sở Nông nghiệp và Môi trường"),
        ("UBND TP. Cao Lãnh", "Ủy ban nhân dân thành phố Cao Lãnh"),
        ("UBND TX Hồng Ngự", "UBND thị xã Hồng Ngự"),
        ("Thu NSNN", "Thu ngân sách nhà nước"),
        ("VPĐKĐĐ", "Văn phòng đăng ký đất đai"),
    ],
)
def test_abbreviations_expand(abbreviated: str, expanded: str) -> None:
    assert normalize_name(abbreviated) == normalize_name(expanded)


def test_abbreviation_only_as_whole_word() -> None:
    # "tp" inside "tpbank" and "cn" inside "cnx" are not abbreviations.
    assert normalize_name("TPBank") == "tpbank"
    assert normalize_name("cnx") == "cnx"
    assert normalize_name("vp") == "vp"


def test_name_none_is_empty() -> None:
    assert normalize_name(None) == ""
    assert normalize_name(" ,. ") == ""


@given(any_text)
def test_name_is_idempotent(raw: str) -> None:
    assert normalize_name(normalize_name(raw)) == normalize_name(raw)


@given(vi_text)
def test_name_ignores_unicode_form(raw: str) -> None:
    nfc = unicodedata.normalize("NFC", raw)
    nfd = unicodedata.normalize("NFD", raw)
    assert normalize_name(nfc) == normalize_name(nfd)


@given(vi_text)
def test_name_ignores_case(raw: str) -> None:
    assert normalize_name(raw.upper()) == normalize_name(raw.lower()) == normalize_name(raw)


@given(vi_text, st.sampled_from([" ", "  ", "\u00a0", " \u00a0 ", "\t", "\u3000"]))
def test_name_ignores_spacing(raw: str, space: str) -> None:
    respaced = space + space.join(raw.split(" ")) + space
    assert normalize_name(respaced) == normalize_name(raw)


@given(st.lists(st.text(alphabet=_VI_LETTERS, min_size=1, max_size=8), min_size=1, max_size=6))
def test_name_ignores_punctuation(words: list[str]) -> None:
    plain = " ".join(words)
    punctuated = ", ".join(words) + "."
    dashed = " - ".join(f"({word})" for word in words)
    assert normalize_name(punctuated) == normalize_name(plain) == normalize_name(dashed)


@given(vi_text)
def test_name_ignores_diacritics_and_d(raw: str) -> None:
    stripped = (
        "".join(ch for ch in unicodedata.normalize("NFD", raw) if not unicodedata.combining(ch))
        .replace("đ", "d")
        .replace("Đ", "D")
    )
    assert normalize_name(stripped) == normalize_name(raw)

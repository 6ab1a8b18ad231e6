"""Normalization of compared values (semantics §2): the same value written differently is equal.

Raw values are kept and shown elsewhere; only comparisons use these forms. Every function maps
``None`` to ``""`` so a missing value compares equal to an empty one (the contract says an empty
string or ``null`` means "none"), and every function is idempotent, so normalizing an already
normalized value is harmless.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

from app.domain.banks import BIN_BY_SHORT_CODE, KNOWN_BINS

__all__ = [
    "NAME_ABBREVIATIONS",
    "is_known_bank",
    "is_valid_account",
    "normalize_account",
    "normalize_bank",
    "normalize_code",
    "normalize_name",
]

# Characters that look like nothing but break equality. ``str.isspace`` already covers the
# Unicode space separators (NBSP U+00A0, U+2007, U+202F, ideographic space …); the zero-width
# ones are format characters (category Cf), so they are listed explicitly.
_INVISIBLE: Final[frozenset[str]] = frozenset(
    {
        "\u180e",  # Mongolian vowel separator (was a space before Unicode 6.3)
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # zero-width no-break space / BOM
    }
)
_ACCOUNT_SEPARATORS: Final[frozenset[str]] = frozenset({".", "-"})
_ACCOUNT_PATTERN: Final[re.Pattern[str]] = re.compile(r"[0-9]{6,20}")

# §2's table, keys as they look after the earlier steps. The two-word key is matched before the
# one-word keys so "vp dkdd" is not left as "vp" + "dkdd".
NAME_ABBREVIATIONS: Final[dict[str, str]] = {
    "vp dkdd": "van phong dang ky dat dai",
    "vpdkdd": "van phong dang ky dat dai",
    "kbnn": "kho bac nha nuoc",
    "ubnd": "uy ban nhan dan",
    "cn": "chi nhanh",
    "ttpvhcc": "trung tam phuc vu hanh chinh cong",
    "stnmt": "so tai nguyen va moi truong",
    "snnmt": "so nong nghiep va moi truong",
    "tp": "thanh pho",
    "tx": "thi xa",
    "nsnn": "ngan sach nha nuoc",
}
_TWO_WORD: Final[dict[tuple[str, str], str]] = {
    ("vp", "dkdd"): NAME_ABBREVIATIONS["vp dkdd"],
}
_ONE_WORD: Final[dict[str, str]] = {
    key: expansion for key, expansion in NAME_ABBREVIATIONS.items() if " " not in key
}


def normalize_code(raw: str | None) -> str:
    """``MaTTHC``, ``MaDonVi``, ``MaHoSo``: trim, upper-case."""
    if raw is None:
        return ""
    return raw.strip().upper()


def normalize_account(raw: str | None) -> str:
    """``TKThuHuong``, ``TaiKhoanThuNSNN``: drop every kind of space, ``.`` and ``-``; upper-case.

    Banks print accounts grouped (``0123 456 789``, ``0123-456-789``) and the State Treasury
    writes ``3511.0.1104195``; the separators carry no meaning, so ``3511.0.1104195`` equals
    ``351101104195``.
    """
    if raw is None:
        return ""
    kept = "".join(
        ch
        for ch in raw
        if not ch.isspace() and ch not in _INVISIBLE and ch not in _ACCOUNT_SEPARATORS
    )
    return kept.upper()


def is_valid_account(normalized: str) -> bool:
    """An account, once normalized, is 6–20 ASCII digits (semantics §1 ``invalid_account``)."""
    return _ACCOUNT_PATTERN.fullmatch(normalized) is not None


def normalize_bank(raw: str | None) -> str:
    """``MaNHThuHuong``: trim, upper-case, short code → BIN; anything else stays as it is.

    So ``ICB`` equals ``970415``, and an unknown code equals only itself.
    """
    if raw is None:
        return ""
    code = raw.strip().upper()
    return BIN_BY_SHORT_CODE.get(code, code)


def is_known_bank(normalized: str | None) -> bool:
    """True for a BIN (or short code) listed in ``banks.md``; empty and unknown codes are not.

    Normalizing again is idempotent, so a raw value is accepted too.
    """
    return normalize_bank(normalized) in KNOWN_BINS


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _expand_abbreviations(words: list[str]) -> list[str]:
    expanded: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and (words[i], words[i + 1]) in _TWO_WORD:
            expanded.append(_TWO_WORD[(words[i], words[i + 1])])
            i += 2
            continue
        expanded.append(_ONE_WORD.get(words[i], words[i]))
        i += 1
    return expanded


@lru_cache(maxsize=65536)
def _normalize_name(raw: str) -> str:
    # The steps and their order are §2's; each comment says what the step absorbs.
    text = unicodedata.normalize("NFC", raw)  # NFC/NFD input look the same to users
    text = _strip_marks(text)  # "Ủy"/"Uỷ", "Hòa"/"Hoà" and unaccented upper-case bank style
    text = text.replace("đ", "d").replace("Đ", "D")  # đ has no decomposition, so map it
    text = text.casefold()
    # Punctuation, NBSP, zero-width characters, and any combining mark that case folding
    # produced (e.g. "İ" → "i̇") become spaces; the split below collapses and trims them.
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(_expand_abbreviations(text.split()))


def normalize_name(raw: str | None) -> str:
    """``TenTKThuHuong``: the §2 steps, so "VP ĐKĐĐ tỉnh Tây Ninh" equals the spelled-out name."""
    if raw is None:
        return ""
    return _normalize_name(raw)

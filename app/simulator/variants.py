"""Ways the upstreams write the same value differently (README "Common rules", semantics §2).

Every function here returns a value that a contract-conforming normalizer must treat as EQUAL to
its input; the scenario builder uses them to plant formatting traps on synced configurations.
Mismatches are built elsewhere, from genuinely different values.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from app.domain.banks import BIN_BY_SHORT_CODE

NBSP: Final = "\u00a0"
ZWSP: Final = "\u200b"

SHORT_CODE_BY_BIN: Final[dict[str, str]] = {bin_: code for code, bin_ in BIN_BY_SHORT_CODE.items()}

NAME_VARIANTS: Final[tuple[str, ...]] = (
    "nfd",
    "old_tone",
    "double_space",
    "nbsp",
    "bank_upper",
    "abbreviation",
    "punctuation",
)
ACCOUNT_VARIANTS: Final[tuple[str, ...]] = (
    "plain",
    "dotted",
    "spaced",
    "dashed",
    "nbsp",
    "zwsp",
    "padded",
)

# Tone-mark placement: the "old style" puts the mark on the second vowel of oa/oe/uy.
_OLD_TONE: Final[tuple[tuple[str, str], ...]] = (
    ("Ủy", "Uỷ"),
    ("ủy", "uỷ"),
    ("Hòa", "Hoà"),
    ("hòa", "hoà"),
    ("hóa", "hoá"),
    ("Hóa", "Hoá"),
    ("Thủy", "Thuỷ"),
    ("thủy", "thuỷ"),
)

# Longest phrases first so that "Chi nhánh Văn phòng Đăng ký đất đai" becomes "CN VP ĐKĐĐ".
_ABBREVIATIONS: Final[tuple[tuple[str, str], ...]] = (
    ("Văn phòng Đăng ký đất đai", "VP ĐKĐĐ"),
    ("Chi nhánh", "CN"),
    ("Ủy ban nhân dân", "UBND"),
    ("Kho bạc Nhà nước", "KBNN"),
    ("Trung tâm Phục vụ hành chính công", "TTPVHCC"),
    ("Sở Tài nguyên và Môi trường", "STNMT"),
    ("thành phố", "TP"),
    ("Thành phố", "TP."),
    ("thị xã", "TX"),
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("đ", "d").replace("Đ", "D")


def old_tone(text: str) -> str:
    for new, old in _OLD_TONE:
        text = text.replace(new, old)
    return text


def abbreviate(text: str) -> str:
    for phrase, short in _ABBREVIATIONS:
        if phrase in text:
            return text.replace(phrase, short, 1)
    return text


def punctuate(text: str) -> str:
    for word in (" tỉnh ", " huyện ", " xã ", " phường ", " thị xã ", " thành phố "):
        if word in text:
            return text.replace(word, "," + word, 1)
    return text + "."


def name_variant(text: str, kind: str) -> str:
    """``text`` written another way; falls back to a doubled space when ``kind`` changes nothing."""
    if kind == "nfd":
        result = nfd(text)
    elif kind == "old_tone":
        result = old_tone(text)
    elif kind == "double_space":
        result = text.replace(" ", "  ", 1)
    elif kind == "nbsp":
        result = text.replace(" ", NBSP, 2)
    elif kind == "bank_upper":
        result = strip_marks(text).upper()
    elif kind == "abbreviation":
        result = abbreviate(text)
    elif kind == "punctuation":
        result = punctuate(text)
    else:
        raise ValueError(f"unknown name variant {kind!r}")
    if result == text:
        return " " + text.replace(" ", "  ", 1) + " "
    return result


def account_variant(digits: str, kind: str, *, treasury: bool) -> str:
    """An account given as its normalized digits, formatted as people type it."""
    if kind == "plain":
        return digits
    if kind == "dotted":
        if treasury:
            return treasury_dotted(digits)
        return ".".join(_groups(digits, 4))
    if kind == "spaced":
        return " ".join(_groups(digits, 4 if treasury else 3))
    if kind == "dashed":
        return "-".join(_groups(digits, 4))
    if kind == "nbsp":
        return NBSP.join(_groups(digits, 4))
    if kind == "zwsp":
        return digits[:4] + ZWSP + digits[4:]
    if kind == "padded":
        return f"  {digits} "
    raise ValueError(f"unknown account variant {kind!r}")


def treasury_dotted(digits: str) -> str:
    """``351101104195`` → ``3511.0.1104195``; a 5-digit sub-account suffix gets its own dot."""
    head = f"{digits[:4]}.{digits[4]}.{digits[5:12]}"
    return head + (f".{digits[12:]}" if len(digits) > 12 else "")


def _groups(digits: str, width: int) -> list[str]:
    first = len(digits) % width or width
    parts = [digits[:first]]
    parts.extend(digits[i : i + width] for i in range(first, len(digits), width))
    return parts


def bank_variant(bin_: str, kind: str) -> str:
    if kind == "bin":
        return bin_
    if kind == "short":
        return SHORT_CODE_BY_BIN[bin_]
    if kind == "short_lower_padded":
        return f" {SHORT_CODE_BY_BIN[bin_].lower()} "
    if kind == "bin_padded":
        return f" {bin_}  "
    raise ValueError(f"unknown bank variant {kind!r}")


def code_variant(code: str, kind: str) -> str:
    if kind == "plain":
        return code
    if kind == "padded":
        return f" {code}"
    if kind == "lower":
        return code.lower()
    if kind == "lower_padded":
        return f" {code.lower()}  "
    raise ValueError(f"unknown code variant {kind!r}")

"""A row's values as the export formats see them, and the few texts they share.

``cell`` turns what a column reads from a row into one of a small set of types (text, number,
date, local datetime, bool or nothing), so that XLSX and CSV agree on every value:

* moments are shown in Vietnam's local time (Asia/Ho_Chi_Minh); a naive datetime is taken as
  UTC, as the service stores them;
* text is NFC (Vietnamese typed on some systems arrives decomposed) and never stripped; a list
  is joined with "; ";
* a value that does not fit its column's kind (a code, or a string of digits, in a money column)
  is kept as text rather than dropped or guessed; an ISO date or moment in a string is read as
  one (ISO is unambiguous); NaN and infinities are empty cells.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from zoneinfo import ZoneInfo

from app.exports.model import Kind, Lang, Text

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
LIST_SEPARATOR: Final = "; "
YES_NO: Final = (Text("Có", "Yes"), Text("Không", "No"))

Number = int | float | Decimal
Value = str | Number | date | datetime | bool | None


def local(moment: datetime) -> datetime:
    """``moment`` in Vietnam's local time, naive (spreadsheets have no time zones)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(VIETNAM).replace(tzinfo=None)


def yes_no(value: bool, lang: Lang) -> str:
    return YES_NO[0 if value else 1].get(lang)


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (
            value
            if unicodedata.is_normalized("NFC", value)
            else unicodedata.normalize("NFC", value)
        )
    if isinstance(value, Enum):
        return text(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return LIST_SEPARATOR.join(t for t in (text(item) for item in items) if t is not None)
    if isinstance(value, datetime):
        return local(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return text(str(value))


def _number(value: Any) -> Number | str | None:
    """A number as it is; anything else (a string, even of digits: "1.000" is a thousand in
    Vietnamese and one in English) as text, never guessed."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return text(value)


def _moment(value: Any) -> datetime | str | None:
    if isinstance(value, datetime):
        return local(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return local(datetime.fromisoformat(value))
        except ValueError:
            return text(value)
    return text(value)


def _day(value: Any) -> date | str | None:
    if isinstance(value, datetime):
        return local(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            moment = _moment(value)
            return moment.date() if isinstance(moment, datetime) else moment
    return text(value)


def cell(kind: Kind, value: Any) -> Value:
    """``value`` as a cell of ``kind`` (see the module's docstring)."""
    if value is None:
        return None
    if kind == "text":
        return text(value)
    if kind in ("int", "decimal", "money", "rate"):
        return _number(value)
    if kind == "date":
        return _day(value)
    if kind == "datetime":
        return _moment(value)
    if isinstance(value, bool):  # kind == "bool"
        return value
    return text(value)


def figure_kind(value: Any) -> Kind | None:
    """The kind a summary figure is shown as when it does not name one; ``None`` for a
    fractional number, shown as it is (it may be a rate or an amount: name the kind)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | Decimal):
        return None
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "text"


_NOT_WORD: Final = re.compile(r"[^a-z0-9]+")
_NOT_CODE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def ascii_fold(value: str) -> str:
    """Vietnamese to plain ASCII: đ/Đ to d/D, the other letters without their marks (NFD, the
    combining marks dropped); anything else not ASCII is dropped."""
    folded = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in folded if ch.isascii() and not unicodedata.combining(ch))


def slug(value: str, max_length: int = 40) -> str:
    """A short, lower-case, filesystem-safe name: "Chi nhánh Văn phòng Đăng ký đất đai" →
    "chi-nhanh-van-phong-dang-ky-dat-dai"."""
    words = _NOT_WORD.sub("-", ascii_fold(value).lower()).strip("-")
    return words[:max_length].rstrip("-")


def safe_code(value: str, max_length: int = 40) -> str:
    """An agency or procedure code kept as it is written ("000.00.15.H53") but for characters a
    file name cannot hold."""
    return _NOT_CODE.sub("-", ascii_fold(value)).strip(".-")[:max_length]

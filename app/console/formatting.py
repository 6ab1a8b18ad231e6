"""Numbers, rates and times as a reader of the page expects them: Vietnamese by default
(1.234,5 · 16,78 % · 23/10/2023 14:05), English on request; times in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_timedelta
from babel.numbers import format_decimal

from app.domain.reasons import Lang

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_LOCALE = {"vi": "vi_VN", "en": "en_GB"}


def number(value: int | float | None, lang: Lang, digits: int = 0) -> str:
    if value is None:
        return "—"
    pattern = "#,##0" if digits == 0 else "#,##0." + "0" * digits
    return format_decimal(value, format=pattern, locale=_LOCALE[lang])


def percent(rate: float | None, lang: Lang, digits: int = 2) -> str:
    """A rate in [0, 1] as a percentage with ``digits`` decimals: 0.1678 → 16,78 %."""
    if rate is None:
        return "—"
    return number(rate * 100, lang, digits) + " %"


def points(change: float | None, lang: Lang, digits: int = 2) -> str:
    """A change of a rate, in percentage points, signed: −0.0216 → −2,16 điểm."""
    if change is None:
        return "—"
    unit = " điểm %" if lang == "vi" else " pp"
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    return sign + number(abs(change) * 100, lang, digits) + unit


def day(value: date | str | None, lang: Lang) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y")


def moment(value: datetime | str | None, lang: Lang) -> str:
    """A UTC instant as local day and time."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def age(value: timedelta | None, lang: Lang) -> str:
    """How long ago, in words: "3 giờ", "2 days"."""
    if value is None:
        return "—"
    return format_timedelta(value, granularity="minute", threshold=1.5, locale=_LOCALE[lang])


def month(value: str, lang: Lang) -> str:
    """``2023-10`` as ``10/2023``."""
    year, _, number_ = value.partition("-")
    return f"{number_}/{year}"

"""The upstream time format of the contract (``yyyyMMddHHmmss``, local UTC+7 wall-clock time),
as the simulator writes and reads it: seconds since ``EPOCH``, day numbers, and validation of
query parameters. The simulator's own, so it borrows nothing from the service.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

EPOCH: Final = datetime(2020, 1, 1)  # local (UTC+7) wall-clock time; times are seconds since it
DAY: Final = 86400


def secs_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def day_of(day: date) -> int:
    return (day - EPOCH.date()).days


def date_of(day: int) -> date:
    return EPOCH.date() + timedelta(days=day)


@lru_cache(maxsize=8192)
def day_text(day: int) -> str:
    return date_of(day).strftime("%Y%m%d")


_HHMM: Final = tuple(f"{m // 60:02d}{m % 60:02d}" for m in range(1440))
_SS: Final = tuple(f"{second:02d}" for second in range(60))


def fmt_time(secs: int) -> str:
    """Seconds since ``EPOCH`` → ``yyyyMMddHHmmss``."""
    day, rest = divmod(secs, DAY)
    return day_text(day) + _HHMM[rest // 60] + _SS[rest % 60]


def parse_time(text: str) -> int | None:
    """``yyyyMMddHHmmss`` → seconds since ``EPOCH``; None when it is not a real time."""
    text = text.strip()
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        return None
    try:
        moment = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError:
        return None
    return secs_of(moment)


UPSTREAM_TIME_FORMAT: Final = "%Y%m%d%H%M%S"  # the contract's yyyyMMddHHmmss (semantics §0)


def is_upstream_time(raw: object) -> bool:
    """True when ``raw`` is a real ``yyyyMMddHHmmss`` time (surrounding blanks allowed)."""
    return isinstance(raw, str) and parse_time(raw) is not None

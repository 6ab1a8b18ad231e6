"""The period a page shows when the reader has not chosen one: that of the data."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.values import default_period
from app.models import RunScope
from app.runs_history import latest_complete


async def dossier_period(session: AsyncSession, province_code: str) -> tuple[date, date]:
    """The period of the latest complete dossier part, else the 365 days ending today."""
    part = await latest_complete(session, province_code, RunScope.DOSSIERS)
    if part is None:
        return default_period()
    return part.run.period_from, part.run.period_to


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_back(day: date, count: int) -> str:
    """The month ``count - 1`` months before ``day``'s: the first of ``count`` months to it."""
    index = day.year * 12 + day.month - 1 - (count - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_day(text: str | None, fallback: date) -> date:
    """A reader's date from a form field; anything unreadable keeps the fallback."""
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback

"""How fresh each province's data is, per scope: the finish of its latest complete part.

Shared by ``/metrics`` (``recon_last_complete_run_timestamp_seconds``, ``recon_data_age_seconds``)
and ``/health/ready`` ("degraded" when too old). "Complete" is ``app.runs_history``'s notion: an
``all`` run whose procedures part succeeded counts for procedures even if the run is partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import RunScope
from app.runs_history import has_runs, latest_complete

SCOPES = (RunScope.PROCEDURES, RunScope.DOSSIERS)


@dataclass(frozen=True, slots=True)
class Freshness:
    province_code: str
    scope: str
    finished_at: datetime | None  # of the latest complete part; None: there is none
    run_id: str | None
    has_runs: bool  # any non-dry run of the scope (or "all"), whatever its outcome

    def age(self, now: datetime) -> timedelta | None:
        return None if self.finished_at is None else now - self.finished_at


async def scope_freshness(session: AsyncSession, province_code: str, scope: RunScope) -> Freshness:
    part = await latest_complete(session, province_code, scope)
    if part is not None:
        return Freshness(province_code, scope.value, part.run.finished_at, part.run.id, True)
    return Freshness(
        province_code, scope.value, None, None, await has_runs(session, province_code, scope)
    )


async def freshness(session: AsyncSession, province_codes: list[str]) -> list[Freshness]:
    return [
        await scope_freshness(session, code, scope) for code in province_codes for scope in SCOPES
    ]

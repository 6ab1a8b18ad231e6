"""How many complete procedure runs saw a finding, and the last one, without writing every open
finding on every run (DESIGN promise 3 at incremental cost).

A complete procedure run resolves every open procedure finding it does not see, so an open
finding was seen by every complete procedure run since it was last written. Each complete
procedure run numbers itself in its counts (``sequence``: 1, 2, 3 … per province, the previous
one's plus one), and a finding row keeps what was true when it was last written (opened, updated
or resolved). Then, for an open finding:

* last seen = the latest complete procedure run (its id and finish time);
* runs that saw it = the stored ``seen_count`` + (that run's sequence − the sequence of the run
  that last wrote the finding).

A resolved finding's values were made exact when it was resolved (``caught_up``). A run written
before runs were numbered has no sequence; a finding it last wrote keeps its stored count, which
that release kept exact on every run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Finding, FindingStatus, Run, RunScope
from app.runs_history import latest_complete

SEQUENCE: Final = "sequence"  # the key in a procedure run's (or part's) counts


@dataclass(frozen=True, slots=True)
class SeenThrough:
    """The latest complete procedure run: it saw every procedure finding still open."""

    run_id: str
    at: datetime
    sequence: int | None  # None: a run from before runs were numbered


def procedure_counts(run: Run) -> Mapping[str, Any]:
    """The counts of a run's procedure part (an ``all`` run keeps each part's apart)."""
    counts = run.counts or {}
    if run.scope == RunScope.ALL:
        part = counts.get(RunScope.PROCEDURES.value)
        return part if isinstance(part, dict) else {}
    return counts


def sequence_of(run: Run) -> int | None:
    value = procedure_counts(run).get(SEQUENCE)
    return value if isinstance(value, int) else None


async def sequences(session: AsyncSession, run_ids: Collection[str]) -> dict[str, int]:
    """The sequence of each of these runs that has one."""
    if not run_ids:
        return {}
    rows = await session.exec(select(Run).where(col(Run.id).in_(sorted(run_ids))))
    found = {run.id: sequence_of(run) for run in rows.all()}
    return {run_id: number for run_id, number in found.items() if number is not None}


def caught_up(stored_count: int, written_by: int | None, through: SeenThrough) -> int:
    """Runs that saw a finding still open at ``through``, from what its row stored."""
    if written_by is None or through.sequence is None or through.sequence < written_by:
        return stored_count
    return stored_count + through.sequence - written_by


async def latest_procedure_run(session: AsyncSession, province_code: str) -> SeenThrough | None:
    """The latest complete procedure run of the province, as what saw every open finding."""
    latest = await latest_complete(session, province_code, RunScope.PROCEDURES)
    if latest is None or latest.run.finished_at is None:
        return None
    return SeenThrough(latest.run.id, latest.run.finished_at, sequence_of(latest.run))


@dataclass(frozen=True, slots=True)
class Sighting:
    last_seen_at: datetime
    last_run_id: str
    seen_count: int


def sighting(finding: Finding, through: SeenThrough | None, numbers: Mapping[str, int]) -> Sighting:
    """A procedure finding's last sighting and count of sightings (see the module docstring);
    ``numbers`` holds the sequences of the runs that last wrote open findings."""
    stored = Sighting(finding.last_seen_at, finding.last_run_id, finding.seen_count)
    if through is None or finding.status != FindingStatus.OPEN:
        return stored
    if finding.last_seen_at > through.at:
        return stored
    count = caught_up(finding.seen_count, numbers.get(finding.last_run_id), through)
    return Sighting(through.at, through.run_id, count)

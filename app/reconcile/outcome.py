"""A run's own record after it started: each part's outcome, merged for an ``all`` run, written
with the lease checked, and the run's ``run.*`` event in the same transaction (outbox).

The pipelines and the executor write a run's outcome only through ``RunRecorder``: a run that was
declared abandoned (its lease expired) writes nothing more.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.domain.records import DataQualityWarning, Listing
from app.events import RUN_COMPLETED, RUN_FAILED, add_event
from app.metrics import RUNS
from app.models import Run, RunStatus
from app.models.types import utcnow
from app.reconcile.findings import LifecycleChanges

MAX_STORED_WARNINGS = 500

PartOutcome = tuple[RunStatus, list[str], dict[str, Any], dict[str, Any]]


class PhaseClock:
    """Seconds spent in each phase of a run, kept in its counts for operators and benchmarks."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}
        self.peak_rss_mb: dict[str, int] = {}

    def lap(self, phase: str) -> PhaseClock:
        now = time.perf_counter()
        self.laps[phase] = round(now - self._last, 3)
        self._last = now
        self.peak_rss_mb[phase] = _peak_rss_mb()
        return self


def _peak_rss_mb() -> int:
    """The process's peak resident set so far: where in a run memory grows, if it does.
    Linux's VmHWM, because ``ru_maxrss`` also counts the parent before ``exec``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@dataclass(slots=True)
class RunParts:
    """The parts of an ``all`` run: each part's outcome, merged into the run's at the last."""

    parts: tuple[str, ...]
    index: int = 0
    outcomes: dict[str, PartOutcome] = field(default_factory=dict)

    @property
    def at_last_part(self) -> bool:
        return self.index == len(self.parts) - 1

    def next_part(self) -> None:
        self.index += 1

    def record(self, outcome: PartOutcome) -> None:
        self.outcomes[self.parts[self.index]] = outcome

    def merged(self) -> PartOutcome:
        statuses = [status for status, _, _, _ in self.outcomes.values()]
        worst = next(
            (s for s in (RunStatus.FAILED, RunStatus.PARTIAL) if s in statuses),
            RunStatus.SUCCEEDED,
        )
        errors = [f"{part}: {e}" for part, (_, errs, _, _) in self.outcomes.items() for e in errs]
        details: dict[str, Any] = {"listings": {}, "upstream_stats": {}, "warnings": []}
        for part, (_, _, part_details, _) in self.outcomes.items():
            details["listings"].update(part_details.get("listings", {}))
            details["upstream_stats"][part] = part_details.get("upstream_stats", {})
            details["warnings"].extend(part_details.get("warnings", []))
        counts = {
            part: {**part_counts, "status": status}
            for part, (status, _, _, part_counts) in self.outcomes.items()
        }
        return worst, errors, details, counts


class RunRecorder:
    """Writes one run's outcome for the replica that holds its lease."""

    def __init__(
        self,
        factory: SessionFactory,
        *,
        owner: str,
        dry_run_sample_size: int,
        parts: tuple[str, ...] | None = None,
    ) -> None:
        self._factory = factory
        self._owner = owner
        self._sample_size = dry_run_sample_size
        self._parts = RunParts(parts) if parts else None

    def next_part(self) -> None:
        if self._parts is not None:
            self._parts.next_part()

    def changes(self) -> LifecycleChanges:
        return LifecycleChanges(sample_size=self._sample_size)

    def dry_run_sample(self, run: Run, changes: LifecycleChanges) -> dict[str, Any]:
        """What a dry run would have changed, a few of each kind; nothing for a real run."""
        if not run.dry_run:
            return {}
        size = self._sample_size
        return {
            "opened": changes.opened[:size],
            "updated": changes.updated[:size],
            "resolved": changes.resolved[:size],
        }

    async def finish(
        self,
        run: Run,
        status: RunStatus,
        errors: list[str],
        details: dict[str, Any],
        *,
        final: bool = False,
    ) -> None:
        """A run's (or a part's) outcome without findings; ``final``: the run ends here even if
        parts remain (crash, deadline, interruption)."""
        now = utcnow()
        async with self._factory() as session:
            if not await self.still_ours(session, run):
                return
            self.apply(session, run, status, errors, details, run.counts or {}, now, final=final)
            await session.commit()
        self.count(run)

    async def still_ours(self, session: AsyncSession, run: Run) -> bool:
        """Lock our run row; a run the janitor already declared abandoned must not write."""
        rows = await session.exec(select(Run).where(col(Run.id) == run.id).with_for_update())
        current = rows.first()
        return (
            current is not None
            and current.status == RunStatus.RUNNING
            and current.lease_owner == self._owner
        )

    def apply(
        self,
        session: AsyncSession,
        run: Run,
        status: RunStatus,
        errors: list[str],
        details: dict[str, Any],
        counts: dict[str, Any],
        now: datetime,
        *,
        final: bool = False,
    ) -> None:
        """Put the outcome on the run (in ``session``, committed by the caller with the part's
        own writes); the part of an ``all`` run that is not its last leaves the run running."""
        if self._parts is not None:
            self._parts.record((status, errors, details, counts))
            if not self._parts.at_last_part and not final:
                return
            status, errors, details, counts = self._parts.merged()
        warnings: list[DataQualityWarning] = details.get("warnings", [])
        run.status = status
        run.finished_at = now
        run.active_province = None
        run.lease_expires_at = None
        run.errors = errors
        run.listings = details.get("listings", {})
        run.upstream_stats = details.get("upstream_stats", {})
        run.warnings = [asdict(w) for w in warnings[:MAX_STORED_WARNINGS]]
        run.counts = {**counts, "warnings": len(warnings)}
        session.add(run)
        # The run's event commits with its outcome (outbox); a dry run announces nothing.
        if not run.dry_run:
            add_event(
                session,
                province_code=run.province_code,
                event_type=RUN_COMPLETED if status == RunStatus.SUCCEEDED else RUN_FAILED,
                data=run_data(run),
                at=now,
            )

    @staticmethod
    def count(run: Run) -> None:
        if run.status != RunStatus.RUNNING:  # not the first part of an "all" run
            RUNS.labels(run.province_code, run.scope, run.status).inc()


def listing_summary(listing: Listing[Any]) -> dict[str, Any]:
    return {
        "complete": listing.complete,
        "reported_total": listing.reported_total,
        "distinct": len(listing.items),
        "passes": listing.passes,
        "error": listing.error,
    }


def run_data(run: Run) -> dict[str, Any]:
    """The ``data`` of a run's ``run.*`` event."""
    return {
        "run_id": run.id,
        "province_code": run.province_code,
        "scope": run.scope,
        "status": run.status,
        "period_from": run.period_from.isoformat(),
        "period_to": run.period_to.isoformat(),
        "counts": run.counts,
        "errors": run.errors,
        "link": f"/runs/{run.id}",
    }

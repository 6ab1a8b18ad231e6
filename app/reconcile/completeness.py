"""No false answers from partial data (semantics §0), in one place: a part that could not read a
listing completely, or read a guarded listing far smaller than last time, ends ``partial`` and
changes nothing but its own record — no finding is opened or resolved from what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from app.db import SessionFactory
from app.domain.records import ListingName
from app.models import Run, RunScope
from app.runs_history import latest_complete

# Listings whose size should not swing between runs; the stats depend on the period asked for.
PROCEDURE_GUARDED = (
    ListingName.PROVINCIAL_AGENCIES,
    ListingName.PROVINCIAL_PROCEDURES,
    ListingName.NATIONAL_PAYMENT_INFO,
)
# (choice) dossier listings depend on the period: compared only with a run of the same one; the
# transactions vary too much by nature to be guarded.
DOSSIER_GUARDED = (ListingName.PROVINCIAL_DOSSIERS, ListingName.NATIONAL_SYNCED_DOSSIERS)


class ReadOutcome(Protocol):
    """What every listing read reports, whether its items are in memory or staged."""

    @property
    def name(self) -> str: ...
    @property
    def complete(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


def incomplete(listings: Iterable[ReadOutcome]) -> list[str]:
    """Why the part cannot be trusted: one line per listing not read completely."""
    return [
        listing.error or f"{listing.name}: incomplete"  # the error names its listing
        for listing in listings
        if not listing.complete
    ]


async def sharp_drops(
    factory: SessionFactory,
    run: Run,
    scope: RunScope,
    listings: Mapping[str, Mapping[str, Any]],
    *,
    threshold: float,
) -> list[str]:
    """Each guarded listing this part read, against the same listing of the latest complete
    part of its scope (an ``all`` run's part counts): never against listings the part does
    not read, which an ``all`` run's record also holds."""
    async with factory() as session:
        previous = await latest_complete(session, run.province_code, scope)
    if previous is None:
        return []
    guarded = [name for name in PROCEDURE_GUARDED if name in listings]
    same_period = (previous.run.period_from, previous.run.period_to) == (
        run.period_from,
        run.period_to,
    )
    if scope == RunScope.DOSSIERS and same_period:
        guarded += [name for name in DOSSIER_GUARDED if name in listings]
    drops = []
    for name in guarded:
        before = int((previous.run.listings or {}).get(name, {}).get("distinct", 0))
        now = int(listings[name].get("distinct", 0))
        if before and now < before * threshold:
            drops.append(
                f"sharp drop: {name} returned {now} distinct items against {before} in run "
                f"{previous.run.id}; nothing was resolved. "
                "Re-run with accept_drop=true if the drop is real."
            )
    return drops

"""Each province's data version (latest finished run, whether a run is active), known in memory.

The answer cache is keyed by it, so reading it from the database on every request would cost a
round trip per cached answer. Instead each app keeps what it last saw, and forgets a province's
version as soon as it may have moved:

- **a run written through this app's engine**: an ORM flush that changes a run's
  ``finished_at`` or ``active_province`` (a run starting, finishing, or declared abandoned) is
  noted on its session, and the commit forgets those provinces at once (``after_commit``);
- **another replica's run, on PostgreSQL**: the same flush sends ``NOTIFY recon_run_changes``
  with the province inside the run's own transaction, so it is delivered exactly when that
  commit is; each app LISTENs on a connection of its own;
- **anything else** (another process on SQLite, a lost LISTEN connection, a hand-made change):
  every ``POLL_SECONDS`` the app reads every province's version again.

So another replica's finished run shows within a poll at worst. While a version is stale, only
answers cached under it are served: bodies computed when no run was active, i.e. the previous
complete run's. A cache miss never trusts memory: it reads the version before computing, so no
answer is ever kept under a version it was not computed from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, func, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.models import Run

logger = logging.getLogger(__name__)

CHANNEL = "recon_run_changes"
POLL_SECONDS = 0.5
_CHANGED_PROVINCES = "run_versions_changed"  # key in Session.info


@dataclass(frozen=True, slots=True)
class DataVersion:
    """The province's latest finished run (``None`` before any) and whether a run is active."""

    latest_finished_run: str | None
    run_active: bool

    @property
    def settled(self) -> bool:
        """Answers computed now may be kept: no run is writing, and one has finished (before
        any, whatever is there was put there some other way, which no version would notice)."""
        return not self.run_active and self.latest_finished_run is not None


async def data_version(session: AsyncSession, province_code: str) -> DataVersion:
    """One round trip: the newest ``finished_at`` walks ``ix_runs_province_finished`` backwards,
    the active run is a lookup on the unique ``active_province``."""
    latest = (
        select(col(Run.id))
        .where(col(Run.province_code) == province_code, col(Run.finished_at).is_not(None))
        .order_by(col(Run.finished_at).desc())
        .limit(1)
        .scalar_subquery()
    )
    active = (
        select(func.count())
        .select_from(Run)
        .where(col(Run.active_province) == province_code)
        .scalar_subquery()
    )
    row = (await session.exec(select(latest, active))).one()
    return DataVersion(latest_finished_run=row[0], run_active=bool(row[1]))


class DataVersions:
    """One app's known versions. A read that began before a province was forgotten cannot
    store what it read afterwards: it is stored only under the generation it began in."""

    def __init__(self) -> None:
        self._known: dict[str, DataVersion] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, province_code: str) -> DataVersion | None:
        return self._known.get(province_code)

    def observe(self, province_code: str, version: DataVersion, generation: int) -> None:
        if generation == self._generation:
            self._known[province_code] = version

    def forget(self, province_codes: Iterable[str] | None = None) -> None:
        """Forget these provinces' versions (all, with ``None``): the next request reads them."""
        self._generation += 1
        if province_codes is None:
            self._known.clear()
        else:
            for code in province_codes:
                self._known.pop(code, None)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, DataVersions] = weakref.WeakKeyDictionary()


def versions_for(engine: AsyncEngine) -> DataVersions:
    """The versions of the app that owns ``engine`` (two apps in one process, as in tests, are
    two replicas: a run committed through one engine is news to the other only by NOTIFY or
    poll, as between processes)."""
    versions = _BY_ENGINE.get(engine.sync_engine)
    if versions is None:
        versions = _BY_ENGINE[engine.sync_engine] = DataVersions()
    return versions


def _moved_provinces(session: Session) -> set[str]:
    moved: set[str] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(instance, Run):
            continue
        state = inspect(instance)
        if (
            instance in session.new
            or instance in session.deleted
            or state.attrs.finished_at.history.has_changes()
            or state.attrs.active_province.history.has_changes()
        ):
            moved.add(instance.province_code)
    return moved


@event.listens_for(Session, "after_flush")
def _note_run_changes(session: Session, _flush_context: Any) -> None:
    moved = _moved_provinces(session)
    if not moved:
        return
    session.info.setdefault(_CHANGED_PROVINCES, set()).update(moved)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Transactional: delivered when (and only if) this transaction commits.
        for code in sorted(moved):
            connection.execute(
                text("SELECT pg_notify(:channel, :province)"),
                {
                    "channel": CHANNEL,
                    "province": code,
                },
            )


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    moved = session.info.pop(_CHANGED_PROVINCES, None)
    if not moved:
        return
    bind = session.bind
    engine = bind.engine if bind is not None else None
    if engine is not None and (versions := _BY_ENGINE.get(engine)) is not None:
        versions.forget(moved)


@event.listens_for(Session, "after_rollback")
def _drop_uncommitted(session: Session) -> None:
    session.info.pop(_CHANGED_PROVINCES, None)


async def _listen(engine: AsyncEngine, versions: DataVersions) -> asyncpg.Connection:
    url = make_url(engine.url).set(drivername="postgresql", query={})
    connection: asyncpg.Connection = await asyncpg.connect(url.render_as_string(False))

    def notified(_connection: Any, _pid: int, _channel: str, province: str) -> None:
        versions.forget([province])

    await connection.add_listener(CHANNEL, notified)
    return connection


async def watch_data_versions(
    engine: AsyncEngine,
    factory: SessionFactory,
    provinces: list[str],
    interval: float = POLL_SECONDS,
) -> None:
    """For as long as the service runs: LISTEN (PostgreSQL) and poll every province's version."""
    versions = versions_for(engine)
    listener: asyncpg.Connection | None = None
    try:
        while True:
            try:
                if engine.dialect.name == "postgresql" and (
                    listener is None or listener.is_closed()
                ):
                    listener = await _listen(engine, versions)
                async with factory() as session:
                    for code in provinces:
                        generation = versions.generation
                        versions.observe(code, await data_version(session, code), generation)
            except Exception:
                # Not knowing is not knowing it unchanged: every request reads it until we do.
                versions.forget()
                logger.warning("could not watch the runs' data versions", exc_info=True)
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close()
                    listener = None
            await asyncio.sleep(interval)
    finally:
        if listener is not None:
            listener.terminate()  # cancelled: no awaiting a goodbye

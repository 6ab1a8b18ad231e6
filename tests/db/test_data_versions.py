"""The answer cache's data versions: a run committed through an app's engine moves its
province's version at once; on PostgreSQL the same commit tells the other replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine, create_session_factory
from app.models import Run
from app.models.types import utcnow
from app.read.data_versions import CHANNEL, DataVersion, DataVersions, versions_for
from tests.conftest import make_settings

STALE = DataVersion(latest_finished_run="an-old-run", run_active=False)


@pytest.fixture
async def engine(database_url: str, service_factory: Any) -> AsyncIterator[AsyncEngine]:
    """An engine of its own on a migrated database: no watcher polls for it, so only the
    commit hooks can move what its versions know."""
    await service_factory(make_settings(database_url))
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def a_run(province: str, key: str) -> Run:
    return Run(
        province_code=province,
        scope="dossiers",
        status="running",
        period_from=date(2023, 9, 1),
        period_to=date(2023, 9, 30),
        request_key=key,
        active_province=province,
    )


async def test_a_run_starting_or_finishing_here_is_forgotten_at_commit(
    engine: AsyncEngine,
) -> None:
    versions = versions_for(engine)
    factory = create_session_factory(engine)
    versions.observe("H53", STALE, versions.generation)
    versions.observe("H99", STALE, versions.generation)
    async with factory() as session:
        run = a_run("H53", "start")
        session.add(run)
        await session.flush()
        assert versions.get("H53") == STALE  # not committed yet: nothing moved
        await session.commit()
    assert versions.get("H53") is None
    assert versions.get("H99") == STALE  # another province's version is untouched

    versions.observe("H53", STALE, versions.generation)
    async with factory() as session:
        stored = await session.get(Run, run.id)
        assert stored is not None
        stored.lease_expires_at = utcnow()  # a heartbeat: the data did not move
        await session.commit()
    assert versions.get("H53") == STALE

    async with factory() as session:
        stored = await session.get(Run, run.id)
        assert stored is not None
        stored.finished_at, stored.active_province = utcnow(), None
        await session.rollback()  # never committed: still nothing moved
        stored = await session.get(Run, run.id)
        assert stored is not None
        stored.finished_at, stored.active_province, stored.status = utcnow(), None, "succeeded"
        await session.commit()
    assert versions.get("H53") is None


def test_a_read_begun_before_a_forget_is_not_stored() -> None:
    versions = DataVersions()
    began = versions.generation
    versions.forget(["H53"])
    versions.observe("H53", STALE, began)
    assert versions.get("H53") is None
    versions.observe("H53", STALE, versions.generation)
    assert versions.get("H53") == STALE
    versions.forget()
    assert versions.get("H53") is None


@pytest.mark.postgres
async def test_the_commit_notifies_the_other_replicas(
    postgres_url: str, service_factory: Any
) -> None:
    await service_factory(make_settings(postgres_url))
    engine = create_engine(postgres_url)
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    listener = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: heard.put_nowait(payload))
    try:
        async with create_session_factory(engine)() as session:
            session.add(a_run("H53", "notified"))
            await session.flush()
            await session.commit()
        # A deadline, not a speed: the notification arrives with the commit.
        assert await asyncio.wait_for(heard.get(), timeout=10) == "H53"
    finally:
        await listener.close()
        await engine.dispose()

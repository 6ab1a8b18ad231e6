"""app.db.analyze: fresh planner statistics on PostgreSQL after a run's commit; never fatal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from app.db import (
    DOSSIER_RUN_TABLES,
    PROCEDURE_RUN_TABLES,
    SessionFactory,
    analyze,
    create_engine,
    create_session_factory,
    metadata,
)
from app.migrate import upgrade


def test_the_run_tables_are_the_models_tables() -> None:
    for table in (*DOSSIER_RUN_TABLES, *PROCEDURE_RUN_TABLES):
        assert table in metadata.tables, table


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def _analyzed(factory: SessionFactory) -> set[str]:
    async with factory() as session:
        rows = await session.exec(
            text("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")  # type: ignore[call-overload]
        )
        return set(rows.scalars())


async def test_analyze_gives_the_tables_statistics(factory: SessionFactory) -> None:
    async with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            await analyze(factory, DOSSIER_RUN_TABLES)  # a no-op, and no error
            return
        await session.exec(
            text(  # type: ignore[call-overload]
                "INSERT INTO dossiers (province_code, key, code, agency_code, procedure_code,"
                " fee_bearing, synced, portal_counted, verified_online, paid_offline,"
                " fee_total, reasons, run_id)"
                " SELECT 'H53', 'K' || g, 'K' || g, 'A', 'P', true, true, false, false, false,"
                " 0, '[]', 'r' FROM generate_series(1, 500) g"
            )
        )
        await session.commit()
    assert "dossiers" not in await _analyzed(factory)
    await analyze(factory, DOSSIER_RUN_TABLES)
    assert "dossiers" in await _analyzed(factory)
    async with factory() as session:
        tuples = await session.exec(
            text("SELECT reltuples FROM pg_class WHERE relname = 'dossiers'")  # type: ignore[call-overload]
        )
        assert tuples.scalar_one() == 500


async def test_a_failing_analyze_is_a_warning(
    factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.db"):
        await analyze(factory, ["no_such_table"])
    async with factory() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
    assert any("ANALYZE no_such_table failed" in r.message for r in caplog.records) == postgres

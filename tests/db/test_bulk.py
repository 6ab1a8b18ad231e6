"""Bulk staging writes: a key repeated on a later page replaces the earlier row (the contract's
paging rule), whether the page is copied straight in or has to be merged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import col, select

from app.db import SessionFactory, create_engine, create_session_factory
from app.migrate import upgrade
from app.models import StageItem
from app.reconcile.staging import StageSink


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_a_later_page_wins_a_repeated_key(factory: SessionFactory) -> None:
    sink: StageSink[dict[str, str]] = StageSink(
        factory, "run-1", "p", to_row=lambda record: record, ref=lambda record: record["ref"]
    )
    await sink.add([("HS-1", {"ref": "R1", "v": "Sở Tư pháp"}), ("HS-2", {"ref": "R2", "v": "a"})])
    # Only new keys: copied straight in. Then a page repeating HS-2 beside a new key: merged.
    await sink.add([("HS-3", {"ref": "R3", "v": "b"})])
    await sink.add([("HS-2", {"ref": "R2b", "v": "c"}), ("HS-4", {"ref": "R4", "v": "d"})])
    assert await sink.count() == 4
    async with factory() as session:
        rows = (await session.exec(select(StageItem).order_by(col(StageItem.key)))).all()
    assert [(r.key, r.ref, r.data["v"]) for r in rows] == [
        ("HS-1", "R1", "Sở Tư pháp"),
        ("HS-2", "R2b", "c"),
        ("HS-3", "R3", "b"),
        ("HS-4", "R4", "d"),
    ]

"""Stage a streamed listing in the database: one transaction per page, later page wins a key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, delete, func
from sqlmodel import col, select

from app.db import SessionFactory
from app.models import StageItem
from app.reconcile.bulk import upsert_rows

R = TypeVar("R")
STAGE: Table = StageItem.__table__  # type: ignore[attr-defined]
STAGE_KEY = ("run_id", "listing", "key")


class StageSink(Generic[R]):
    """A ``ListingSink`` writing to ``stage_items`` under (run, listing)."""

    def __init__(
        self,
        factory: SessionFactory,
        run_id: str,
        listing: str,
        *,
        to_row: Callable[[R], dict[str, Any]],
        ref: Callable[[R], str | None] = lambda _: None,
        link_key: Callable[[R], str | None] = lambda _: None,
        moment: Callable[[R], datetime | None] = lambda _: None,
    ) -> None:
        self._factory = factory
        self._run_id = run_id
        self.listing = listing
        self._to_row = to_row
        self._ref = ref
        self._link_key = link_key
        self._moment = moment

    async def restart(self) -> None:
        async with self._factory() as session:
            await session.exec(
                delete(StageItem).where(
                    col(StageItem.run_id) == self._run_id, col(StageItem.listing) == self.listing
                )
            )
            await session.commit()

    async def add(self, items: Sequence[tuple[str, R]]) -> None:
        # Within a page the later item wins too; one statement may not touch a key twice.
        latest = dict(items)
        if not latest:
            return
        rows = [
            {
                "run_id": self._run_id,
                "listing": self.listing,
                "key": key[:128],
                "ref": (self._ref(record) or None),
                "link_key": self._link_key(record),
                "moment": self._moment(record),
                "data": self._to_row(record),
            }
            for key, record in latest.items()
        ]
        async with self._factory() as session:
            await upsert_rows(await session.connection(), STAGE, rows, STAGE_KEY)
            await session.commit()

    async def count(self) -> int:
        async with self._factory() as session:
            result = await session.exec(
                select(func.count()).where(
                    col(StageItem.run_id) == self._run_id, col(StageItem.listing) == self.listing
                )
            )
            return int(result.one())

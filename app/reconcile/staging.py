"""Stage a streamed listing in the database: one transaction per page, later page wins a key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from app.db import SessionFactory
from app.models import StageItem

R = TypeVar("R")


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
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(StageItem)
            upsert = statement.on_conflict_do_update(
                index_elements=["run_id", "listing", "key"],
                set_={
                    "ref": statement.excluded.ref,
                    "link_key": statement.excluded.link_key,
                    "moment": statement.excluded.moment,
                    "data": statement.excluded.data,
                },
            )
            await (await session.connection()).execute(upsert, rows)
            await session.commit()

    async def count(self) -> int:
        async with self._factory() as session:
            result = await session.exec(
                select(func.count()).where(
                    col(StageItem.run_id) == self._run_id, col(StageItem.listing) == self.listing
                )
            )
            return int(result.one())

"""Serialized read answers, kept per replica and keyed by the runs they were computed from.

Every read model behind the list and figure endpoints changes only when a run commits, and a
run commits its data in the same transaction that finishes it (an ``all`` run's first part is
the exception: it commits while the run is still running). So the answer to a query is a
function of its parameters and of the province's latest finished run, as long as no run is
active. One indexed query per request finds that run; an answer computed while a run is active
is served but not kept. A run finishing on any replica changes the key everywhere, so replicas
never serve each other stale answers, and nothing needs to be told to forget anything.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Run

MAX_ENTRIES = 1024
MAX_BYTES = 32 * 2**20
MAX_ENTRY_BYTES = 2 * 2**20  # a page of 1000 items fits; anything larger is not worth the room


@dataclass(frozen=True, slots=True)
class DataVersion:
    """The province's latest finished run (``None`` before any) and whether a run is active."""

    latest_finished_run: str | None
    run_active: bool


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


def _default(value: Any) -> Any:
    # PostgreSQL aggregates may come back as Decimal; the API shows them as plain numbers.
    if isinstance(value, BaseModel):  # a read model inside a dict answer
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(answer: dict[str, Any] | BaseModel) -> bytes:
    if isinstance(answer, BaseModel):
        # The response model is the answer: its aliases (``from``) are the JSON's names.
        answer = answer.model_dump(mode="json", by_alias=True)
    return orjson.dumps(answer, default=_default, option=orjson.OPT_NON_STR_KEYS)


class AnswerCache:
    """An LRU of JSON bodies bounded both in entries and in bytes."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_entry_bytes = max_entry_bytes
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> bytes | None:
        body = self._entries.get(key)
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self._max_entry_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous)
        self._entries[key] = body
        self._bytes += len(body)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    async def answer(
        self,
        session: AsyncSession,
        province_code: str,
        query: Hashable,
        compute: Callable[[], Awaitable[dict[str, Any] | BaseModel]],
    ) -> bytes:
        """The JSON body for ``query`` (every parameter that shapes the answer, the endpoint's
        name first): served from memory when the province's data are the ones it was computed
        from, computed (and kept, unless a run is active) otherwise."""
        version = await data_version(session, province_code)
        # Before any run finished, nothing a run writes exists: whatever is there was put
        # there some other way, which no key would notice.
        keep = not version.run_active and version.latest_finished_run is not None
        key = (province_code, version.latest_finished_run, query)
        if keep:
            cached = self.get(key)
            if cached is not None:
                return cached
        body = to_json(await compute())
        if keep:
            self.put(key, body)
        return body

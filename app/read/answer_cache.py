"""Serialized read answers, kept per replica and keyed by the runs they were computed from.

Every read model behind the list and figure endpoints changes only when a run commits, and a
run commits its data in the same transaction that finishes it (an ``all`` run's first part is
the exception: it commits while the run is still running). So the answer to a query is a
function of its parameters and of the province's latest finished run, as long as no run is
active. A cached answer is found under the version this replica knows from memory
(``app/read/data_versions.py``: a run on this replica moves it at once, another replica's within
a poll), with no database round trip; a miss reads the version from the database before it
computes, and an answer computed while a run is active is served but not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.read.data_versions import DataVersions, data_version

MAX_ENTRIES = 1024
MAX_BYTES = 32 * 2**20
MAX_ENTRY_BYTES = 2 * 2**20  # a page of 1000 items fits; anything larger is not worth the room


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
        versions: DataVersions | None = None,
    ) -> None:
        # Without them (a bare cache), every answer reads its version from the database.
        self._versions = versions
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
        versions = self._versions
        known = versions.get(province_code) if versions is not None else None
        if known is not None and known.settled:
            cached = self.get((province_code, known.latest_finished_run, query))
            if cached is not None:
                return cached
        generation = versions.generation if versions is not None else 0
        version = await data_version(session, province_code)
        if versions is not None:
            versions.observe(province_code, version, generation)
        key = (province_code, version.latest_finished_run, query)
        if version.settled:
            cached = self.get(key)
            if cached is not None:
                return cached
        body = to_json(await compute())
        if version.settled:
            self.put(key, body)
        return body

"""Verified API keys kept in memory, so that a request does not read the key table.

A revocation must still take effect on every replica within a second. Each replica polls a
fingerprint of the key table (how many keys, how many revoked, the newest id: one indexed
aggregate) every ``POLL_SECONDS``; when it moves, the cache empties. A key changed on this
replica empties it at once. A lookup that read the table before an invalidation cannot put its
(possibly revoked) answer back afterwards: entries are stored only under the generation that was
current when the lookup began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.db import SessionFactory
from app.models import ApiKey

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
MAX_AGE_SECONDS = 300.0  # belt and braces: no entry outlives this, whatever the polls saw
MAX_ENTRIES = 10_000

Fingerprint = tuple[int, int, int | None]


async def key_fingerprint(session: AsyncSession) -> Fingerprint:
    row = (
        await session.exec(
            select(func.count(), func.count(col(ApiKey.revoked_at)), func.max(col(ApiKey.id)))
        )
    ).one()
    return int(row[0]), int(row[1]), row[2]


class KeyCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._generation = 0
        self._fingerprint: Fingerprint | None = None
        self._clock = clock

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        principal, stored_at = entry
        if self._clock() - stored_at > MAX_AGE_SECONDS:
            del self._entries[key_hash]
            return None
        return principal

    def put(self, key_hash: str, principal: Principal, generation: int) -> None:
        """Keep a lookup's answer, unless the cache was invalidated since it began."""
        if generation != self._generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = (principal, self._clock())

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    def observe(self, fingerprint: Fingerprint) -> None:
        """A poll's fingerprint: a change anywhere (another replica's revocation) invalidates."""
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self.invalidate()
        self._fingerprint = fingerprint

    async def cached(
        self, key_hash: str, lookup: Callable[[], Awaitable[Principal | None]]
    ) -> Principal | None:
        found = self.get(key_hash)
        if found is not None:
            return found
        generation = self._generation
        principal = await lookup()
        if principal is not None:
            self.put(key_hash, principal, generation)
        return principal


async def watch_keys(
    factory: SessionFactory, cache: KeyCache, interval: float = POLL_SECONDS
) -> None:
    """Poll the key table's fingerprint for as long as the service runs."""
    while True:
        try:
            async with factory() as session:
                cache.observe(await key_fingerprint(session))
        except Exception:
            # Not knowing is not knowing it unchanged: drop what is cached.
            cache.invalidate()
            logger.warning("could not read the API keys' fingerprint", exc_info=True)
        await asyncio.sleep(interval)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

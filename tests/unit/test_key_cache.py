"""The in-process cache of verified API keys: what it keeps, and when it lets go."""

from __future__ import annotations

import asyncio

from app.auth import Principal, Role
from app.key_cache import MAX_AGE_SECONDS, KeyCache

READER = Principal(name="r", role=Role.READER, key_id=1, agency_code=None)


async def test_a_verified_key_is_not_looked_up_again() -> None:
    cache = KeyCache()
    lookups = 0

    async def lookup() -> Principal | None:
        nonlocal lookups
        lookups += 1
        return READER

    assert await cache.cached("h", lookup) == READER
    assert await cache.cached("h", lookup) == READER
    assert lookups == 1


async def test_an_unknown_key_is_never_cached() -> None:
    cache = KeyCache()

    async def lookup() -> Principal | None:
        return None

    assert await cache.cached("h", lookup) is None
    assert cache.get("h") is None


def test_a_moved_fingerprint_empties_the_cache() -> None:
    cache = KeyCache()
    cache.observe((2, 0, 2))
    cache.put("h", READER, cache.generation)
    cache.observe((2, 0, 2))
    assert cache.get("h") == READER
    cache.observe((2, 1, 2))  # another replica revoked a key
    assert cache.get("h") is None


async def test_a_lookup_that_began_before_an_invalidation_does_not_put_its_answer_back() -> None:
    cache = KeyCache()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_lookup() -> Principal | None:
        started.set()
        await release.wait()
        return READER  # read before the revocation committed

    pending = asyncio.create_task(cache.cached("h", slow_lookup))
    await started.wait()
    cache.invalidate()  # the revocation, seen meanwhile
    release.set()
    assert await pending == READER  # that one request was already in flight
    assert cache.get("h") is None  # but the next one reads the table again


def test_no_entry_outlives_its_maximum_age() -> None:
    now = [0.0]
    cache = KeyCache(clock=lambda: now[0])
    cache.put("h", READER, cache.generation)
    now[0] = MAX_AGE_SECONDS + 1
    assert cache.get("h") is None

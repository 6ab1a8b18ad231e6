"""The I/O floor both run benchmarks compare against: a client that fetches the same listings,
page sizes and per-upstream concurrency as the service, and only reads the bytes (the first
page of each listing is parsed for its totals)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson


class BareUpstreams:
    """Tokens once, then pages; ``env`` is ``simulator_environment(...)``."""

    def __init__(self, http: httpx.AsyncClient, env: dict[str, str], concurrency: int) -> None:
        self._http = http
        self._env = env
        self._limits = {"p": asyncio.Semaphore(concurrency), "n": asyncio.Semaphore(concurrency)}
        self._tokens: dict[str, str] = {}
        self.page_size = 500

    async def authenticate(self) -> None:
        env = self._env
        provincial = await self._http.post(
            env["PROVINCIAL_TOKEN_URL"],
            data={
                "grant_type": "client_credentials",
                "client_id": env["PROVINCIAL_CLIENT_ID"],
                "client_secret": env["PROVINCIAL_CLIENT_SECRET"],
            },
        )
        national = await self._http.post(
            env["NATIONAL_TOKEN_URL"],
            data={"grant_type": "client_credentials"},
            auth=(env["NATIONAL_CLIENT_ID"], env["NATIONAL_CLIENT_SECRET"]),
        )
        self._tokens = {
            "p": provincial.json()["access_token"],
            "n": national.json()["access_token"],
        }

    async def _get(self, side: str, url: str, params: dict[str, Any]) -> bytes:
        async with self._limits[side]:
            response = await self._http.get(
                url, params=params, headers={"Authorization": f"Bearer {self._tokens[side]}"}
            )
        return response.content

    async def provincial(self, path: str, extra: dict[str, str] | None = None) -> None:
        url, size = f"{self._env['PROVINCIAL_BASE_URL']}{path}", self.page_size
        base = {**(extra or {}), "size": size}
        first = orjson.loads(await self._get("p", url, {**base, "page": 0}))
        await asyncio.gather(
            *(self._get("p", url, {**base, "page": i}) for i in range(1, first["totalPages"]))
        )

    async def national(self, path: str, extra: dict[str, str] | None = None) -> None:
        url, size = f"{self._env['NATIONAL_BASE_URL']}{path}", self.page_size
        base = {"MaTinh": self._env["NATIONAL_PROVINCE_CODE"], "pageSize": size, **(extra or {})}
        first = orjson.loads(await self._get("n", url, {**base, "pageIndex": 1}))
        pages = -(-first["result"]["total"] // size)
        await asyncio.gather(
            *(self._get("n", url, {**base, "pageIndex": i}) for i in range(2, pages + 1))
        )

"""Wall time of a full procedure run of `tay-ninh-2023` against the simulator over HTTP, beside
the I/O lower bound: a minimal client fetching the same listings, page sizes and concurrency.

    uv run python bench/procedures.py [--latency-ms 50] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _floor import BareUpstreams

from app.main import create_app
from app.settings import Settings
from app.simulator.faults import Faults
from app.simulator.server import SimulatorServer

ADMIN = "bench-admin-key"


async def lower_bound(sim: SimulatorServer, page_size: int, concurrency: int) -> float:
    """Only the HTTP work: tokens, then every page of the four listings, 4 at a time per side."""
    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        upstreams = BareUpstreams(http, sim.environment(), concurrency)
        upstreams.page_size = page_size
        await upstreams.authenticate()
        await asyncio.gather(
            upstreams.provincial("/v1/agencies"),
            upstreams.provincial("/v1/procedures"),
            upstreams.national("/api/v1/thanh-toan/thong-tin-thu-huong"),
            upstreams.national(
                "/api/v1/ho-so/thong-ke-tthc",
                {"TuNgay": "20230101000000", "DenNgay": "20231130235959"},
            ),
        )
        return time.perf_counter() - started


async def service_run(sim: SimulatorServer, database_url: str) -> tuple[float, dict[str, Any]]:
    values: dict[str, Any] = {k.lower(): v for k, v in sim.environment().items()}
    values |= {"database_url": database_url, "recon_admin_key": ADMIN}
    app = create_app(Settings(_env_file=None, **values))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            headers = {"Authorization": f"Bearer {ADMIN}"}
            started = time.perf_counter()
            response = await http.post(
                "/reconcile",
                json={"period_from": "2023-01-01", "period_to": "2023-11-30"},
                headers=headers,
            )
            run_id = response.json()["run_id"]
            await app.state.executor.wait(run_id)
            elapsed = time.perf_counter() - started
            run = (await http.get(f"/runs/{run_id}", headers=headers)).json()
    return elapsed, run


PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def fresh_postgres(admin_url: str) -> str:
    """Every repeat starts from an empty database, so 'first run' means first."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS recon_bench WITH (FORCE)"))
        await connection.execute(text("CREATE DATABASE recon_bench"))
    await engine.dispose()
    return make_url(admin_url).set(database="recon_bench").render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with SimulatorServer("tay-ninh-2023", Faults(latency_ms=args.latency_ms)) as sim:
        bounds = [await lower_bound(sim, 500, 4) for _ in range(args.repeat)]
        firsts, seconds = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                if args.database == "sqlite":
                    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                else:
                    url = os.environ.get(
                        "RECON_BENCH_POSTGRES_URL",
                        "postgresql+asyncpg://postgres@127.0.0.1:5432/recon_bench",
                    )
                first, run = await service_run(sim, url)
                second, _ = await service_run(sim, url)
                assert run["status"] == "succeeded", run["errors"]
                firsts.append(first)
                seconds.append(second)
    bound = statistics.median(bounds)
    first, second = statistics.median(firsts), statistics.median(seconds)
    print(f"command: uv run python bench/procedures.py --latency-ms {args.latency_ms} ", end="")
    print(f"--database {args.database} --repeat {args.repeat}")
    print(f"I/O lower bound (same pages, size 500, 4 concurrent): {bound:.3f} s (median)")
    print(f"first run (opens every finding):  {first:.3f} s = {first / bound:.2f}x")
    print(f"second run (nothing changed):     {second:.3f} s = {second / bound:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())

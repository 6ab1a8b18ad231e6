"""Wall time of procedure runs of `tay-ninh-2023` against the simulator over HTTP, beside the I/O
lower bound: a minimal client fetching the same listings, page sizes and concurrency.

    uv run python bench/procedures.py [--latency-ms 50] [--database sqlite|postgres]
        [--repeat 3] [--simulator process|thread]

Each repeat starts from an empty database and makes three runs with nothing changed between
them: the first (a full read that opens every finding), a full re-check (`"full": true`) and an
incremental one (P asked only for what changed). The simulator runs in its own process by
default, as real upstreams are other machines; `--simulator thread` serves it from a thread of
this process (it then shares the GIL with the service and with the lower bound's client).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _floor import BareUpstreams  # noqa: E402  (bench/ is the script's own directory)
from dossiers import free_port, process  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.simulator.faults import Faults  # noqa: E402
from app.simulator.server import SimulatorServer, simulator_environment  # noqa: E402

ADMIN = "bench-admin-key"
PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}
STATS_WINDOW = {"TuNgay": "20230101000000", "DenNgay": "20231130235959"}
PG_ADMIN = os.environ.get(
    "RECON_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1/test"
)


@contextlib.contextmanager
def simulated_upstreams(latency_ms: int, where: str) -> Iterator[dict[str, str]]:
    """`tay-ninh-2023` with `latency_ms` a page; yields the service's upstream settings."""
    if where == "thread":
        with SimulatorServer("tay-ninh-2023", Faults(latency_ms=latency_ms)) as sim:
            yield sim.environment()
        return
    port = free_port()
    args = [sys.executable, "-m", "app.simulator.server", "--port", str(port)]
    args += ["--scenario", "tay-ninh-2023", "--latency-ms", str(latency_ms)]
    base = f"http://127.0.0.1:{port}"
    with process(args, {}, f"{base}/_sim/faults"):
        yield simulator_environment(base, "H53")


async def lower_bound(env: dict[str, str], page_size: int, concurrency: int) -> float:
    """Only the HTTP work: tokens, then every page of the four listings, 4 at a time per side."""
    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        upstreams = BareUpstreams(http, env, concurrency)
        upstreams.page_size = page_size
        await upstreams.authenticate()
        await asyncio.gather(
            upstreams.provincial("/v1/agencies"),
            upstreams.provincial("/v1/procedures"),
            upstreams.national("/api/v1/thanh-toan/thong-tin-thu-huong"),
            upstreams.national("/api/v1/ho-so/thong-ke-tthc", STATS_WINDOW),
        )
        return time.perf_counter() - started


@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # this process's CPU: the service (and the in-process ASGI client)
    run: dict[str, Any]


class Service:
    """The service in this process, reached over ASGI; one province (a `--provinces N` option
    would start one `Service` per province's upstreams, or one serving PROVINCES)."""

    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    async def run(self, **body: Any) -> Measured:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        cpu, started = time.process_time(), time.perf_counter()
        response = await self.http.post("/reconcile", json={**PERIOD, **body}, headers=headers)
        run_id = response.json()["run_id"]
        await self.app.state.executor.wait(run_id)
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        run = (await self.http.get(f"/runs/{run_id}", headers=headers)).json()
        assert run["status"] == "succeeded", run["errors"]
        return Measured(wall, used, run)


@contextlib.asynccontextmanager
async def service(env: dict[str, str], database_url: str) -> AsyncIterator[Service]:
    values: dict[str, Any] = {k.lower(): v for k, v in env.items()}
    values |= {
        "database_url": database_url,
        "recon_admin_key": ADMIN,
        # Nothing else may run in the process while it is measured.
        "scheduler_enabled": False,
        "webhook_dispatcher_enabled": False,
    }
    app = create_app(Settings(_env_file=None, **values))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            yield Service(app, http)


async def fresh_database(kind: str, tmp: str, name: str = "recon_bench") -> str:
    """An empty database, so 'first run' means first."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp}/bench.db"
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await connection.execute(text(f"CREATE DATABASE {name}"))
    await engine.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--simulator", choices=["process", "thread"], default="process")
    args = parser.parse_args()
    runs: dict[str, list[Measured]] = {"first": [], "full": [], "incremental": []}
    with simulated_upstreams(args.latency_ms, args.simulator) as env:
        bounds = [await lower_bound(env, 500, 4) for _ in range(args.repeat)]
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                url = await fresh_database(args.database, tmp)
                async with service(env, url) as recon:
                    runs["first"].append(await recon.run())
                    runs["full"].append(await recon.run(full=True))
                    runs["incremental"].append(await recon.run())
    assert all(m.run["counts"]["mode"] == "full" for m in runs["full"])
    assert all(m.run["counts"]["mode"] == "incremental" for m in runs["incremental"])
    bound = statistics.median(bounds)
    print(
        f"command: uv run python bench/procedures.py --latency-ms {args.latency_ms} "
        f"--database {args.database} --repeat {args.repeat} --simulator {args.simulator}"
    )
    print(f"I/O lower bound (same pages, size 500, 4 concurrent): {bound:.3f} s (median)")
    labels = {
        "first": "first run (full, opens every finding)",
        "full": "full re-check (nothing changed)",
        "incremental": "incremental run (nothing changed)",
    }
    for name, measured in runs.items():
        wall = statistics.median(m.wall_s for m in measured)
        cpu = statistics.median(m.cpu_s for m in measured)
        timings = measured[len(measured) // 2].run["counts"].get("timings_s")
        print(
            f"{labels[name] + ':':42} {wall:.3f} s = {wall / bound:.2f}x  "
            f"(CPU {cpu:.3f} s; phases {timings})"
        )


if __name__ == "__main__":
    asyncio.run(main())

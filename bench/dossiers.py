"""Wall time and peak memory of a full dossier run, with the simulator answering in 50 ms a page.

The service (`recon serve`) and the simulator run as separate processes, as in production, so
the resident set measured (psutil, sampled every 20 ms) is the service's alone. Each case starts
from an empty database; after the run the bench checks the province figures against the
simulator's ground truth, so a fast wrong answer cannot pass.

    uv run python bench/dossiers.py                       # Đồng Tháp and 1,000,000, both databases
    uv run python bench/dossiers.py --database postgres --scales 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _floor import BareUpstreams  # noqa: E402  (bench/ is the script's own directory)
from _processes import free_port, process  # noqa: E402

from app.simulator.server import simulator_environment  # noqa: E402

ADMIN = "bench-admin-key"
PG_ADMIN = os.environ.get(
    "RECON_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1/test"
)
SCENARIO = "dong-thap-2023"
PERIOD = {"period_from": "2023-01-01", "period_to": "2023-10-23"}
PROFILE_TO = os.environ.get("RECON_BENCH_PROFILE_DIR")  # py-spy collapsed stacks, one per case
MILLION_SCALE = 3.05  # dong-thap-2023 has 328,285 dossiers in its period at scale 1


class PeakRss:
    """Samples a process's resident set in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak = self.current()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def current(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.current())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def fresh_postgres() -> str:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS recon_bench_dossiers WITH (FORCE)"))
        await connection.execute(text("CREATE DATABASE recon_bench_dossiers"))
    await engine.dispose()
    url = make_url(PG_ADMIN).set(database="recon_bench_dossiers")
    return url.render_as_string(hide_password=False)


async def fetch_lower_bound(sim_base: str, page_size: int = 500, concurrency: int = 4) -> float:
    """The I/O floor: the same four listings, page sizes and per-upstream concurrency as the
    service, by a client that only reads the bytes (the first page's totals aside)."""
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.perf_counter()
        upstreams = BareUpstreams(http, simulator_environment(sim_base, "H29"), concurrency)
        upstreams.page_size = page_size
        await upstreams.authenticate()
        await asyncio.gather(
            upstreams.provincial("/v1/agencies"),
            upstreams.provincial(
                "/v1/dossiers", {"receivedFrom": "20230101000000", "receivedTo": "20231023235959"}
            ),
            upstreams.national(
                "/api/v1/ho-so/dong-bo", {"TuNgay": "20230101000000", "DenNgay": "20231023235959"}
            ),
            upstreams.national(
                "/api/v1/thanh-toan/giao-dich",
                {"TuNgay": "20230101000000", "DenNgay": "20231122235959"},
            ),
        )
        return time.perf_counter() - started


@dataclass
class Result:
    database: str
    scale: float
    dossiers: int
    wall_s: float
    idle_rss: int
    peak_rss: int
    cpu_s: float
    simulator_cpu_s: float
    figures_match: bool
    timings: dict[str, Any]


def one_case(
    database: str, scale: float, sim_base: str, database_url: str, simulator_pid: int
) -> Result:
    port = free_port()
    env = {
        **simulator_environment(sim_base, "H29"),
        "DATABASE_URL": database_url,
        "RECON_ADMIN_KEY": ADMIN,
        "WEBHOOK_DISPATCHER_ENABLED": "false",
        "SCHEDULER_ENABLED": "false",  # the benchmark's run is the only one
    }
    service_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    if PROFILE_TO:
        # py-spy's own process is measured then, so read the profile, not the memory figures.
        profile = f"{PROFILE_TO}/{database}-{scale}.txt"
        command = [
            "py-spy",
            "record",
            "-r",
            "100",
            "--format",
            "raw",
            "-o",
            profile,
            "--",
            *command,
        ]
    with process(command, env, f"{service_url}/health/live") as service:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=service_url, headers=headers, timeout=60) as http:
            monitor = PeakRss(service.pid)
            idle = monitor.current()
            cpu_before = psutil.Process(service.pid).cpu_times()
            sim_before = cpu_seconds(simulator_pid)
            started = time.perf_counter()
            accepted = http.post("/reconcile", json={**PERIOD, "scope": "dossiers"})
            accepted.raise_for_status()
            run_id = accepted.json()["run_id"]
            while True:
                run = http.get(f"/runs/{run_id}").json()
                if run["status"] not in ("queued", "running"):
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            peak = monitor.stop()
            cpu_after = psutil.Process(service.pid).cpu_times()
            sim_after = cpu_seconds(simulator_pid)
            if run["status"] != "succeeded":
                raise RuntimeError(f"run {run['status']}: {run['errors']}")
            figures = http.get(
                "/kpi/online-payment",
                params={
                    "from": PERIOD["period_from"],
                    "to": PERIOD["period_to"],
                    "group": "province",
                },
            ).json()["province"]
        truth = httpx.get(f"{sim_base}/_sim/dossier-truth", timeout=60).json()["province"]
        compared = ("fee_bearing", "portal_counted", "verified_online")
        match = all(figures[k] == truth[k] for k in compared)
        return Result(
            database=database,
            scale=scale,
            dossiers=int(run["counts"]["dossiers"]),
            wall_s=wall,
            idle_rss=idle,
            peak_rss=peak,
            cpu_s=(cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
            simulator_cpu_s=sim_after - sim_before,
            figures_match=match,
            timings={
                **run["counts"].get("timings_s", {}),
                **{f"rss_{k}": v for k, v in run["counts"].get("peak_rss_mb", {}).items()},
            },
        )


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def run_cases(databases: list[str], scales: list[float], latency_ms: int) -> list[Result]:
    results = []
    for scale in scales:
        port = free_port()
        sim_base = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "app.simulator.server", "--port", str(port),
            "--scenario", SCENARIO, "--scale", str(scale), "--latency-ms", str(latency_ms),
        ]  # fmt: skip
        with process(command, {}, f"{sim_base}/_sim/faults") as simulator:
            floor = asyncio.run(fetch_lower_bound(sim_base))
            print(f"scale {scale}: fetch lower bound (bytes only, 4 + 4 concurrent) {floor:.1f} s")
            for database in databases:
                with tempfile.TemporaryDirectory() as tmp:
                    if database == "sqlite":
                        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                    else:
                        url = asyncio.run(fresh_postgres())
                    result = one_case(database, scale, sim_base, url, simulator.pid)
                    print_result(result, flush=True)
                    results.append(result)
    return results


def mb(value: int) -> str:
    return f"{value / 2**20:.0f} MB"


def print_result(r: Result, flush: bool = False) -> None:
    rate = r.dossiers / r.wall_s if r.wall_s else 0
    timings = " ".join(f"{k}={v}" for k, v in r.timings.items())
    print(
        f"{r.database:9} scale {r.scale:<5} {r.dossiers:>9,} dossiers  wall {r.wall_s:6.1f} s "
        f"({rate:,.0f}/s)  CPU service {r.cpu_s:.1f} s, simulator {r.simulator_cpu_s:.1f} s  "
        f"RSS idle {mb(r.idle_rss)}, "
        f"peak {mb(r.peak_rss)}  figures {'= truth' if r.figures_match else '!= TRUTH'}"
        + (f"  [{timings}]" if timings else ""),
        flush=flush,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--scales", default=f"1,{MILLION_SCALE}", help="dossier scales (1 = Đồng Tháp's letter)"
    )
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    scales = [float(s) for s in args.scales.split(",")]
    print(
        f"command: uv run python bench/dossiers.py --database {args.database} "
        f"--scales {args.scales} --latency-ms {args.latency_ms}"
    )
    results = run_cases(databases, scales, args.latency_ms)
    print("\nflat memory (peak RSS at the largest scale ÷ at the smallest):")
    for database in databases:
        mine = sorted((r for r in results if r.database == database), key=lambda r: r.scale)
        if len(mine) > 1:
            ratio = mine[-1].peak_rss / mine[0].peak_rss
            print(f"  {database}: {ratio:.2f}x  (target ≤ 1.2x)")
    failed = [r for r in results if not r.figures_match]
    if failed:
        sys.exit("figures differ from the simulator's ground truth")


if __name__ == "__main__":
    main()

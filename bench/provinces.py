"""A national deployment: every province's procedure run at once, beside the I/O lower bound.

Each province has its own simulated upstreams (a `tay-ninh-2023` simulator process answering
for that province's MaTinh, 50 ms a page), as each province has its own P and its own
credentials on N. One `recon serve` process serves all of them (PROVINCES), on PostgreSQL by
default; every run is requested at the same moment. The lower bound is a minimal client that
fetches the same listings of every province with the same page sizes and per-upstream
concurrency, all provinces at once, and does nothing else.

    uv run python bench/provinces.py                      # 34 provinces, PostgreSQL
    uv run python bench/provinces.py --provinces 5 --database sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

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
PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}
STATS_WINDOW = {"TuNgay": "20230101000000", "DenNgay": "20231130235959"}


def province_codes(count: int) -> list[str]:
    return [f"H{n:02d}" for n in range(1, count + 1)]


async def lower_bound(environments: list[dict[str, str]], concurrency: int) -> float:
    """Every province's four listings at once, `concurrency` requests per upstream each."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()

        async def one(env: dict[str, str]) -> None:
            upstreams = BareUpstreams(http, env, concurrency)
            await upstreams.authenticate()
            await asyncio.gather(
                upstreams.provincial("/v1/agencies"),
                upstreams.provincial("/v1/procedures"),
                upstreams.national("/api/v1/thanh-toan/thong-tin-thu-huong"),
                upstreams.national("/api/v1/ho-so/thong-ke-tthc", STATS_WINDOW),
            )

        await asyncio.gather(*(one(env) for env in environments))
        return time.perf_counter() - started


async def fresh_postgres() -> str:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS recon_bench_provinces WITH (FORCE)"))
        await connection.execute(text("CREATE DATABASE recon_bench_provinces"))
    await engine.dispose()
    return (
        make_url(PG_ADMIN)
        .set(database="recon_bench_provinces")
        .render_as_string(hide_password=False)
    )


def provinces_setting(environments: list[dict[str, str]]) -> str:
    return json.dumps(
        [
            {
                "code": env["NATIONAL_PROVINCE_CODE"],
                "provincial_base_url": env["PROVINCIAL_BASE_URL"],
                "provincial_token_url": env["PROVINCIAL_TOKEN_URL"],
                "provincial_client_id": env["PROVINCIAL_CLIENT_ID"],
                "provincial_client_secret": env["PROVINCIAL_CLIENT_SECRET"],
                "national_base_url": env["NATIONAL_BASE_URL"],
                "national_token_url": env["NATIONAL_TOKEN_URL"],
                "national_client_id": env["NATIONAL_CLIENT_ID"],
                "national_client_secret": env["NATIONAL_CLIENT_SECRET"],
            }
            for env in environments
        ]
    )


def all_runs(service_url: str, codes: list[str]) -> tuple[float, list[dict[str, object]]]:
    """Request every province's run at once: wall time until the last one ends, and the runs."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=service_url, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        run_ids = []
        for code in codes:
            accepted = http.post("/reconcile", params={"province": code}, json=PERIOD)
            accepted.raise_for_status()
            run_ids.append(accepted.json()["run_id"])
        pending = set(run_ids)
        runs: dict[str, dict[str, object]] = {}
        while pending:
            for run_id in list(pending):
                run = http.get(f"/runs/{run_id}").json()
                if run["status"] not in ("queued", "running"):
                    runs[run_id] = run
                    pending.discard(run_id)
            time.sleep(0.05)
        return time.perf_counter() - started, [runs[r] for r in run_ids]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--provinces", type=int, default=34)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    args = parser.parse_args()
    codes = province_codes(args.provinces)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        environments = []
        for code in codes:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            command = [
                sys.executable, "-m", "app.simulator.server", "--port", str(port),
                "--scenario", "tay-ninh-2023", "--province-code", code,
                "--latency-ms", str(args.latency_ms),
            ]  # fmt: skip
            stack.enter_context(process(command, {}, f"{base}/_sim/faults"))
            environments.append(simulator_environment(base, code))
        floor = asyncio.run(lower_bound(environments, args.concurrency))

        url = (
            f"sqlite+aiosqlite:///{tmp}/bench.db"
            if args.database == "sqlite"
            else asyncio.run(fresh_postgres())
        )
        port = free_port()
        env = {
            "DATABASE_URL": url,
            "RECON_ADMIN_KEY": ADMIN,
            "PROVINCES": provinces_setting(environments),
            "UPSTREAM_MAX_CONCURRENCY": str(args.concurrency),
            "SCHEDULER_ENABLED": "false",
            "WEBHOOK_DISPATCHER_ENABLED": "false",
        }
        service_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        with process(command, env, f"{service_url}/health/live") as service:
            before = psutil.Process(service.pid).cpu_times()
            wall, runs = all_runs(service_url, codes)
            after = psutil.Process(service.pid).cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    statuses = sorted({str(r["status"]) for r in runs})
    print(
        f"command: uv run python bench/provinces.py --provinces {args.provinces} "
        f"--latency-ms {args.latency_ms} --concurrency {args.concurrency} "
        f"--database {args.database}"
    )
    print(f"machine: {os.cpu_count()} cores; one simulator process per province, one service")
    print(f"I/O lower bound, {args.provinces} provinces at once: {floor:.2f} s")
    print(f"every province's run at once:            {wall:.2f} s = {wall / floor:.2f}x")
    print(f"service CPU: {cpu:.2f} s; run statuses: {', '.join(statuses)}")
    print(f"target <= 1.5x: {'PASS' if wall / floor <= 1.5 else 'MISS'}")
    if statuses != ["succeeded"]:
        raise SystemExit("not every run succeeded: " + "; ".join(str(r["errors"]) for r in runs))


if __name__ == "__main__":
    main()

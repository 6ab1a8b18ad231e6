"""Read-path latency and throughput under load: the unsynced list, the online-payment figures and
liveness, hit by concurrent clients in the same window, against real data.

The simulator and `recon serve` run as separate processes (as in production); one full
reconciliation (scope `all`: procedures and dossiers) fills the database; then a closed-loop
load generator in this process runs `--clients` concurrent clients for `--duration` seconds,
split evenly over the three endpoints so every endpoint is measured under the same contention.
A data endpoint passes when its p99 is at most 50 ms, nothing failed, and it answers at least
half as many requests per second as /health/live (which does no work: it is the ceiling the
server, the event loop and this load generator allow on this machine). Then two shorter windows,
the data endpoints alone and liveness alone, give the service's CPU per request: a cached answer
passes at 0.4 ms or less.

    uv run python bench/api.py            # PostgreSQL, tay-ninh-2023 ×3, 50 clients, 30 s
    uv run python bench/api.py --database sqlite --clients 20 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _processes import free_port, process  # noqa: E402  (bench/ is the script's own directory)

from app.simulator.scenarios.registry import list_scenarios  # noqa: E402
from app.simulator.server import simulator_environment  # noqa: E402

ADMIN = "bench-admin-key"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
PG_ADMIN = os.environ.get(
    "RECON_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BENCH_DATABASE = "recon_bench_api"  # its own, so other benchmarks running at once are untouched
P99_TARGET_MS = 50.0
THROUGHPUT_SHARE_TARGET = 0.5  # of /health/live's requests per second
CACHED_CPU_TARGET_MS = 0.4  # service CPU per cached data answer


async def fresh_postgres() -> str:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        await connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    await engine.dispose()
    return make_url(PG_ADMIN).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


@dataclass
class Samples:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def failed(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    params: dict[str, str]
    is_data: bool  # a data endpoint is held to the targets; /health/live is the yardstick


async def client_loop(
    base_url: str,
    headers: dict[str, str],
    endpoint: Endpoint,
    until: float,
    samples: Samples,
) -> None:
    """One closed-loop client on its own kept-alive connection: the next request leaves when
    the previous answer is read. (One pool of 50 connections shared by 50 clients costs
    httpcore about 3.5 ms of CPU a request, scanning every connection on each checkout: the
    load generator, not the service, was then what the figures measured.)"""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as http:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                response = await http.get(endpoint.path, params=endpoint.params)
                await response.aread()
            except httpx.HTTPError as exc:
                samples.failed(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            if response.status_code >= 300:
                samples.failed(f"HTTP {response.status_code}: {response.text[:200]}")
            else:
                samples.latencies_s.append(elapsed)


async def load(
    base_url: str, headers: dict[str, str], endpoints: list[Endpoint], clients: int, seconds: float
) -> dict[str, Samples]:
    """``clients`` connections in all, dealt round-robin over the endpoints, so the endpoints
    share the window and the server."""
    samples = {e.label: Samples() for e in endpoints}
    until = time.perf_counter() + seconds
    dealt = [endpoints[i % len(endpoints)] for i in range(clients)]
    await asyncio.gather(
        *(client_loop(base_url, headers, e, until, samples[e.label]) for e in dealt)
    )
    return samples


def reconcile(http: httpx.Client, period: dict[str, str]) -> dict[str, object]:
    accepted = http.post("/reconcile", json={**period, "scope": "all"})
    accepted.raise_for_status()
    run_id = accepted.json()["run_id"]
    while True:
        run: dict[str, object] = http.get(f"/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.5)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is there (uvicorn's extras bring it, and the service runs on it too):
    the load generator shares two cores with the service and the database, so every
    microsecond it spends per request is taken from what it measures."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def endpoints_for(period: dict[str, str]) -> list[Endpoint]:
    return [
        Endpoint("/health/live", "/health/live", {}, is_data=False),
        Endpoint(
            "/procedures/unsynced?limit=100", "/procedures/unsynced", {"limit": "100"}, is_data=True
        ),
        Endpoint(
            "/kpi/online-payment?group=agency",
            "/kpi/online-payment",
            {"from": period["period_from"], "to": period["period_to"], "group": "agency"},
            is_data=True,
        ),
    ]


def fill(service_url: str, period: dict[str, str], label: str) -> None:
    """One full reconciliation (procedures and dossiers), so every list has real data."""
    with httpx.Client(base_url=service_url, headers=ADMIN_HEADERS, timeout=120) as http:
        started = time.perf_counter()
        run = reconcile(http, period)
        if run["status"] != "succeeded":
            sys.exit(f"run {run['status']}: {run.get('errors')}")
        counts = run["counts"]
        assert isinstance(counts, dict)
        dossier_part = counts.get("dossiers") or {}
        print(
            f"data: {label}, scope all, run in {time.perf_counter() - started:.0f} s: "
            f"{dossier_part.get('dossiers', 0):,} dossiers "
            f"({dossier_part.get('fee_bearing', 0):,} fee-bearing)",
            flush=True,
        )


def reader_headers(service_url: str) -> dict[str, str]:
    """A reader key, as the people reading these lists use: its lookup is part of every
    request's cost (the bootstrap admin key would skip it)."""
    with httpx.Client(base_url=service_url, headers=ADMIN_HEADERS, timeout=30) as http:
        created = http.post("/keys", json={"name": "bench-reader", "role": "reader"})
        created.raise_for_status()
        return {"Authorization": f"Bearer {created.json()['key']}"}


def check_answers(service_url: str, headers: dict[str, str], endpoints: list[Endpoint]) -> None:
    """The answers are real before they are timed."""
    with httpx.Client(base_url=service_url, headers=headers, timeout=120) as http:
        for e in endpoints:
            response = http.get(e.path, params=e.params)
            response.raise_for_status()
            body = response.json()
            size = f"{len(response.content) / 1024:.0f} kB"
            if e.path == "/procedures/unsynced":
                print(f"  unsynced page: {len(body['items'])} items, {size}", flush=True)
            if e.path == "/kpi/online-payment":
                province = body["province"]
                print(
                    f"  online payment: {len(body['items'])} agencies, province "
                    f"{province['portal_counted']:,} / {province['fee_bearing']:,}, {size}",
                    flush=True,
                )


@dataclass
class Window:
    samples: dict[str, Samples]
    seconds: float
    service_cpu_s: float
    load_cpu_s: float
    load_average: float


def measure(
    service_url: str,
    service_pid: int,
    headers: dict[str, str],
    endpoints: list[Endpoint],
    clients: int,
    duration: float,
) -> Window:
    load_average = os.getloadavg()[0]
    me = os.getpid()
    service_cpu, my_cpu = cpu_seconds(service_pid), cpu_seconds(me)
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        samples = runner.run(load(service_url, headers, endpoints, clients, duration))
    return Window(
        samples=samples,
        seconds=time.perf_counter() - started,
        service_cpu_s=cpu_seconds(service_pid) - service_cpu,
        load_cpu_s=cpu_seconds(me) - my_cpu,
        load_average=load_average,
    )


def report(window: Window, endpoints: list[Endpoint], clients: int, database: str) -> bool:
    """Prints the table and the verdicts; True when every target is met."""
    seconds = window.seconds
    print(
        f"machine: {os.cpu_count()} cores (load average before the window "
        f"{window.load_average:.2f}); service: one `recon serve` process on {database}; "
        f"load: {clients} closed-loop clients in this process, "
        f"{clients // len(endpoints)}–{-(-clients // len(endpoints))} per endpoint, "
        f"{seconds:.1f} s; CPU used in the window: service {window.service_cpu_s / seconds:.0%}, "
        f"load generator {window.load_cpu_s / seconds:.0%} of one core"
    )
    header = f"{'endpoint':36} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
    print(header + f"{'max ms':>8} {'errors':>7}")
    rates: dict[str, float] = {}
    for e in endpoints:
        s = window.samples[e.label]
        ordered = sorted(s.latencies_s)
        rates[e.label] = len(ordered) / seconds
        print(
            f"{e.label:36} {len(ordered):>9,} {rates[e.label]:>8.1f} "
            f"{percentile(ordered, 0.50) * 1000:>8.1f} {percentile(ordered, 0.99) * 1000:>8.1f} "
            f"{(ordered[-1] if ordered else 0) * 1000:>8.1f} {s.errors:>7}"
        )
    met = True
    ceiling = rates["/health/live"]
    for e in endpoints:
        s = window.samples[e.label]
        if s.first_error:
            print(f"  {e.label}: first error: {s.first_error}")
        if not e.is_data:
            continue
        p99 = percentile(sorted(s.latencies_s), 0.99) * 1000
        share = rates[e.label] / ceiling if ceiling else 0.0
        for name, ok in (
            (f"p99 {p99:.1f} ms ≤ {P99_TARGET_MS:.0f} ms", p99 <= P99_TARGET_MS),
            (f"errors {s.errors} = 0", s.errors == 0),
            (
                f"throughput {share:.2f} of /health/live's ≥ {THROUGHPUT_SHARE_TARGET:.2f}",
                share >= THROUGHPUT_SHARE_TARGET,
            ),
        ):
            met &= ok
            print(f"  {'PASS' if ok else 'MISS'}  {e.label}: {name}")
    return met


def cpu_per_request_ms(window: Window) -> float:
    answered = sum(len(s.latencies_s) for s in window.samples.values())
    return window.service_cpu_s * 1000 / answered if answered else float("inf")


def report_cpu(data_only: Window, live_only: Window) -> bool:
    """The service's CPU per request with the data endpoints alone (every answer cached: the
    first of each was computed before the windows) and with liveness alone, for scale."""
    data_ms, live_ms = cpu_per_request_ms(data_only), cpu_per_request_ms(live_only)
    errors = sum(s.errors for s in data_only.samples.values())
    print(
        f"service CPU per request: cached data answers {data_ms:.3f} ms "
        f"({data_only.seconds:.1f} s window, load average {data_only.load_average:.2f}), "
        f"/health/live {live_ms:.3f} ms ({live_only.seconds:.1f} s window)"
    )
    ok = data_ms <= CACHED_CPU_TARGET_MS and errors == 0
    print(
        f"  {'PASS' if ok else 'MISS'}  cached data answer: {data_ms:.3f} ms of service CPU "
        f"≤ {CACHED_CPU_TARGET_MS} ms, errors {errors} = 0"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--scenario", default="tay-ninh-2023")
    parser.add_argument(
        "--scale", type=float, default=3.0, help="dossier scale (tay-ninh-2023 × 3: ~340,000)"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--latency-ms", type=int, default=0, help="simulator latency per page")
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="PostgreSQL only: measure the data a previous run of this bench left in "
        f"{BENCH_DATABASE} (no simulator, no reconciliation)",
    )
    parser.add_argument(
        "--profile-to",
        default=None,
        help="write py-spy collapsed stacks of the service under load here "
        "(`uv pip install py-spy` first)",
    )
    args = parser.parse_args()
    if args.reuse_database and args.database != "postgres":
        parser.error("--reuse-database needs --database postgres")
    command = (
        f"uv run python bench/api.py --database {args.database} --scenario {args.scenario} "
        f"--scale {args.scale:g} --clients {args.clients} --duration {args.duration:g} "
        f"--latency-ms {args.latency_ms}" + (" --reuse-database" if args.reuse_database else "")
    )
    print(f"command: {command}", flush=True)
    info = next(i for i in list_scenarios() if i.name == args.scenario)
    period = {
        "period_from": info.period_start.isoformat(),
        "period_to": info.period_end.isoformat(),
    }
    endpoints = endpoints_for(period)

    with contextlib.ExitStack() as stack:
        sim_base = "http://127.0.0.1:9"  # never called when the data are reused
        if not args.reuse_database:
            sim_base = f"http://127.0.0.1:{free_port()}"
            simulator = [
                sys.executable, "-m", "app.simulator.server", "--port", sim_base.rsplit(":", 1)[1],
                "--scenario", args.scenario, "--scale", str(args.scale),
                "--latency-ms", str(args.latency_ms),
            ]  # fmt: skip
            stack.enter_context(process(simulator, {}, f"{sim_base}/_sim/faults"))
        if args.database == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            database_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        elif args.reuse_database:
            url = make_url(PG_ADMIN).set(database=BENCH_DATABASE)
            database_url = url.render_as_string(hide_password=False)
        else:
            database_url = asyncio.run(fresh_postgres())
        port = free_port()
        service_url = f"http://127.0.0.1:{port}"
        env = {
            **simulator_environment(sim_base, info.province_code),
            "DATABASE_URL": database_url,
            "RECON_ADMIN_KEY": ADMIN,
            "WEBHOOK_DISPATCHER_ENABLED": "false",
            "SCHEDULER_ENABLED": "false",  # nothing but the load may touch the database
        }
        service_cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        service = stack.enter_context(process(service_cmd, env, f"{service_url}/health/live"))
        if not args.reuse_database:
            fill(service_url, period, f"{args.scenario} ×{args.scale:g}")
        headers = reader_headers(service_url)
        check_answers(service_url, headers, endpoints)
        profiler = None
        if args.profile_to:
            profiler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--nonblocking",
                    "-r",
                    "200",
                    "--format",
                    "raw",
                    "-o",
                    args.profile_to,
                    "-p",
                    str(service.pid),
                ]
            )
        window = measure(service_url, service.pid, headers, endpoints, args.clients, args.duration)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        short = min(10.0, args.duration)
        data = [e for e in endpoints if e.is_data]
        live = [e for e in endpoints if not e.is_data]
        data_only = measure(service_url, service.pid, headers, data, args.clients, short)
        live_only = measure(service_url, service.pid, headers, live, args.clients, short)

    met = report(window, endpoints, args.clients, args.database)
    met &= report_cpu(data_only, live_only)
    print(f"command: {command}")
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Runs against upstreams that misbehave: each ends `partial` with its reason, within its
deadline, with the service's memory flat and the lists unchanged; and upstreams that are hostile
but working (tokens dying after 9 uses, failures in streaks) give a succeeded run every time.

    uv run python bench/hostile.py [--database sqlite|postgres] [--hostile-runs 20]

`recon serve` and the simulator (`tay-ninh-2023`, 20 ms a page) run as separate processes; the
service's resident set is sampled every 20 ms (psutil). Settings are the defaults but for
UPSTREAM_REQUEST_DEADLINE_S=10 (a trickling page would otherwise take its five attempts of 60 s
in each round) and UPSTREAM_ROUND_PAUSE_S=3 (15 s by default), printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _processes import free_port, process  # noqa: E402
from dossiers import PeakRss, fresh_postgres  # noqa: E402

from app.simulator.server import simulator_environment  # noqa: E402

ADMIN = "bench-admin-key"
PROCEDURES = {"period_from": "2023-01-01", "period_to": "2023-11-30", "full": True}
DOSSIERS = {"period_from": "2023-11-01", "period_to": "2023-11-30", "scope": "dossiers"}
SETTINGS = {"UPSTREAM_REQUEST_DEADLINE_S": "10", "UPSTREAM_ROUND_PAUSE_S": "3"}
MISBEHAVIOURS = [
    # (listing, mode, the run's scope)
    ("provincial.procedures", "trickle", PROCEDURES),
    ("provincial.procedures", "endless", PROCEDURES),
    ("provincial.procedures", "huge_total", PROCEDURES),
    ("national.thong-tin-thu-huong", "padded", PROCEDURES),
    ("national.thong-tin-thu-huong", "deep_json", PROCEDURES),
    ("provincial.dossiers", "endless", DOSSIERS),
    ("provincial.dossiers", "huge_total", DOSSIERS),
    ("national.dong-bo", "padded", DOSSIERS),
    ("national.giao-dich", "deep_json", DOSSIERS),
]


def run_once(
    http: httpx.Client, body: dict[str, Any], monitor: PeakRss
) -> tuple[dict[str, Any], float, int]:
    monitor.peak = monitor.current()
    started = time.perf_counter()
    accepted = http.post("/reconcile", json=body)
    accepted.raise_for_status()
    run_id = accepted.json()["run_id"]
    while True:
        run: dict[str, Any] = http.get(f"/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run, time.perf_counter() - started, monitor.peak
        time.sleep(0.1)


def lists(http: httpx.Client) -> tuple[Any, ...]:
    unsynced = http.get("/procedures/unsynced", params={"limit": 1000}).json()
    mismatches = http.get("/dossiers/mismatches", params={"limit": 1}).json()
    return (
        unsynced["summary"],
        sorted(
            (i["procedure_code"], i["agency_code"], tuple(i["reasons"])) for i in unsynced["items"]
        ),
        mismatches.get("counts"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--hostile-runs", type=int, default=20)
    parser.add_argument("--skip-misbehaviours", action="store_true")
    args = parser.parse_args()
    print(
        f"command: uv run python bench/hostile.py --database {args.database} "
        f"--hostile-runs {args.hostile_runs}"
    )
    print(f"tay-ninh-2023 at 20 ms a page; service settings: defaults and {SETTINGS}")
    sim_port, port = free_port(), free_port()
    sim_base = f"http://127.0.0.1:{sim_port}"
    simulator = [sys.executable, "-m", "app.simulator.server", "--port", str(sim_port),
                 "--scenario", "tay-ninh-2023", "--latency-ms", "20"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, process(simulator, {}, f"{sim_base}/_sim/faults"):
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        else:
            url = asyncio.run(fresh_postgres())
        env = {
            **simulator_environment(sim_base, "H53"),
            **SETTINGS,
            "DATABASE_URL": url,
            "RECON_ADMIN_KEY": ADMIN,
            "WEBHOOK_DISPATCHER_ENABLED": "false",
            "SCHEDULER_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        service = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with (
            process(service, env, f"{base}/health/live") as recon,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
            ) as http,
            httpx.Client(base_url=sim_base, timeout=60) as sim,
        ):
            monitor = PeakRss(recon.pid)
            for body in (PROCEDURES, DOSSIERS):
                run, wall, peak = run_once(http, body, monitor)
                assert run["status"] == "succeeded", run["errors"]
                print(
                    f"clean {body.get('scope', 'procedures'):10}  succeeded in {wall:5.1f} s, "
                    f"peak RSS {peak / 2**20:.0f} MB"
                )
            before = lists(http)
            print(
                f"{'misbehaving listing':38} {'status':8} {'wall':>7} {'peak RSS':>9}  "
                "lists unchanged  reason"
            )
            worst = 0
            for listing, mode, body in [] if args.skip_misbehaviours else MISBEHAVIOURS:
                sim.put(
                    "/_sim/faults", json={"misbehave": [f"{listing}:{mode}"], "latency_ms": 20}
                ).raise_for_status()
                run, wall, peak = run_once(http, body, monitor)
                worst = max(worst, peak)
                same = lists(http) == before
                reason = "; ".join(run["errors"])[:110]
                print(
                    f"{listing + ':' + mode:38} {run['status']:8} {wall:6.1f}s "
                    f"{peak / 2**20:7.0f} MB  {same!s:15}  {reason}",
                    flush=True,
                )
            print(
                f"highest peak RSS under a misbehaving upstream: {worst / 2**20:.0f} MB "
                "(target < 300 MB)"
            )

            sim.put(
                "/_sim/faults",
                json={
                    "latency_ms": 20,
                    "token_max_uses": 9,
                    "streak_every": 50,
                    "streak_length": 8,
                    "retry_after_s": 1,
                },
            ).raise_for_status()
            outcomes: list[str] = []
            walls: list[float] = []
            rounds = 0
            for _ in range(args.hostile_runs):
                run, wall, _ = run_once(http, PROCEDURES, monitor)
                outcomes.append(run["status"])
                walls.append(wall)
                stats = run["upstream_stats"]
                rounds += stats["provincial"]["failures"] + stats["national"]["failures"]
                if run["status"] != "succeeded":
                    print(f"  run {run['run_id']} {run['status']}: {run['errors']}")
            print(
                f"hostile but working (tokens die after 9 uses; 429/503/99 in streaks of 8 "
                f"in every 50 requests): {outcomes.count('succeeded')} of {len(outcomes)} "
                f"runs succeeded; wall {min(walls):.1f}–{max(walls):.1f} s; pages that "
                f"needed a second round: {rounds}"
            )


if __name__ == "__main__":
    main()

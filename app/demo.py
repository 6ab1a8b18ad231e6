"""``recon demo``: simulated upstreams + the service on SQLite, one reconciliation, a summary."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from app.main import create_app
from app.settings import Settings
from app.simulator.faults import Faults
from app.simulator.server import SimulatorServer

console = Console()


def fresh_database(path: Path) -> Path:
    """The demo starts from an empty SQLite file every time, so it always tells the same story."""
    path = path.absolute()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def run_demo(
    *, scenario: str, host: str, port: int, sim_port: int, database: Path, latency_ms: int
) -> None:
    admin_key = "rk_demo_" + secrets.token_urlsafe(18)
    with SimulatorServer(scenario, Faults(latency_ms=latency_ms), port=sim_port) as sim:
        values: dict[str, Any] = {key.lower(): value for key, value in sim.environment().items()}
        values |= {"database_url": f"sqlite+aiosqlite:///{database}", "recon_admin_key": admin_key}
        settings = Settings(_env_file=None, **values)
        console.print(f"[bold]Simulated upstreams[/bold] ({scenario}) at {sim.base_url}")
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
                raise SystemExit(f"the service could not start on {host}:{port}")
            await asyncio.sleep(0.05)
        base = f"http://{host}:{port}"
        console.print(f"[bold]Service[/bold] at {base} (SQLite file {database})")
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        ) as http:
            period = sim.state.scenario
            body = {
                "scope": "procedures",
                "period_from": period.period_start.isoformat(),
                "period_to": period.period_end.isoformat(),
            }
            run = await _reconcile(http, body)
            if run["status"] == "succeeded":
                await _print_results(http)
            else:
                console.print(f"[red]run ended {run['status']}[/red]: {run['errors']}")
        console.print(
            f"\n[bold]Try it:[/bold] open {base}/docs (Authorize with the key below)\n"
            f"  API key (admin, this demo only): [green]{admin_key}[/green]\n"
            f"  curl -H 'Authorization: Bearer {admin_key}' "
            f"'{base}/procedures/unsynced?level=tinh&limit=5'\n"
            f"  curl {base}/health/ready\n"
            "Serving until Ctrl-C."
        )
        await serving


async def _reconcile(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/reconcile", json=body)
    response.raise_for_status()
    run_id = response.json()["run_id"]
    started = time.monotonic()
    with console.status("reconciling…") as status:
        while True:
            run: dict[str, Any] = (await http.get(f"/runs/{run_id}")).json()
            status.update(f"run {run_id[:8]}: {run['status']} ({time.monotonic() - started:.1f} s)")
            if run["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.25)
    console.print(
        f"run {run_id} [bold]{run['status']}[/bold] in {time.monotonic() - started:.1f} s "
        f"({run['upstream_stats'].get('provincial', {}).get('requests', 0)} requests to P, "
        f"{run['upstream_stats'].get('national', {}).get('requests', 0)} to N)"
    )
    return run


async def _print_results(http: httpx.AsyncClient) -> None:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    summary: dict[str, Any] = {}
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/procedures/unsynced", params=params)).json()
        summary, cursor = page["summary"], page["next_cursor"]
        items.extend(page["items"])
        if not cursor:
            break

    table = Table(title="Fee-bearing procedures synced to the national portal, per level")
    for column in ("level", "fee-bearing", "synced", "not synced", "rate"):
        table.add_column(column, justify="right" if column != "level" else "left")
    for level, figure in summary.items():
        rate = "—" if figure["rate"] is None else f"{figure['rate'] * 100:.2f}%"
        table.add_row(
            level,
            str(figure["fee_bearing"]),
            str(figure["synced"]),
            str(figure["not_synced"]),
            rate,
        )
    console.print(table)

    by_agency: dict[str, Counter[str]] = defaultdict(Counter)
    names: dict[str, str] = {}
    for item in items:
        by_agency[item["agency_code"]].update(item["reasons"])
        names[item["agency_code"]] = item["agency_name"] or item["agency_code"]
    agencies = Table(title="Top reasons per agency (configurations not synced)")
    agencies.add_column("agency")
    agencies.add_column("not synced", justify="right")
    agencies.add_column("top reasons")
    configurations = Counter(item["agency_code"] for item in items)
    for code, count in configurations.most_common(12):
        reasons = by_agency[code]
        top = ", ".join(f"{reason} ×{n}" for reason, n in reasons.most_common(3))
        agencies.add_row(f"{names[code]} ({code})", str(count), top)
    console.print(agencies)

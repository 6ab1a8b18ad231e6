"""``recon demo``: simulated upstreams + the service on SQLite + a webhook subscriber, one
reconciliation, its summary and the verified webhooks it caused."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import httpx
import uvicorn
from cryptography.fernet import Fernet
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.background_server import BackgroundServer
from app.export_client import Downloaded, DownloadError, Target, download
from app.main import create_app
from app.settings import Settings
from app.simulator.faults import Faults
from app.simulator.scenarios.registry import list_scenarios
from app.simulator.server import SimulatorServer
from app.webhooks.receiver import Receiver

console = Console()


def _require_free_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"cannot serve on {host}:{port} ({exc.strerror}); choose another with --port"
            ) from None


def fresh_database(path: Path) -> Path:
    """The demo starts from an empty SQLite file every time, so it always tells the same story."""
    path = path.absolute()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def run_demo(
    *,
    scenario: str,
    host: str,
    port: int,
    sim_port: int,
    database: Path,
    latency_ms: int,
    webhook_url: str | None = None,
    scope: str | None = None,
    out: Path = Path("demo-exports"),
    serve: bool = True,
) -> None:
    """``serve``: keep serving until Ctrl-C once the story is told (tests say False)."""
    _require_free_port(host, port)
    scope = scope or next(i.demo_scope for i in list_scenarios() if i.name == scenario)
    admin_key = "rk_demo_" + secrets.token_urlsafe(18)
    receiver = Receiver()
    with (
        SimulatorServer(scenario, Faults(latency_ms=latency_ms), port=sim_port) as sim,
        BackgroundServer(receiver, name="demo webhook receiver") as receiving,
    ):
        values: dict[str, Any] = {key.lower(): value for key, value in sim.environment().items()}
        values |= {
            "database_url": f"sqlite+aiosqlite:///{database}",
            "recon_admin_key": admin_key,
            # The demo's subscriber is on this machine: allow loopback and plain HTTP, which a
            # deployment would refuse by default.
            "webhook_allowed_networks": "127.0.0.0/8,::1/128",
            "webhook_allow_http": True,
            # The demo starts its one run itself; `recon serve` runs on the schedule.
            "scheduler_enabled": False,
            # The demo's database lives as long as the demo: a key of its own encrypts the
            # subscriber's secret at rest, as a deployment's WEBHOOK_SECRET_KEY would.
            "webhook_secret_key": os.environ.get("WEBHOOK_SECRET_KEY")
            or Fernet.generate_key().decode(),
        }
        if "LOG_LEVEL" not in os.environ:
            # The demo's story is what it prints; its logs only when something goes wrong
            # (LOG_LEVEL=INFO shows them all, interleaved).
            values["log_level"] = "WARNING"
        settings = Settings(_env_file=None, **values)
        console.print(f"[bold]Simulated upstreams[/bold] ({scenario}) at {sim.base_url}")
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), host=host, port=port, log_level="warning", log_config=None
            )
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
            subscriber = await _subscribe(http, receiver, webhook_url or receiving.base_url + PATH)
            period = sim.state.scenario
            body = {
                "scope": scope,
                "period_from": period.period_start.isoformat(),
                "period_to": period.period_end.isoformat(),
            }
            run = await _reconcile(http, body)
            exported: list[tuple[DemoExport, Downloaded]] = []
            if run["status"] == "succeeded":
                if scope in ("procedures", "all"):
                    await _print_results(http)
                if scope in ("dossiers", "all"):
                    await print_figures(http, body["period_from"], body["period_to"])
                await _show_webhooks(http, receiver, subscriber, run, external=bool(webhook_url))
                if scope in ("procedures", "all"):
                    exported = await _write_exports(http, out, scenario)
            else:
                console.print(f"[red]run ended {run['status']}[/red]: {run['errors']}")
        console.print(
            f"\n[bold]Console[/bold] (in Vietnamese; English at the top right): {base}/\n"
            "  Sign-in link, this demo only (the key rides in the address's #fragment, which "
            "no server or log sees):"
        )
        console.print(
            f"  {demo_sign_in_link(base, admin_key)}", markup=False, highlight=False, soft_wrap=True
        )
        console.print(
            f"\n[bold]Try it:[/bold] open {base}/docs (Authorize with the key below)\n"
            f"  API key (admin, this demo only): [green]{admin_key}[/green]\n"
            f"  curl -H 'Authorization: Bearer {admin_key}' "
            f"'{base}/procedures/unsynced?level=tinh&limit=5'\n"
            f"  curl -H 'Authorization: Bearer {admin_key}' "
            f"'{base}/kpi/online-payment?from={period.period_start}&to={period.period_end}"
            "&group=parent'\n"
            f"  curl -H 'Authorization: Bearer {admin_key}' "
            f"'{base}/webhooks/endpoints/{subscriber['id']}/deliveries?limit=3'\n"
            f"  curl {base}/health/ready"
        )
        if exported:
            _print_export_commands(exported, base, admin_key)
        if not serve:
            server.should_exit = True
            await serving
            return
        console.print("Serving until Ctrl-C.")
        await serving


def demo_sign_in_link(base: str, key: str) -> str:
    """The console's sign-in page with the key in the fragment: its script signs in."""
    return f"{base}/login#key={key}"


@dataclass(frozen=True)
class DemoExport:
    what: str
    path: str
    params: tuple[tuple[str, str], ...]


# The files an agency's officers are sent: the province-level worklist, one workbook per agency
# in a ZIP, and the province's summary workbook.
DEMO_EXPORTS: Final = (
    DemoExport(
        "unsynced procedures at tinh level, one workbook per agency",
        "/procedures/unsynced",
        (("format", "zip"), ("level", "tinh")),
    ),
    DemoExport(
        "summary workbook, per agency and level", "/agencies/summary", (("format", "xlsx"),)
    ),
)


async def _write_exports(
    http: httpx.AsyncClient, out: Path, scenario: str
) -> list[tuple[DemoExport, Downloaded]]:
    """Download the demo's files into ``out`` as ``recon export`` would; a refused one is said and
    skipped (the demo keeps serving)."""
    province = next(i.province_code for i in list_scenarios() if i.name == scenario)
    console.print(
        f"\n[bold]Exports[/bold] of scenario {escape(scenario)} (province {province}) "
        f"into {escape(str(out))}/"
    )
    written = []
    for export in DEMO_EXPORTS:
        fmt = dict(export.params)["format"]
        fallback = f"{export.path.rsplit('/', 1)[-1]}.{fmt}"
        try:
            saved = await download(
                http,
                export.path,
                export.params,
                Target(out),
                fallback_name=fallback,
                expect=fmt,
                console=console,
            )
        except DownloadError as exc:
            console.print(f"[red]{escape(export.what)} not written[/red]: {escape(exc.message)}")
            continue
        console.print(
            f"  {escape(str(saved.path))} ({saved.size:,} bytes): {escape(export.what)}",
            soft_wrap=True,
        )
        written.append((export, saved))
    return written


def _print_export_commands(
    exported: list[tuple[DemoExport, Downloaded]], base: str, key: str
) -> None:
    """The same files with curl and with ``recon export``. The key is the demo's throwaway one,
    already printed above; the commands read it from the environment."""
    console.print(
        "\n[bold]The same files again[/bold] (curl, or recon export with its progress bar):"
    )
    lines = [
        f"  export RECON_URL={shlex.quote(base)} RECON_API_KEY={shlex.quote(key)}",
    ]
    for export, saved in exported:
        url = f"$RECON_URL{export.path}?{urlencode(export.params)}"
        lines.append(
            f'  curl -fsS -H "Authorization: Bearer $RECON_API_KEY" '
            f'-o {shlex.quote(str(saved.path))} "{url}"'
        )
    for export, saved in exported:
        fmt = dict(export.params)["format"]
        options = " ".join(
            f"-p {shlex.quote(f'{k}={v}')}" for k, v in export.params if k != "format"
        )
        directory = shlex.quote(f"{saved.path.parent}/")
        lines.append(
            f"  uv run recon export {export.path.lstrip('/')} --format {fmt}"
            + (f" {options}" if options else "")
            + f" --out {directory}"
        )
    for line in lines:
        # Not wrapped, not marked up: a command that is copied must be the command.
        console.print(line, markup=False, highlight=False, soft_wrap=True)


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


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}%"


async def print_figures(http: httpx.AsyncClient, start: str, end: str) -> None:
    """The figures the province is judged by (semantics §4), worst unit first."""
    params = {"from": start, "to": end, "group": "parent"}
    body = (await http.get("/kpi/online-payment", params=params)).json()
    table = Table(
        title=f"Fee-bearing dossiers paid online, {start} to {end} "
        f"(target {body['target'] * 100:.0f}%, worst first)"
    )
    for column in ("unit", "fee-bearing", "portal-counted", "rate", "verified", "rate", "met"):
        table.add_column(column, justify="left" if column == "unit" else "right")
    for row in [*body["items"], body["province"]]:
        province = row["group"] == "province"
        table.add_row(
            f"[bold]{row['name']}[/bold]" if province else (row["name"] or row["group"]),
            f"{row['fee_bearing']:,}",
            f"{row['portal_counted']:,}",
            _percent(row["portal_rate"]),
            f"{row['verified_online']:,}",
            _percent(row["verified_rate"]),
            "[green]yes[/green]" if row["met"] else "[red]no[/red]",
            end_section=row is body["items"][-1],
        )
    console.print(table)

    mismatches = (await http.get("/dossiers/mismatches", params={"limit": 1})).json()
    reasons = Table(title="Dossiers that break the count, per reason (GET /dossiers/mismatches)")
    reasons.add_column("reason")
    reasons.add_column("dossiers", justify="right")
    for reason, count in sorted(mismatches["summary"].items(), key=lambda item: -item[1]):
        reasons.add_row(reason, f"{count:,}")
    console.print(reasons)


PATH = "/demo-subscriber"


async def _subscribe(http: httpx.AsyncClient, receiver: Receiver, url: str) -> dict[str, Any]:
    response = await http.post(
        "/webhooks/endpoints",
        json={"url": url, "description": "Demo subscriber (cổng một cửa)"},
    )
    if response.status_code != 201:
        raise SystemExit(f"could not register the webhook endpoint {url}: {response.text}")
    endpoint: dict[str, Any] = response.json()
    receiver.expect(PATH, endpoint["secret"])
    console.print(f"[bold]Webhook subscriber[/bold] {url} (endpoint {endpoint['id']})")
    return endpoint


async def _show_webhooks(
    http: httpx.AsyncClient,
    receiver: Receiver,
    endpoint: dict[str, Any],
    run: dict[str, Any],
    *,
    external: bool,
) -> None:
    counts = run["counts"]
    parts = [counts] if "findings" in counts else [counts[p] for p in ("procedures", "dossiers")]
    opened = sum(part["findings"]["opened"] for part in parts)
    expected = opened + 1  # and run.completed
    started = time.monotonic()
    with console.status("delivering webhooks…"):
        while time.monotonic() - started < max(60, expected / 100):
            delivered = await _delivered(http, endpoint["id"], expected)
            if delivered >= expected:
                break
            await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    if external:
        console.print(
            f"{delivered} of {expected} webhooks delivered to {endpoint['url']} in {elapsed:.1f} s"
            f"; verify them with the secret [green]{endpoint['secret']}[/green] (shown once)"
        )
        return
    received = receiver.accepted(PATH)
    events = [item.payload() for item in received]
    mismatches = [event for event in events if event["type"] == "mismatch.opened"]
    findings = {(e["data"]["subject"]["key"], e["data"]["reason"]) for e in mismatches}
    verified = all(item.verified for item in receiver.for_path(PATH))
    console.print(
        f"[bold]Webhooks:[/bold] {len(mismatches)} mismatch.opened events for {opened} new "
        f"findings ({len(findings)} distinct), plus "
        f"{sum(1 for e in events if e['type'] == 'run.completed')} run.completed, in "
        f"{elapsed:.1f} s; every signature "
        + ("[green]verified[/green]" if verified else "[red]NOT verified[/red]")
        + " with standardwebhooks.Webhook(secret).verify"
    )
    table = Table(title="First mismatch.opened events received")
    for column in ("webhook-id", "subject", "agency", "reason"):
        table.add_column(column)
    samples = [
        (item, event)
        for item, event in zip(received, events, strict=True)
        if event["type"] == "mismatch.opened"
    ]
    for item, event in samples[:5]:
        subject = event["data"]["subject"]
        table.add_row(
            "msg_…" + item.webhook_id[-12:],
            subject.get("dossier_code") or subject["procedure_code"],
            subject.get("agency_name") or subject["agency_code"],
            event["data"]["reason"],
        )
    console.print(table)


async def _delivered(http: httpx.AsyncClient, endpoint_id: str, expected: int) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"status": "delivered", "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = await http.get(f"/webhooks/endpoints/{endpoint_id}/deliveries", params=params)
        body = page.json()
        count += len(body["items"])
        cursor = body["next_cursor"]
        if not cursor or count >= expected:
            return count

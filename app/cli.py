"""The ``recon`` command: serve, worker, migrate, keys, simulate, demo."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from app.auth import Role, check_scope, create_key
from app.db import create_engine, create_session_factory
from app.logs import configure_logging
from app.migrate import upgrade
from app.settings import MissingUpstreamSettings, Settings, get_settings

cli = typer.Typer(no_args_is_help=True, help="Payment-sync reconciliation service.")
keys_cli = typer.Typer(no_args_is_help=True, help="Manage API keys.")
cli.add_typer(keys_cli, name="keys")
console = Console()
errors = Console(stderr=True)


def _startable_settings(*, needs_upstreams: bool = True) -> Settings:
    """The environment's settings, or exit 2 with a message saying what is wrong (no traceback):
    invalid values, or upstream addresses missing (without RECON_SIMULATOR)."""
    from pydantic import ValidationError

    try:
        settings = get_settings()
        if needs_upstreams:
            settings.require_upstreams()
    except ValidationError as exc:
        errors.print(f"[red]invalid configuration[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    except MissingUpstreamSettings as exc:
        errors.print(f"[red]cannot start[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@cli.command()
def serve(
    host: Annotated[str, typer.Option(envvar="RECON_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="RECON_PORT")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API (configured by environment variables only)."""
    _startable_settings()
    # log_config=None: uvicorn keeps its hands off logging; its loggers go through ours.
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


@cli.command()
def worker() -> None:
    """Deliver webhooks in this process (configured by environment variables only)."""
    from app.eventloop import run
    from app.worker import run_worker

    run(run_worker(_startable_settings(needs_upstreams=False)))


@cli.command()
def migrate() -> None:
    """Apply pending database migrations (DATABASE_URL)."""

    async def _run() -> None:
        engine = create_engine(get_settings().database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    console.print("[green]database is at the latest migration[/green]")


def _agency_option(raw: str | None) -> str | None:
    """``--agency`` validated as ``POST /keys`` validates ``agency`` (same type), normalized."""
    if raw is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    from app.validation import AgencyScope

    try:
        code: str = TypeAdapter(AgencyScope).validate_python(raw)
    except ValidationError:
        raise typer.BadParameter(
            f"{raw!r} is not a MaDonVi: ASCII letters, digits, '.', '_' and '-', "
            "at most 32 characters"
        ) from None
    return code


@keys_cli.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="reader, operator or admin")],
    name: Annotated[str, typer.Option(help="who or what uses the key")] = "cli",
    agency: Annotated[
        str | None,
        typer.Option(
            help="confine the key to this agency (MaDonVi) and the units below it; it need not "
            "exist yet; not with --role admin (default: the whole province)",
            callback=_agency_option,
        ),
    ] = None,
) -> None:
    """Create an API key; its clear text is printed once and never stored."""
    try:
        check_scope(role, agency)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--agency'") from None

    async def _run() -> str:
        engine = create_engine(get_settings().database_url)
        try:
            await upgrade(engine)
            async with create_session_factory(engine)() as session:
                _, clear = await create_key(session, name=name, role=role, agency_code=agency)
            return clear
        finally:
            await engine.dispose()

    clear = asyncio.run(_run())
    scope = f"agency {agency}" if agency else "the whole province"
    console.print(f"created {role} key '{name}' for {scope}:", highlight=False)
    typer.echo(clear)


@keys_cli.command("list")
def keys_list() -> None:
    """List API keys (prefixes only)."""
    from sqlmodel import col, select

    from app.models import ApiKey

    async def _run() -> list[ApiKey]:
        engine = create_engine(get_settings().database_url)
        try:
            async with create_session_factory(engine)() as session:
                return list((await session.exec(select(ApiKey).order_by(col(ApiKey.id)))).all())
        finally:
            await engine.dispose()

    keys = asyncio.run(_run())
    scopes = [key.agency_code or "(province)" for key in keys]
    table = Table("id", "name", "role")
    # Never cut short: a truncated MaDonVi would read as another agency.
    table.add_column("agency", no_wrap=True, min_width=max(map(len, scopes), default=6))
    for column in ("prefix", "created", "revoked"):
        table.add_column(column)
    for key, scope in zip(keys, scopes, strict=True):
        table.add_row(
            str(key.id),
            key.name,
            key.role,
            scope,
            key.prefix + "…",
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    console.print(table)


@cli.command()
def demo(
    scenario: Annotated[str, typer.Option(help="simulator scenario")] = "tay-ninh-2023",
    host: str = "127.0.0.1",
    port: int = 8000,
    sim_port: Annotated[int, typer.Option(help="port of the simulated upstreams (0: any)")] = 0,
    database: Annotated[Path, typer.Option(help="SQLite file, recreated")] = Path("recon-demo.db"),
    latency_ms: Annotated[int, typer.Option(help="simulated latency per page")] = 50,
    webhook_url: Annotated[
        str | None, typer.Option(help="send webhooks here instead of the built-in receiver")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="procedures, dossiers or all (default: the scenario's story)"),
    ] = None,
) -> None:
    """Start simulated upstreams, the service on SQLite and a webhook subscriber; reconcile."""
    from app.demo import fresh_database, run_demo

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_demo(
                scenario=scenario,
                host=host,
                port=port,
                sim_port=sim_port,
                database=fresh_database(database),
                latency_ms=latency_ms,
                webhook_url=webhook_url,
                scope=scope,
            )
        )


@cli.command()
def simulate(
    scenario: str = "tay-ninh-2023",
    host: str = "127.0.0.1",
    port: int = 8900,
    latency_ms: int = 0,
    rate_429: float = 0.0,
    rate_503: float = 0.0,
    scale: Annotated[float, typer.Option(help="multiplies the dossiers (3.05: ~1,000,000)")] = 1.0,
) -> None:
    """Run the simulated upstreams alone (P under /provincial, N under /national)."""
    from app.simulator.faults import Faults
    from app.simulator.server import run_simulator

    console.print(f"simulator ({scenario}) on http://{host}:{port}")
    faults = Faults(latency_ms=latency_ms, rate_429=rate_429, rate_503=rate_503)
    run_simulator(host, port, scenario, faults, scale=scale)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

"""The ``recon`` command: serve, worker, migrate, keys, simulate, demo, and the client commands
export and report (HTTP clients of a running service)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.auth import Role, check_scope, create_key
from app.db import create_engine, create_session_factory
from app.export_client import DEFAULT_URL
from app.logs import configure_logging
from app.migrate import upgrade
from app.settings import MissingUpstreamSettings, Settings, get_settings

cli = typer.Typer(no_args_is_help=True, help="Payment-sync reconciliation service.")
keys_cli = typer.Typer(no_args_is_help=True, help="Manage API keys.")
cli.add_typer(keys_cli, name="keys")
report_cli = typer.Typer(no_args_is_help=True, help="Reports of a running service.")
cli.add_typer(report_cli, name="report")
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


# The client commands talk to a running service over HTTP, as any other client would.
_T = TypeVar("_T")
UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="RECON_URL", help="the service's address", show_envvar=True),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="RECON_API_KEY",
        show_envvar=True,
        show_default=False,
        help="API key, sent as a Bearer token; never printed (prefer the environment variable: "
        "an option stays in the shell's history)",
    ),
]
# A string, not a Path: a Path drops the trailing '/' that says "a directory".
OutOption = Annotated[
    str,
    typer.Option(
        "--out",
        help="a directory (one that exists, or written with a trailing '/') for the file under "
        "the service's name, or the file's own name; an existing file is replaced",
    ),
]
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def _as_client(work: Callable[[], Coroutine[None, None, _T]]) -> _T:
    """Run a client command; a failed exchange is its message on stderr and exit code 1 (the
    service said no) or 2 (it could not be reached), never a traceback."""
    from app.export_client import DownloadError

    try:
        return asyncio.run(work())
    except DownloadError as exc:
        errors.print(f"[red]error[/red]: {escape(exc.message)}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        # The temporary file is already gone (download removes it on any interruption).
        errors.print("interrupted: nothing written", highlight=False)
        raise typer.Exit(130) from None


def _pairs(raw: list[str] | None) -> list[tuple[str, str]]:
    pairs = []
    for item in raw or []:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="'-p'")
        pairs.append((name, value))
    return pairs


@cli.command(
    help="Download a list or figure as a file from a running service, e.g. `recon export "
    "procedures/unsynced --format zip -p level=tinh --out exports/`.\n\n"
    "It is a client of the API with your key: an agency-scoped key gets exactly its own "
    "agencies' files (its agency and the units below it), as on every read.\n\n"
    "Exit code 1 when the service refuses (its problem's 'title: detail' is printed), 2 when "
    "it cannot be reached. The file is written under a temporary name and renamed once "
    "complete: never a half file."
)
def export(
    path: Annotated[
        str, typer.Argument(help="a list or figure endpoint: procedures/unsynced, kpi/overdue …")
    ],
    fmt: Annotated[
        Literal["xlsx", "csv", "zip"],
        typer.Option("--format", help="zip (one workbook per agency) on the lists only"),
    ] = "xlsx",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="a query parameter, key=value (repeatable)"),
    ] = None,
    lang: Annotated[
        Literal["vi", "en"] | None, typer.Option(help="the file's language (default: vi)")
    ] = None,
    out: OutOption = ".",
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
) -> None:
    from app.export_client import download, output_target, service_client, split_path

    try:
        route, query = split_path(path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'PATH'") from None
    params = [*query, *_pairs(param), ("format", fmt), *([("lang", lang)] if lang else [])]
    fallback = f"{route.rstrip('/').rsplit('/', 1)[-1] or 'export'}.{fmt}"

    async def _run() -> Path:
        async with service_client(url, key) as http:
            saved = await download(
                http,
                route,
                params,
                output_target(out),
                fallback_name=fallback,
                expect=fmt,
                console=errors,
            )
        return saved.path

    typer.echo(str(_as_client(_run)))


@report_cli.command(
    "monthly",
    help="Download a month's frozen report from a running service (GET /reports/monthly), "
    "after freezing it with --freeze (POST /reports/monthly, an operator key).\n\n"
    "Exit codes as `recon export`: 1 when the service refuses (the month is not over, its data "
    "is incomplete, the report is not frozen), 2 when it cannot be reached.",
)
def report_monthly(
    month: Annotated[str, typer.Option(help="the month reported, YYYY-MM")],
    fmt: Annotated[Literal["xlsx", "json"], typer.Option("--format")] = "xlsx",
    freeze: Annotated[
        bool,
        typer.Option(
            "--freeze",
            help="freeze the month's report first (an operator key; a report already frozen is "
            "left as it is)",
        ),
    ] = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="with --freeze: freeze even if the month's data is incomplete",
        ),
    ] = False,
    out: OutOption = ".",
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
) -> None:
    from app.export_client import (
        DownloadError,
        download,
        output_target,
        problem_message,
        reaching,
        service_client,
    )

    if not _MONTH.fullmatch(month):
        raise typer.BadParameter(f"{month!r} is not YYYY-MM", param_hint="'--month'")
    if allow_incomplete and not freeze:
        raise typer.BadParameter("only with --freeze", param_hint="'--allow-incomplete'")

    async def _run() -> Path:
        async with service_client(url, key) as http:
            if freeze:
                params = {
                    "month": month,
                    **({"allow_incomplete": "true"} if allow_incomplete else {}),
                }
                with reaching(url):
                    response = await http.post("/reports/monthly", params=params)
                if response.status_code not in (200, 201):
                    raise DownloadError(problem_message(response), 1, response.status_code)
                done = "frozen now" if response.status_code == 201 else "already frozen"
                errors.print(f"report of {month}: {done}", highlight=False)
            try:
                saved = await download(
                    http,
                    "/reports/monthly",
                    [("month", month), ("format", fmt)],
                    output_target(out),
                    fallback_name=f"monthly-report-{month}.{fmt}",
                    expect=fmt,
                    console=errors,
                )
            except DownloadError as exc:
                if exc.status == 404 and not freeze:
                    exc.message += " (not frozen yet? --freeze freezes it, with an operator key)"
                raise
        return saved.path

    typer.echo(str(_as_client(_run)))


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
    out: Annotated[
        Path, typer.Option(help="directory the demo writes its ZIP and workbook into")
    ] = Path("demo-exports"),
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
                out=out,
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

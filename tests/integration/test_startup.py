"""Starting the service: `recon serve` logs JSON lines on stderr, and refuses to start without
its upstream settings unless RECON_SIMULATOR supplies the simulator's."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import SIMULATOR_DEFAULTS, MissingUpstreamSettings, ProvinceSettings, Settings
from app.simulator.server import SimulatorServer
from tests.conftest import ADMIN_KEY

UPSTREAM_VARIABLES = [
    "PROVINCIAL_BASE_URL",
    "PROVINCIAL_TOKEN_URL",
    "NATIONAL_BASE_URL",
    "NATIONAL_TOKEN_URL",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without any of the service's settings, plus ``values``."""
    prefixes = ("PROVINCIAL_", "NATIONAL_", "PROVINCES", "RECON_", "LOG_", "DATABASE_URL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    return env | values


def poll(check: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def json_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(errors="replace")
    # The last line may be half-written; only complete lines count.
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def test_recon_serve_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    stderr = tmp_path / "stderr.log"
    with SimulatorServer("small") as sim:
        secret = sim.environment()["PROVINCIAL_CLIENT_SECRET"]
        env = clean_environment(
            **sim.environment(),
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}",
            RECON_ADMIN_KEY=ADMIN_KEY,
            LOG_FORMAT="json",
            SCHEDULER_ENABLED="false",
        )
        with stderr.open("wb") as err, (tmp_path / "stdout.log").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=err,
            )
        try:

            def up() -> bool:
                assert process.poll() is None, stderr.read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health/live").status_code == 200
                except httpx.HTTPError:
                    return False

            poll(up, timeout_s=60, what="recon serve to answer")
            answered = httpx.get(
                f"http://127.0.0.1:{port}/runs", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )

            def started_and_accessed() -> list[dict[str, Any]] | None:
                lines = json_lines(stderr)
                started = any(line["event"] == "service started" for line in lines)
                accessed = any(
                    line["logger"] == "uvicorn.access" and "GET /runs" in line["event"]
                    for line in lines
                )
                return lines if started and accessed else None

            lines = poll(started_and_accessed, timeout_s=30, what="the startup and access lines")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    started = next(line for line in lines if line["event"] == "service started")
    assert (started["level"], started["logger"]) == ("info", "app.main")
    assert started["timestamp"].endswith("Z")
    assert started["provinces"] == ["H53"]
    assert started["database_backend"] == "sqlite"
    assert started["replica"].endswith(f":{process.pid}")
    access = next(line for line in lines if "GET /runs" in line["event"])
    assert (access["level"], access["logger"]) == ("info", "uvicorn.access")
    assert access["event"].endswith(" 200")
    # The access line carries the request's id, the one the response told the caller.
    assert access["request_id"] == answered.headers["x-request-id"]
    # uvicorn's own lines go through the same handler (no plain "INFO:" lines), and the whole of
    # stderr — shutdown included — is one JSON object per line.
    everything = json_lines(stderr)
    assert any(line["logger"] == "uvicorn.error" for line in everything)
    assert stderr.read_text().count("\n") == len(everything)
    assert secret not in stderr.read_text()
    assert ADMIN_KEY not in stderr.read_text()


def test_recon_serve_without_upstream_settings_exits_2_naming_them(tmp_path: Path) -> None:
    env = clean_environment(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}",
        NATIONAL_BASE_URL="https://dvcqg.example/gw",
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    for name in ("PROVINCIAL_BASE_URL", "PROVINCIAL_TOKEN_URL", "NATIONAL_TOKEN_URL"):
        assert name in message
    assert "NATIONAL_BASE_URL" not in message  # it was given
    assert "RECON_SIMULATOR" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "recon.db").exists()  # refused before touching anything


def test_missing_upstream_settings_are_named() -> None:
    settings = Settings(_env_file=None, provincial_base_url="https://p.example")  # type: ignore[call-arg]
    assert settings.missing_upstream_settings() == UPSTREAM_VARIABLES[1:]
    with pytest.raises(MissingUpstreamSettings, match="PROVINCIAL_TOKEN_URL, NATIONAL_BASE_URL"):
        settings.require_upstreams()
    with pytest.raises(MissingUpstreamSettings, match="NATIONAL_BASE_URL"):
        settings.national()


def test_with_provinces_n_addresses_are_needed_for_each_province() -> None:
    provinces = [
        ProvinceSettings(
            code="H53",
            provincial_base_url="https://p.tayninh",
            provincial_token_url="https://p.tayninh/token",
            national_base_url="https://n/gw",
            national_token_url="https://n/token",
        ),
        ProvinceSettings(
            code="H29",
            provincial_base_url="https://p.dongthap",
            provincial_token_url="https://p.dongthap/token",
            national_base_url="https://n/gw",
        ),
    ]
    settings = Settings(_env_file=None, provinces=provinces)  # type: ignore[call-arg]
    assert settings.missing_upstream_settings() == [
        "NATIONAL_TOKEN_URL (or national_token_url of province H29)"
    ]
    given = settings.model_copy(update={"national_token_url": "https://n/token"})
    assert given.missing_upstream_settings() == []
    assert given.for_province("H29").national().token_url == "https://n/token"


async def test_create_app_refuses_to_start_without_upstreams(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}"
    )
    with pytest.raises(MissingUpstreamSettings) as refused:
        async with LifespanManager(create_app(settings)):
            pass
    assert refused.value.missing == UPSTREAM_VARIABLES


async def test_recon_simulator_supplies_the_simulator_addresses(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'recon.db'}",
        recon_simulator=True,
        national_base_url="http://127.0.0.1:9999/national",  # a given value wins
        scheduler_enabled=False,
        webhook_dispatcher_enabled=False,
    )
    assert settings.missing_upstream_settings() == []
    assert settings.provincial().base_url == SIMULATOR_DEFAULTS["provincial_base_url"]
    assert settings.provincial().token_url == SIMULATOR_DEFAULTS["provincial_token_url"]
    assert settings.national().base_url == "http://127.0.0.1:9999/national"
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recon.test") as http:
            assert (await http.get("/health/live")).status_code == 200


def test_recon_simulator_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in UPSTREAM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECON_SIMULATOR", "true")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.national().token_url == SIMULATOR_DEFAULTS["national_token_url"]

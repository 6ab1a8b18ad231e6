"""The simulator as a real HTTP server, and the service configured against it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.settings import Settings
from app.simulator.server import SimulatorServer
from tests.conftest import make_settings


def settings_for(sim: SimulatorServer, database_url: str, **overrides: Any) -> Settings:
    env = {key.lower(): value for key, value in sim.environment().items()}
    return make_settings(database_url, **{**env, **overrides})


def set_faults(sim: SimulatorServer, **faults: Any) -> None:
    response = httpx.put(f"{sim.base_url}/_sim/faults", json=faults, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def tay_ninh() -> Iterator[SimulatorServer]:
    with SimulatorServer("tay-ninh-2023") as sim:
        yield sim


@pytest.fixture
def tay_ninh_clean(tay_ninh: SimulatorServer) -> Iterator[SimulatorServer]:
    set_faults(tay_ninh)
    yield tay_ninh
    set_faults(tay_ninh)

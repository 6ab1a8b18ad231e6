"""Run the simulator as a real HTTP server: blocking (demo, ``python -m``) or in a thread (tests).

python -m app.simulator.server --port 8900 --scenario tay-ninh-2023 --latency-ms 100
python -m app.simulator.server --scenario dong-thap-2023 --scale 3.1   # ~1,000,000 dossiers
"""

from __future__ import annotations

import argparse
import dataclasses

import uvicorn

from app.background_server import BackgroundServer
from app.simulator.faults import Credentials, Faults
from app.simulator.scenarios.plan import Scenario
from app.simulator.scenarios.registry import get_scenario, list_scenarios
from app.simulator.upstreams import SimulatorState, create_simulator_app


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 8900,
    scenario_name: str = "tay-ninh-2023",
    faults: Faults | None = None,
    *,
    seed: int | None = None,
    credentials: Credentials | None = None,
    scale: float = 1.0,
    province_code: str | None = None,
) -> None:
    """Serve until interrupted; ``scale`` multiplies the scenario's dossiers (planned up front);
    ``province_code`` makes N answer for another MaTinh (many provinces, one scenario's data)."""
    scenario = get_scenario(scenario_name, seed, dossier_scale=scale)
    if province_code:
        scenario = dataclasses.replace(scenario, province_code=province_code.upper())
    app = create_simulator_app(
        scenario,
        faults,
        credentials=credentials,
        prebuild_dossiers=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")


class SimulatorServer(BackgroundServer):
    """Uvicorn on a free port in a background thread, for as long as the ``with`` block lasts.

    ``base_url`` is ``http://127.0.0.1:<port>``; P lives at ``provincial_base_url`` and N at
    ``national_base_url``. ``state`` is the live simulator state (read it; change faults over
    HTTP with ``PUT /_sim/faults`` so the change happens on the server's own event loop).

    ``scale`` multiplies the dossiers of a scenario given by name (``get_scenario``'s
    ``dossier_scale``); ``prebuild_dossiers`` plans them before the server starts.
    """

    def __init__(
        self,
        scenario: Scenario | str = "small",
        faults: Faults | None = None,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        credentials: Credentials | None = None,
        startup_timeout_s: float = 10.0,
        scale: float = 1.0,
        prebuild_dossiers: bool = False,
    ) -> None:
        app = create_simulator_app(
            scenario,
            faults,
            credentials=credentials,
            dossier_scale=scale,
            prebuild_dossiers=prebuild_dossiers,
        )
        super().__init__(
            app, host=host, port=port, name="simulator", startup_timeout_s=startup_timeout_s
        )
        self.state: SimulatorState = app.state.simulator
        self.credentials = self.state.credentials

    @property
    def provincial_base_url(self) -> str:
        return f"{self.base_url}/provincial"

    @property
    def national_base_url(self) -> str:
        return f"{self.base_url}/national"

    @property
    def provincial_token_url(self) -> str:
        return f"{self.provincial_base_url}/oauth/token"

    @property
    def national_token_url(self) -> str:
        return f"{self.national_base_url}/oauth/token"

    def environment(self) -> dict[str, str]:
        """The service's upstream settings (README "Configuration names") for this simulator."""
        return simulator_environment(
            self.base_url, self.state.scenario.province_code, self.credentials
        )


def simulator_environment(
    base_url: str, province_code: str, credentials: Credentials | None = None
) -> dict[str, str]:
    """The service's upstream settings for a simulator serving at ``base_url``."""
    creds = credentials or Credentials()
    return {
        "PROVINCIAL_BASE_URL": f"{base_url}/provincial",
        "PROVINCIAL_TOKEN_URL": f"{base_url}/provincial/oauth/token",
        "PROVINCIAL_CLIENT_ID": creds.provincial_client_id,
        "PROVINCIAL_CLIENT_SECRET": creds.provincial_client_secret,
        "NATIONAL_BASE_URL": f"{base_url}/national",
        "NATIONAL_TOKEN_URL": f"{base_url}/national/oauth/token",
        "NATIONAL_CLIENT_ID": creds.national_client_id,
        "NATIONAL_CLIENT_SECRET": creds.national_client_secret,
        "NATIONAL_PROVINCE_CODE": province_code,
    }


def main(argv: list[str] | None = None) -> None:
    names = [info.name for info in list_scenarios()]
    parser = argparse.ArgumentParser(description="Simulated P and N upstreams.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--scenario", default="tay-ninh-2023", choices=names)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the dossiers (3.1: ~1,000,000)"
    )
    parser.add_argument(
        "--province-code", default=None, help="N answers for this MaTinh instead of the scenario's"
    )
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-503", type=float, default=0.0)
    parser.add_argument("--rate-n-busy", type=float, default=0.0)
    parser.add_argument("--shift-passes", type=int, default=0)
    args = parser.parse_args(argv)
    faults = Faults(
        latency_ms=args.latency_ms,
        rate_429=args.rate_429,
        rate_503=args.rate_503,
        rate_n_busy=args.rate_n_busy,
        shift_passes=args.shift_passes,
    )
    run_simulator(
        args.host,
        args.port,
        args.scenario,
        faults,
        seed=args.seed,
        scale=args.scale,
        province_code=args.province_code,
    )


if __name__ == "__main__":
    main()

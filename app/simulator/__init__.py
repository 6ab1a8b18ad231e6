"""Simulated upstreams (P and N) with seeded scenarios and ground truth, for tests and demos.

The HTTP server helpers live in ``app.simulator.server``; ``python -m app.simulator`` runs it.
"""

from app.simulator.dossiers.render import DossierSet
from app.simulator.dossiers.truth import DossierTruth
from app.simulator.faults import Credentials, Faults
from app.simulator.scenarios.plan import Scenario, ScenarioInfo
from app.simulator.scenarios.registry import get_scenario, list_scenarios
from app.simulator.truth import ScenarioTruth
from app.simulator.upstreams import create_simulator_app

__all__ = [
    "Credentials",
    "DossierSet",
    "DossierTruth",
    "Faults",
    "Scenario",
    "ScenarioInfo",
    "ScenarioTruth",
    "create_simulator_app",
    "get_scenario",
    "list_scenarios",
]

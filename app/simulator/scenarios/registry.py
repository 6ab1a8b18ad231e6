"""The scenario registry: ``list_scenarios`` and ``get_scenario`` (by name, seed and scales)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Final

from app.simulator.dossiers.provinces import tay_ninh_dossiers
from app.simulator.dossiers.render import DossierSet, DossierSource
from app.simulator.scenarios.dong_thap import attach_dossiers, build_dong_thap
from app.simulator.scenarios.plan import (
    Scenario,
    ScenarioInfo,
)
from app.simulator.scenarios.small import build_small
from app.simulator.scenarios.tay_ninh import build_tay_ninh


def _tay_ninh_dossiers(scenario: Scenario, dossier_scale: float) -> DossierSet:
    return tay_ninh_dossiers(
        scenario.name, scenario.seed, dossier_scale, scenario.agencies, scenario.procedures
    )


def _dong_thap_small_dossiers(scenario: Scenario, dossier_scale: float) -> DossierSet:
    return attach_dossiers(scenario, DONG_THAP_SMALL_SCALE * dossier_scale)


DONG_THAP_SMALL_SCALE: Final = 0.02

_Builder = Callable[[str, int, int], Scenario]
_DossierBuilder = Callable[[Scenario, float], "DossierSet"]
_REGISTRY: Final[dict[str, tuple[ScenarioInfo, _Builder]]] = {
    "tay-ninh-2023": (
        ScenarioInfo(
            name="tay-ninh-2023",
            description=(
                "Tây Ninh (H53), Jan–Nov 2023: ~1,900 configurations; at tinh level 543 "
                "fee-bearing procedures, 195 synced, 348 not (0.3591), every reason code. "
                "Dossiers: overdue 20.74% (Sep), 19.96% (Oct), 17.8% (Nov)."
            ),
            province_code="H53",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 11, 30),
            default_seed=20231130,
        ),
        build_tay_ninh,
    ),
    "small": (
        ScenarioInfo(
            name="small",
            description="~20 configurations, every reason at least once: for fast tests.",
            province_code="H53",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 11, 30),
            default_seed=7,
        ),
        build_small,
    ),
    "dong-thap-2023": (
        ScenarioInfo(
            name="dong-thap-2023",
            description=(
                "Đồng Tháp (H29), 1 Jan–23 Oct 2023: 256,939 fee-bearing dossiers, 43,109 "
                "portal-counted online (16.78%); 3 of 12 districts meet 30%; every dossier reason."
            ),
            province_code="H29",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 10, 23),
            default_seed=20231023,
            demo_scope="all",
        ),
        build_dong_thap,
    ),
    "dong-thap-2023-small": (
        ScenarioInfo(
            name="dong-thap-2023-small",
            description="dong-thap-2023 at 2% of its dossiers, exact truth of its own: fast tests.",
            province_code="H29",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 10, 23),
            default_seed=20231023,
            demo_scope="all",
        ),
        build_dong_thap,
    ),
}
_DOSSIERS: Final[dict[str, _DossierBuilder]] = {
    "tay-ninh-2023": _tay_ninh_dossiers,
    "dong-thap-2023": attach_dossiers,
    "dong-thap-2023-small": _dong_thap_small_dossiers,
}
_CACHE: dict[tuple[str, int, int, float], Scenario] = {}


def list_scenarios() -> list[ScenarioInfo]:
    return [info for info, _ in _REGISTRY.values()]


def get_scenario(
    name: str,
    seed: int | None = None,
    *,
    scale: int = 1,
    dossier_scale: float = 1.0,
    cached: bool = True,
) -> Scenario:
    """Build (or reuse) a scenario; the same name, seed and scales always give the same data.

    ``scale`` multiplies the commune-level procedures (load tests); the tinh-level figures of
    ``tay-ninh-2023`` do not change with it. ``dossier_scale`` multiplies the dossiers (a
    benchmark asks ``dong-thap-2023`` for about 1,000,000 with ``dossier_scale=3.1``); the
    promised rates are kept at every scale, the exact counts of the letters at 1.
    ``dong-thap-2023-small`` is ``dong-thap-2023`` at ``dossier_scale`` × 0.02. Dossiers are
    planned on first use of ``Scenario.dossiers``.
    """
    if name not in _REGISTRY:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(_REGISTRY)}")
    if scale < 1:
        raise ValueError("scale must be >= 1")
    if not dossier_scale > 0:
        raise ValueError("dossier_scale must be > 0")
    info, build = _REGISTRY[name]
    effective_seed = info.default_seed if seed is None else seed
    cache_key = (name, effective_seed, scale, float(dossier_scale))
    if not cached:
        return _with_dossiers(name, build(name, effective_seed, scale), dossier_scale)
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _with_dossiers(name, build(name, effective_seed, scale), dossier_scale)
    return _CACHE[cache_key]


def _with_dossiers(name: str, scenario: Scenario, dossier_scale: float) -> Scenario:
    attach = _DOSSIERS.get(name)
    if attach is None:
        return scenario
    return replace(scenario, dossier_source=DossierSource(lambda: attach(scenario, dossier_scale)))

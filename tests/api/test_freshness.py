"""Freshness: the metrics of the latest complete run per scope, and /health/ready "degraded"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from app.models import Run
from app.models.types import utcnow
from tests.conftest import ServiceClient, make_settings

TIMESTAMP = "recon_last_complete_run_timestamp_seconds"
AGE = "recon_data_age_seconds"


async def add_run(
    service: ServiceClient,
    scope: str,
    status: str,
    *,
    ago: timedelta,
    counts: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> Run:
    finished = utcnow() - ago
    run = Run(
        province_code="H53",
        scope=scope,
        status=status,
        period_from=date(2023, 1, 1),
        period_to=date(2023, 11, 30),
        request_key=f"{scope}-{status}-{ago}",
        dry_run=dry_run,
        created_at=finished - timedelta(seconds=30),
        started_at=finished - timedelta(seconds=30),
        finished_at=finished,
        counts=counts or {},
    )
    async with service.app.state.session_factory() as session:
        session.add(run)
        await session.commit()
        await session.refresh(run)
    return run


async def freshness_samples(service: ServiceClient) -> dict[tuple[str, str, str], float]:
    response = await service.http.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in (TIMESTAMP, AGE):
                key = (sample.name, sample.labels["province"], sample.labels["scope"])
                samples[key] = sample.value
    return samples


async def ready(service: ServiceClient) -> dict[str, Any]:
    response = await service.http.get("/health/ready")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_freshness_metrics_follow_the_latest_complete_part(
    database_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(database_url))
    assert await freshness_samples(service) == {}  # no complete run: no sample

    # An "all" run, partial overall, whose procedures part succeeded: counts for procedures only.
    both = await add_run(
        service,
        "all",
        "partial",
        ago=timedelta(minutes=10),
        counts={"procedures": {"status": "succeeded"}, "dossiers": {"status": "partial"}},
    )
    # Neither a failed run nor a dry run is complete.
    await add_run(service, "dossiers", "failed", ago=timedelta(minutes=1))
    await add_run(service, "procedures", "succeeded", ago=timedelta(minutes=1), dry_run=True)
    samples = await freshness_samples(service)
    assert both.finished_at is not None
    assert samples.keys() == {(TIMESTAMP, "H53", "procedures"), (AGE, "H53", "procedures")}
    assert samples[TIMESTAMP, "H53", "procedures"] == both.finished_at.timestamp()
    assert 595 <= samples[AGE, "H53", "procedures"] <= 660

    # A succeeded "all" run counts for both scopes; a later dossiers run for dossiers.
    await add_run(
        service,
        "all",
        "succeeded",
        ago=timedelta(hours=3),
        counts={"procedures": {"status": "succeeded"}, "dossiers": {"status": "succeeded"}},
    )
    dossiers = await add_run(service, "dossiers", "succeeded", ago=timedelta(minutes=5))
    samples = await freshness_samples(service)
    assert dossiers.finished_at is not None
    assert samples[TIMESTAMP, "H53", "dossiers"] == dossiers.finished_at.timestamp()
    assert 295 <= samples[AGE, "H53", "dossiers"] <= 360
    assert samples[TIMESTAMP, "H53", "procedures"] == both.finished_at.timestamp()


async def test_ready_is_degraded_when_data_is_old_or_never_complete(
    sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(
        make_settings(
            sqlite_url,
            schedule_procedures_every="15m",
            schedule_dossiers_every="off",
            health_max_data_age_procedures="2h",
            health_max_data_age_dossiers="6h",
        )
    )
    # Procedures are scheduled and have never run; dossiers are neither scheduled nor run.
    body = await ready(service)
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "migrations": "ok"}
    assert [(d["province"], d["scope"], d["reason"]) for d in body["degraded"]] == [
        ("H53", "procedures", "no_complete_run")
    ]
    assert body["degraded"][0]["age_seconds"] is None

    old = await add_run(service, "procedures", "succeeded", ago=timedelta(hours=3))
    await add_run(service, "dossiers", "failed", ago=timedelta(minutes=1))
    body = await ready(service)
    assert body["status"] == "degraded"
    by_scope = {d["scope"]: d for d in body["degraded"]}
    assert by_scope.keys() == {"procedures", "dossiers"}
    assert by_scope["procedures"]["reason"] == "too_old"
    assert old.id in by_scope["procedures"]["detail"]
    assert 3 * 3600 - 5 <= by_scope["procedures"]["age_seconds"] <= 3 * 3600 + 60
    assert by_scope["procedures"]["max_age_seconds"] == 7200
    # Dossiers have been run, never completely.
    assert by_scope["dossiers"]["reason"] == "no_complete_run"

    await add_run(service, "procedures", "succeeded", ago=timedelta(minutes=1))
    await add_run(
        service,
        "all",
        "partial",
        ago=timedelta(minutes=1),
        counts={"procedures": {"status": "partial"}, "dossiers": {"status": "succeeded"}},
    )
    body = await ready(service)
    assert (body["status"], body["degraded"]) == ("ok", [])


async def test_ready_checks_nothing_for_scopes_turned_off(
    sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(
        make_settings(
            sqlite_url,
            health_max_data_age_procedures="off",
            health_max_data_age_dossiers="1h",
        )
    )
    await add_run(service, "procedures", "succeeded", ago=timedelta(days=3))
    await add_run(service, "dossiers", "succeeded", ago=timedelta(minutes=59))
    body = await ready(service)
    assert (body["status"], body["degraded"]) == ("ok", [])
    await add_run(service, "dossiers", "failed", ago=timedelta(minutes=1))
    assert (await ready(service))["status"] == "ok"  # the complete one still counts

"""Against the simulator over real HTTP: the unsynced list equals the scenario's ground truth,
transient faults change nothing, and a page that never loads leaves every finding untouched."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from app.models import Finding, OutboxEvent
from app.simulator.server import SimulatorServer
from tests.integration.conftest import set_faults, settings_for

PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


def truth_unsynced(sim: SimulatorServer) -> dict[tuple[str, str], list[str]]:
    return {
        c.key: sorted(c.reasons) for c in sim.state.scenario.truth.configurations if not c.synced
    }


def listed_unsynced(items: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    return {(i["procedure_code"], i["agency_code"]): sorted(i["reasons"]) for i in items}


def truth_summary(sim: SimulatorServer) -> dict[str, Any]:
    return {level: s.model_dump() for level, s in sim.state.scenario.truth.summary.items()}


async def test_unsynced_list_and_summary_equal_the_ground_truth(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    service = await service_factory(settings_for(sim, database_url))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]

    summary, items = await service.all_unsynced()
    assert summary == truth_summary(sim)
    assert summary["tinh"] == {"fee_bearing": 543, "synced": 195, "not_synced": 348, "rate": 0.3591}
    assert listed_unsynced(items) == truth_unsynced(sim)

    truth = sim.state.scenario.truth
    assert run["counts"]["fee_bearing_configurations"] == len(truth.configurations)
    assert run["counts"]["orphans"] == len(truth.orphans_on_national)
    warned = {w["key"] for w in run["warnings"]}
    assert {f"{a}|{b}" for a, b in truth.data_quality_keys()} <= warned

    orphans = (await service.get("/procedures/orphans", params={"limit": 1000})).json()["items"]
    assert {(o["procedure_code"], o["agency_code"]) for o in orphans} == {
        tuple(k) for k in truth.orphans_on_national
    }

    # Filters narrow the items but never the province-wide summary.
    summary_tinh, tinh_items = await service.all_unsynced(level="tinh", reason="bank_mismatch")
    assert summary_tinh == summary
    assert tinh_items
    assert all(i["level"] == "tinh" and "bank_mismatch" in i["reasons"] for i in tinh_items)
    assert len(tinh_items) == truth.reason_counts["tinh"]["bank_mismatch"]

    # Each reason comes with its evidence: both sides' raw and normalized values.
    for item in items:
        assert sorted(item["evidence"]) == sorted(item["reasons"])
        assert item["first_seen_at"] is not None
    mismatch = next(i for i in items if "account_mismatch" in i["reasons"])
    evidence = mismatch["evidence"]["account_mismatch"]
    assert evidence["provincial"]["normalized"] != evidence["national"]["normalized"]

    # Vietnamese text reaches users intact and agency names are joined in.
    assert any(i["agency_name"] and "Tây Ninh" in i["agency_name"] for i in items)


async def test_transient_faults_give_exactly_the_same_result(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    set_faults(
        sim,
        rate_429=0.1,
        rate_503=0.1,
        rate_n_busy=0.1,
        token_max_uses=3,
        shift_passes=1,
        seed=7,
    )
    service = await service_factory(settings_for(sim, sqlite_url, upstream_max_attempts=8))
    run = await service.reconcile(**PERIOD)
    assert run["status"] == "succeeded", run["errors"]
    stats = run["upstream_stats"]
    assert stats["provincial"]["retries"] + stats["national"]["retries"] > 0
    assert stats["provincial"]["token_refreshes"] + stats["national"]["token_refreshes"] > 0
    assert max(listing["passes"] for listing in run["listings"].values()) == 2

    summary, items = await service.all_unsynced()
    assert summary == truth_summary(sim)
    assert listed_unsynced(items) == truth_unsynced(sim)


async def test_a_page_failing_for_good_ends_partial_and_changes_no_finding(
    tay_ninh_clean: SimulatorServer, database_url: str, service_factory: Any
) -> None:
    sim = tay_ninh_clean
    service = await service_factory(settings_for(sim, database_url, upstream_max_attempts=2))
    first = await service.reconcile(**PERIOD)
    assert first["status"] == "succeeded"

    factory = service.app.state.session_factory

    async def snapshot() -> tuple[list[tuple[Any, ...]], int]:
        async with factory() as session:
            rows = (await session.exec(select(Finding).order_by(col(Finding.id)))).all()
            events = (await session.exec(select(OutboxEvent))).all()
        return [(f.id, f.status, f.evidence_hash, f.seen_count, f.last_run_id) for f in rows], len(
            events
        )

    findings_before, events_before = await snapshot()
    set_faults(sim, fail_pages=["national.thong-tin-thu-huong:2"])
    second = await service.reconcile(**PERIOD)
    assert second["status"] == "partial"
    assert any("payment_info" in error for error in second["errors"])
    assert second["listings"]["national.payment_info"]["complete"] is False

    findings_after, events_after = await snapshot()
    assert findings_after == findings_before
    assert events_after == events_before + 1  # run.failed only

    summary, items = await service.all_unsynced()
    assert summary == truth_summary(sim)  # still the last complete run's answer
    assert listed_unsynced(items) == truth_unsynced(sim)


async def test_a_rerun_with_the_same_data_opens_and_resolves_nothing(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(tay_ninh_clean, sqlite_url))
    first = await service.reconcile(**PERIOD)
    second = await service.reconcile(**PERIOD)
    assert first["counts"]["findings"]["opened"] > 348
    assert second["counts"]["findings"] == {
        "opened": 0,
        "updated": 0,
        "resolved": 0,
        "unchanged": first["counts"]["findings"]["opened"],
    }
    async with service.app.state.session_factory() as session:
        types = [e.event_type for e in (await session.exec(select(OutboxEvent))).all()]
    # Events exactly when state changes: one per opened finding, one per run, nothing for the
    # re-run's unchanged findings.
    assert types.count("mismatch.opened") == first["counts"]["findings"]["opened"]
    assert types.count("run.completed") == 2
    assert len(types) == first["counts"]["findings"]["opened"] + 2


async def test_dry_run_reports_changes_and_stores_nothing(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(tay_ninh_clean, sqlite_url))
    run = await service.reconcile(dry_run=True, **PERIOD)
    assert run["status"] == "succeeded"
    assert run["counts"]["findings"]["opened"] > 0
    assert run["dry_run_sample"]["opened"]
    summary, items = await service.all_unsynced()
    assert (summary, items) == ({}, [])

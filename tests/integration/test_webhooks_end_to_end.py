"""A real run against the simulator, the in-process dispatcher and a verifying receiver."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from app.simulator.server import SimulatorServer
from tests.conftest import ReceiverServer
from tests.integration.conftest import settings_for


async def wait_until(condition: Any, within_s: float = 30) -> None:
    async with asyncio.timeout(within_s):
        # The receiver runs on its own thread; polling it is simpler than bridging an Event.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_run_sends_one_verified_opened_event_per_finding_and_a_rerun_sends_none(
    tay_ninh_clean: SimulatorServer,
    database_url: str,
    service_factory: Any,
    receiver: ReceiverServer,
) -> None:
    settings = settings_for(
        tay_ninh_clean,
        database_url,
        webhook_dispatcher_enabled=True,
        webhook_allowed_networks="127.0.0.0/8",
        webhook_allow_http=True,
    )
    service = await service_factory(settings)
    created = await service.post(
        "/webhooks/endpoints",
        json={"url": f"{receiver.base_url}/hooks", "description": "Trung tâm giám sát"},
    )
    assert created.status_code == 201, created.text
    receiver.app.expect("/hooks", created.json()["secret"])
    scenario = tay_ninh_clean.state.scenario
    period = {
        "period_from": scenario.period_start.isoformat(),
        "period_to": scenario.period_end.isoformat(),
    }

    run = await service.reconcile(**period)
    assert run["status"] == "succeeded"
    opened = run["counts"]["findings"]["opened"]
    assert opened > 300
    await wait_until(lambda: len(receiver.app.accepted("/hooks")) == opened + 1)

    received = receiver.app.for_path("/hooks")
    assert all(item.verified for item in received)
    types = Counter(item.payload()["type"] for item in received)
    assert types == {"mismatch.opened": opened, "run.completed": 1}
    subjects = {
        (item.payload()["data"]["subject"]["key"], item.payload()["data"]["reason"])
        for item in received
        if item.payload()["type"] == "mismatch.opened"
    }
    assert len(subjects) == opened  # one per finding
    unsynced_total = sum(figure["not_synced"] for figure in run["counts"]["summary"].values())
    assert len({key for key, _ in subjects}) >= unsynced_total
    sample = next(item.payload() for item in received if item.payload()["type"] != "run.completed")
    assert sample["data"]["run_id"] == run["run_id"]
    assert sample["data"]["link"].startswith("/procedures/")
    assert sample["data"]["subject"]["agency_name"]

    rerun = await service.reconcile(**period)
    assert rerun["status"] == "succeeded"
    await wait_until(lambda: len(receiver.app.accepted("/hooks")) == opened + 2)
    await asyncio.sleep(0.3)  # anything else would have arrived by now
    latest = receiver.app.for_path("/hooks")[opened + 1 :]
    assert [item.payload()["type"] for item in latest] == ["run.completed"]

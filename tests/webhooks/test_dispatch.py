"""The dispatcher over real HTTP, on SQLite and PostgreSQL: delivery, retries, disabling, order."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.events import MAX_PAYLOAD_BYTES, encode_payload, fit_payload
from app.models.types import utcnow
from app.reconcile.findings import ObservedFinding, apply_findings
from app.webhooks.examples import example_data
from tests.webhooks.conftest import AGENCY, Hooks


async def test_every_delivery_verifies_and_carries_the_outbox_payload(hooks: Hooks) -> None:
    everything = await hooks.register("/all")
    ids = await hooks.emit(count=3, data={"agency_name": "Sở Xây dựng"})
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/all")) == 3)

    received = hooks.receiver.app.for_path("/all")
    assert [item.webhook_id for item in received] == ids  # in creation order
    for item in received:
        assert item.verified is True
        payload = Webhook(everything["secret"]).verify(item.body, item.headers)
        assert payload["type"] == "mismatch.opened"
        assert payload["data"]["agency_name"] == "Sở Xây dựng"  # UTF-8, not escaped away
        assert "Sở Xây dựng".encode() in item.body
        assert item.headers["content-type"] == "application/json"
    # A wrong secret or a tampered body would not verify.
    first = received[0]
    wrong = Webhook("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    with pytest.raises(WebhookVerificationError):
        wrong.verify(first.body, first.headers)
    tampered = first.body.replace(b'"n":0', b'"n":9')
    assert tampered != first.body
    with pytest.raises(WebhookVerificationError):
        Webhook(everything["secret"]).verify(tampered, first.headers)

    deliveries = await hooks.deliveries(everything["id"])
    assert [d.status for d in deliveries] == ["delivered"] * 3
    assert all(d.attempt_count == 1 and d.lease_owner is None for d in deliveries)


async def test_filters_choose_event_types_and_agencies(hooks: Hooks) -> None:
    opened_only = await hooks.register("/opened", event_types=["mismatch.opened"])
    other_agency = await hooks.register("/other", agency_codes=["000.00.99.H53"])
    mine = await hooks.register("/mine", agency_codes=[AGENCY.lower()])
    await hooks.emit("mismatch.opened")
    await hooks.emit("mismatch.resolved")
    await hooks.emit("run.completed", agency_code=None)
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted()) == 5)

    def types(path: str) -> list[str]:
        return [item.payload()["type"] for item in hooks.receiver.app.for_path(path)]

    assert types("/opened") == ["mismatch.opened"]
    # An agency filter keeps that agency's mismatches and every event without an agency.
    assert types("/other") == ["run.completed"]
    assert types("/mine") == ["mismatch.opened", "mismatch.resolved", "run.completed"]
    assert len(await hooks.deliveries(opened_only["id"])) == 1
    assert len(await hooks.deliveries(other_agency["id"])) == 1
    assert len(await hooks.deliveries(mine["id"])) == 3


async def test_503_twice_then_200_delivers_with_one_webhook_id(hooks: Hooks) -> None:
    endpoint = await hooks.register("/flaky")
    hooks.receiver.app.script("/flaky", [503, 503])
    [message_id] = await hooks.emit()
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/flaky")) == 1)

    received = hooks.receiver.app.for_path("/flaky")
    assert [item.status for item in received] == [503, 503, 200]
    assert {item.webhook_id for item in received} == {message_id}
    assert all(item.verified for item in received)
    # Each attempt is signed afresh (its own timestamp) over the same body.
    assert len({item.body for item in received}) == 1
    [delivery] = await hooks.deliveries(endpoint["id"])
    assert (delivery.status, delivery.attempt_count) == ("delivered", 3)
    assert (await hooks.endpoint(endpoint["id"])).failing_since is None

    log = await hooks.service.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries/{message_id}")
    assert log.status_code == 200, log.text
    attempts = log.json()["attempt_log"]
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [
        ("retry", 503),
        ("retry", 503),
        ("delivered", 200),
    ]
    assert attempts[0]["error"] == "HTTP 503"
    assert attempts[2]["response"] == '{"received":true}'
    assert all(a["duration_ms"] > 0 for a in attempts)


async def test_a_410_disables_the_endpoint_and_tells_other_subscribers(hooks: Hooks) -> None:
    gone = await hooks.register("/gone")
    watcher = await hooks.register("/watch", event_types=["endpoint.disabled"])
    hooks.receiver.app.script("/gone", [410])
    await hooks.emit(count=3)
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/watch")) == 1)

    endpoint = await hooks.endpoint(gone["id"])
    assert endpoint.enabled is False
    assert endpoint.disabled_reason is not None
    assert "410" in endpoint.disabled_reason
    # One attempt, then the rest of its queue is parked as failed, not sent.
    assert len(hooks.receiver.app.for_path("/gone")) == 1
    deliveries = await hooks.deliveries(gone["id"])
    assert [d.status for d in deliveries] == ["failed"] * 3
    assert all("endpoint disabled" in (d.last_error or "") for d in deliveries[1:])
    [notice] = hooks.receiver.app.accepted("/watch")
    data = notice.payload()["data"]
    assert notice.payload()["type"] == "endpoint.disabled"
    assert data["endpoint_id"] == gone["id"]
    assert data["link"] == f"/webhooks/endpoints/{gone['id']}"
    assert set(data) == set(example_data("endpoint.disabled"))  # as documented
    assert len(await hooks.deliveries(watcher["id"])) == 1

    # More events do not go to a disabled endpoint.
    await hooks.emit()
    await hooks.deliver_until(lambda: True)
    await hooks.dispatcher.drain()
    assert len(hooks.receiver.app.for_path("/gone")) == 1


async def test_failing_past_the_window_disables_once(hooks: Hooks) -> None:
    failing = await hooks.register("/down")
    watcher = await hooks.register("/watch", event_types=["endpoint.disabled"])
    hooks.receiver.app.script("/down", [500] * 50)
    await hooks.emit()
    await hooks.deliver_until(lambda: len(hooks.receiver.app.for_path("/down")) >= 1)
    endpoint = await hooks.endpoint(failing["id"])
    assert endpoint.enabled
    assert endpoint.failing_since is not None

    # Five days pass with no success (the window's default).
    await hooks.backdate_failing_since(failing["id"], timedelta(hours=121))
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/watch")) == 1)
    endpoint = await hooks.endpoint(failing["id"])
    assert endpoint.enabled is False
    assert "no successful delivery for 120 h" in (endpoint.disabled_reason or "")
    assert "HTTP 500" in (endpoint.disabled_reason or "")
    await hooks.dispatcher.drain()
    assert len(hooks.receiver.app.accepted("/watch")) == 1
    assert len(await hooks.deliveries(watcher["id"])) == 1


async def test_a_success_ends_the_failure_window(hooks: Hooks) -> None:
    flaky = await hooks.register("/flaky")
    hooks.receiver.app.script("/flaky", [500])
    await hooks.emit()
    await hooks.deliver_until(lambda: len(hooks.receiver.app.for_path("/flaky")) >= 1)
    assert (await hooks.endpoint(flaky["id"])).failing_since is not None
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/flaky")) == 1)
    assert (await hooks.endpoint(flaky["id"])).failing_since is None


async def test_exhausted_schedule_fails_then_recovery_and_redelivery_send_it_again(
    hooks: Hooks,
) -> None:
    endpoint = await hooks.register("/down")
    hooks.receiver.app.script("/down", [500, 500, 500, 500])  # 1 try + 3 retries
    [message_id] = await hooks.emit()
    await hooks.deliver_until(lambda: len(hooks.receiver.app.for_path("/down")) == 4)
    await hooks.dispatcher.drain()
    [delivery] = await hooks.deliveries(endpoint["id"])
    assert (delivery.status, delivery.attempt_count) == ("failed", 4)

    path = f"/webhooks/endpoints/{endpoint['id']}"
    failed = await hooks.service.get(f"{path}/deliveries", params={"status": "failed"})
    assert [d["message_id"] for d in failed.json()["items"]] == [message_id]
    recovered = await hooks.service.post(
        f"{path}/recover", json={"since": (delivery.created_at - timedelta(minutes=1)).isoformat()}
    )
    assert recovered.status_code == 202, recovered.text
    assert recovered.json()["requeued"] == 1
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/down")) == 1)

    again = await hooks.service.post(f"{path}/deliveries/{message_id}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted("/down")) == 2)
    assert {item.webhook_id for item in hooks.receiver.app.for_path("/down")} == {message_id}
    [delivery] = await hooks.deliveries(endpoint["id"])
    assert (delivery.status, delivery.attempt_count) == ("delivered", 6)


async def test_resolved_then_reopened_mismatch_is_opened_resolved_opened(hooks: Hooks) -> None:
    await hooks.register("/mismatches", event_types=["mismatch.opened", "mismatch.resolved"])
    key = f"1.004227|{AGENCY}"
    observed = ObservedFinding(
        subject_kind="procedure_configuration",
        subject_key=key,
        reason="account_mismatch",
        evidence={"provincial": {"raw": "1"}, "national": {"raw": "2"}},
        agency_code=AGENCY,
        subject={"kind": "procedure_configuration", "key": key},
    )
    for n, seen in enumerate([[observed], [observed], [], [observed]]):
        async with hooks.factory() as session:
            await apply_findings(
                session,
                province_code="H53",
                subject_kind="procedure_configuration",
                observed=seen,
                run_id=f"run-{n}",
                now=utcnow(),
            )
            await session.commit()
        await hooks.dispatcher.drain()
    types = [item.payload()["type"] for item in hooks.receiver.app.accepted("/mismatches")]
    assert types == ["mismatch.opened", "mismatch.resolved", "mismatch.opened"]
    ids = [item.webhook_id for item in hooks.receiver.app.accepted("/mismatches")]
    assert len(set(ids)) == 3


async def test_a_burst_keeps_creation_order_per_endpoint(hooks: Hooks) -> None:
    await hooks.register("/a")
    await hooks.register("/b")
    first = await hooks.emit(count=40)
    second = await hooks.emit("mismatch.updated", count=40)
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted()) == 160)
    for path in ("/a", "/b"):
        assert [item.webhook_id for item in hooks.receiver.app.for_path(path)] == first + second


def test_oversized_evidence_is_replaced_by_a_pointer() -> None:
    big = {"field": "fees", "provincial": {"raw": "x" * 30_000}, "national": None}
    payload = {"type": "mismatch.opened", "timestamp": "t", "data": {"evidence": big, "link": "/p"}}
    fitted = fit_payload(payload)
    assert len(encode_payload(fitted)) < MAX_PAYLOAD_BYTES
    assert fitted["data"]["evidence"]["omitted"] is True
    assert fitted["data"]["link"] == "/p"
    small = {"type": "mismatch.opened", "timestamp": "t", "data": {"evidence": {"a": 1}}}
    assert fit_payload(small) == small
    # Vietnamese is counted in UTF-8 bytes, as it is sent.
    assert json.loads(encode_payload({"x": "Sở"})) == {"x": "Sở"}
    assert len(encode_payload({"x": "Sở"})) == len('{"x":"Sở"}'.encode())


async def test_retry_after_stretches_the_wait_and_the_backlog_is_measured(hooks: Hooks) -> None:
    endpoint = await hooks.register("/busy")
    hooks.receiver.app.script("/busy", [(429, {"retry-after": "120"})])
    await hooks.emit()
    await hooks.deliver_until(lambda: len(hooks.receiver.app.for_path("/busy")) == 1)
    [delivery] = await hooks.deliveries(endpoint["id"])
    assert delivery.status == "pending"
    assert delivery.last_status_code == 429
    wait = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
    assert 119 <= wait <= 121  # not the 20 ms schedule
    await hooks.dispatcher.drain()
    assert len(hooks.receiver.app.for_path("/busy")) == 1  # nothing sent before it is due

    metrics = (await hooks.service.http.get("/metrics")).text
    assert 'recon_webhook_deliveries{status="pending"} 1.0' in metrics
    oldest = next(
        line for line in metrics.splitlines() if line.startswith("recon_webhook_oldest_pending")
    )
    assert float(oldest.split()[-1]) > 0

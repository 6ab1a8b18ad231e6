"""Deliveries over the API: logs, pages, test events, redelivery and recovery, and their errors."""

from __future__ import annotations

from typing import Any

from standardwebhooks import Webhook

from app.webhooks.examples import example_data
from app.webhooks.fan_out import fan_out
from tests.api.test_api import assert_problem, key_for
from tests.webhooks.conftest import ENDPOINTS, Hooks


async def test_send_a_test_event_to_one_endpoint(hooks: Hooks) -> None:
    target = await hooks.register("/target")
    await hooks.register("/bystander")
    sent = await hooks.service.post(
        f"{ENDPOINTS}/{target['id']}/test", json={"event_type": "run.failed"}
    )
    assert sent.status_code == 202, sent.text
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted()) == 1)
    await hooks.dispatcher.drain()
    [item] = hooks.receiver.app.accepted()
    assert item.path == "/target"
    payload = Webhook(target["secret"]).verify(item.body, item.headers)
    assert payload["type"] == "run.failed"
    assert payload["data"] == {**example_data("run.failed"), "test": True}
    assert item.webhook_id == sent.json()["message_id"]
    # Without a body it sends a mismatch.opened example.
    default = await hooks.service.post(f"{ENDPOINTS}/{target['id']}/test")
    assert default.json()["event_type"] == "mismatch.opened"
    unknown = await hooks.service.post(
        f"{ENDPOINTS}/{target['id']}/test", json={"event_type": "mismatch.exploded"}
    )
    assert_problem(unknown, 422)


async def test_deliveries_and_attempts_page_newest_first(hooks: Hooks) -> None:
    endpoint = await hooks.register("/paged")
    ids = await hooks.emit(count=5)
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted()) == 5)
    path = f"{ENDPOINTS}/{endpoint['id']}"

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await hooks.service.get(f"{path}/deliveries", params=params)
        assert page.status_code == 200, page.text
        seen += [item["message_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    attempts = (await hooks.service.get(f"{path}/attempts", params={"limit": 10})).json()
    assert [a["message_id"] for a in attempts["items"]] == list(reversed(ids))
    assert all(a["status_code"] == 200 for a in attempts["items"])
    only = await hooks.service.get(f"{path}/deliveries", params={"status": "delivered"})
    assert len(only.json()["items"]) == 5
    assert (await hooks.service.get(f"{path}/deliveries", params={"status": "failed"})).json()[
        "items"
    ] == []


async def test_errors_are_problems(hooks: Hooks) -> None:
    endpoint = await hooks.register("/e")
    path = f"{ENDPOINTS}/{endpoint['id']}"
    assert_problem(await hooks.service.get(f"{ENDPOINTS}/ep_missing/deliveries"), 404)
    assert_problem(await hooks.service.get(f"{path}/deliveries/msg_missing"), 404)
    assert_problem(await hooks.service.post(f"{path}/deliveries/msg_missing/redeliver"), 404)
    assert_problem(await hooks.service.get(f"{path}/deliveries", params={"cursor": "!!"}), 400)
    assert_problem(await hooks.service.get(f"{path}/deliveries", params={"status": "odd"}), 422)
    assert_problem(await hooks.service.get(f"{path}/attempts", params={"limit": 0}), 422)
    naive = await hooks.service.post(f"{path}/recover", json={"since": "2026-11-20T00:00:00"})
    assert_problem(naive, 422)
    assert_problem(await hooks.service.post(f"{path}/recover", json={}), 422)

    reader = {"Authorization": f"Bearer {await key_for(hooks.service, 'reader')}"}
    operator = {"Authorization": f"Bearer {await key_for(hooks.service, 'operator')}"}
    for headers in (reader, operator):
        assert_problem(await hooks.service.get(f"{path}/deliveries", headers=headers), 403)
        assert_problem(await hooks.service.post(f"{path}/test", headers=headers), 403)
    assert_problem(await hooks.service.http.post(f"{path}/test"), 401)

    disabled = await hooks.service.http.patch(
        path, json={"enabled": False}, headers=hooks.service.auth
    )
    assert disabled.status_code == 200, disabled.text
    assert_problem(await hooks.service.post(f"{path}/test"), 409)
    recover = await hooks.service.post(f"{path}/recover", json={"since": "2026-11-20T00:00Z"})
    assert_problem(recover, 409)


async def test_disabling_by_hand_parks_the_queue_and_reenabling_recovers_it(hooks: Hooks) -> None:
    endpoint = await hooks.register("/parked")
    path = f"{ENDPOINTS}/{endpoint['id']}"
    await hooks.emit(count=3)
    assert await fan_out(hooks.factory) == 3  # queued, not sent yet
    await hooks.service.http.patch(path, json={"enabled": False}, headers=hooks.service.auth)
    await hooks.dispatcher.drain()
    assert hooks.receiver.app.received == []
    parked = await hooks.deliveries(endpoint["id"])
    assert [d.status for d in parked] == ["failed"] * 3
    assert all(d.last_error == "endpoint disabled: disabled by an operator" for d in parked)

    enabled = await hooks.service.http.patch(
        path, json={"enabled": True}, headers=hooks.service.auth
    )
    assert enabled.json()["disabled_reason"] is None
    since = parked[0].created_at.isoformat()
    recovered = await hooks.service.post(f"{path}/recover", json={"since": since})
    assert recovered.json()["requeued"] == 3
    await hooks.deliver_until(lambda: len(hooks.receiver.app.accepted()) == 3)

"""The runs and webhooks pages over real HTTP: who may see them, that they show what the API
answers, starting a run from the form, its live progress fragment, redeliver and recover."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html import unescape
from typing import Any

import httpx
import pytest

from tests.console.conftest import Province, csrf_of

SignedIn = Callable[[str], httpx.Client]


def _wait_until_ended(province: Province, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        run: dict[str, Any] = province.get(f"/runs/{run_id}")
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.3)


def _runs_shown(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([^"]+)"', html)


# --- runs ---------------------------------------------------------------------------------


def test_the_runs_list_shows_the_api_runs_and_only_operators_get_the_start_form(
    province: Province, signed_in: SignedIn
) -> None:
    api_runs = province.get("/runs", limit=25)["items"]
    reader = signed_in("reader").get("/console/runs")
    assert reader.status_code == 200, reader.text
    assert _runs_shown(reader.text) == [run["run_id"] for run in api_runs]
    assert 'data-testid="start-run"' not in reader.text
    assert "Các lần chạy đối soát" in reader.text
    operator = signed_in("operator").get("/console/runs")
    assert operator.status_code == 200
    assert 'data-testid="start-run"' in operator.text
    assert 'name="csrf_token"' in operator.text


def test_the_status_filter_matches_the_api(province: Province, signed_in: SignedIn) -> None:
    client = signed_in("reader")
    for status in ("succeeded", "failed"):
        page = client.get("/console/runs", params={"status": status})
        assert page.status_code == 200
        expected = province.get("/runs", status=status, limit=25)["items"]
        assert _runs_shown(page.text) == [run["run_id"] for run in expected]
    assert client.get("/console/runs", params={"status": "bogus"}).status_code == 400


def test_an_agency_key_may_not_see_runs(province: Province, signed_in: SignedIn) -> None:
    run_id = province.get("/runs")["items"][0]["run_id"]
    client = signed_in("agency")
    for path in ("/console/runs", f"/console/runs/{run_id}", f"/console/runs/{run_id}/progress"):
        assert client.get(path).status_code == 403, path


def test_the_run_page_shows_its_listings_and_errors_as_the_api_does(
    province: Province, signed_in: SignedIn
) -> None:
    run_id = province.get("/runs", status="succeeded")["items"][-1]["run_id"]
    detail = province.get(f"/runs/{run_id}")
    page = signed_in("reader").get(f"/console/runs/{run_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'data-figure="scope" data-value="{detail["scope"]}"' in html
    assert detail["listings"], detail
    for name, listing in detail["listings"].items():
        row = re.search(rf'<tr data-listing="{re.escape(name)}">(.*?)</tr>', html, flags=re.DOTALL)
        assert row, name
        distinct = re.search(r'data-figure="distinct">([^<]*)<', row.group(1))
        assert distinct
        assert distinct.group(1).replace(".", "") == str(listing["distinct"])
    assert f'data-figure="warnings">{len(detail["warnings"])}<' in html
    # An ended run's progress part does not poll.
    assert 'data-active="false"' in html
    assert "hx-trigger" not in html
    assert signed_in("reader").get("/console/runs/no-such-run").status_code == 404


def test_the_progress_fragment_of_an_ended_run_answers_without_polling(
    province: Province, signed_in: SignedIn
) -> None:
    run_id = province.get("/runs")["items"][0]["run_id"]
    fragment = signed_in("reader").get(
        f"/console/runs/{run_id}/progress", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert 'id="run-progress"' in fragment.text
    assert "<html" not in fragment.text
    assert "hx-trigger" not in fragment.text


def test_starting_a_run_needs_the_csrf_token_and_the_operator_role(
    province: Province, signed_in: SignedIn
) -> None:
    operator = signed_in("operator")
    operator.get("/console/runs")
    refused = operator.post("/console/runs", data={"scope": "procedures"})
    assert refused.status_code == 403
    reader = signed_in("reader")
    token = csrf_of(reader.get("/console/runs").text)
    as_reader = reader.post("/console/runs", data={"scope": "procedures", "csrf_token": token})
    assert as_reader.status_code == 403
    assert province.get("/runs", status="queued")["items"] == []


def test_a_bad_period_is_shown_on_the_page(province: Province, signed_in: SignedIn) -> None:
    operator = signed_in("operator")
    token = csrf_of(operator.get("/console/runs").text)
    answer = operator.post(
        "/console/runs",
        data={
            "scope": "dossiers",
            "period_from": "2023-10-31",
            "period_to": "2023-10-01",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 422
    assert "period_from must not be after period_to" in unescape(answer.text)
    assert 'value="2023-10-31"' in answer.text


def test_a_run_started_from_the_form_is_followed_live_until_it_ends(
    province: Province, signed_in: SignedIn
) -> None:
    operator = signed_in("operator")
    token = csrf_of(operator.get("/console/runs").text)
    started = operator.post(
        "/console/runs", data={"scope": "procedures", "csrf_token": token}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    run_id = location.rsplit("/", 1)[1]
    run = province.get(f"/runs/{run_id}")
    assert (run["scope"], run["trigger"]) == ("procedures", "api")
    page = operator.get(location)
    assert page.status_code == 200
    if 'data-active="true"' in page.text:
        # Still active: the fragment polls itself every 2 s.
        assert f'hx-get="/console/runs/{run_id}/progress"' in page.text
        assert 'hx-trigger="every 2s"' in page.text
    fragment = operator.get(f"/console/runs/{run_id}/progress")
    assert fragment.status_code == 200
    ended = _wait_until_ended(province, run_id)
    final = operator.get(f"/console/runs/{run_id}/progress")
    assert final.status_code == 200
    assert 'data-active="false"' in final.text
    assert "hx-trigger" not in final.text
    assert f'data-status="{ended["status"]}"' in final.text


def test_a_different_run_while_one_is_active_is_a_message_not_a_crash(
    province: Province, signed_in: SignedIn
) -> None:
    operator = signed_in("operator")
    token = csrf_of(operator.get("/console/runs").text)
    active = province.api.post("/reconcile", json={"scope": "all"})
    assert active.status_code == 202, active.text
    active_id = active.json()["run_id"]
    try:
        answer = operator.post(
            "/console/runs",
            data={"scope": "procedures", "csrf_token": token},
            follow_redirects=False,
        )
        if province.get(f"/runs/{active_id}")["status"] in ("queued", "running"):
            assert answer.status_code == 409, answer.text
            assert 'data-testid="run-problem"' in answer.text
            assert f'href="/console/runs/{active_id}"' in answer.text
        # A run this replica executes shows the pages it has read per listing, live, until
        # it ends; then the fragment answers its record without polling.
        seen_live = False
        while province.get(f"/runs/{active_id}")["status"] in ("queued", "running"):
            live = operator.get(f"/console/runs/{active_id}/progress")
            assert live.status_code == 200
            if 'data-testid="live-pages"' in live.text and "<tr data-listing=" in live.text:
                assert 'hx-trigger="every 2s"' in live.text
                seen_live = True
            time.sleep(0.2)
        assert seen_live
        final = operator.get(f"/console/runs/{active_id}/progress")
        assert "hx-trigger" not in final.text
        assert 'data-testid="listings"' in final.text
    finally:
        _wait_until_ended(province, active_id)


# --- webhooks -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(province: Province) -> dict[str, Any]:
    """An endpoint on a loopback port nothing answers (no dispatcher runs here anyway), with
    one test message queued for it."""
    created = province.api.post(
        "/webhooks/endpoints",
        json={
            "url": "http://127.0.0.1:9/hooks/recon",
            "event_types": ["run.completed", "mismatch.opened"],
            "description": "Bàn giao sở TT&TT",
        },
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    sent = province.api.post(f"/webhooks/endpoints/{body['id']}/test", json={})
    assert sent.status_code == 202, sent.text
    body["message_id"] = sent.json()["message_id"]
    return body


def test_webhooks_are_for_admins_only(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    paths = (
        "/console/webhooks",
        f"/console/webhooks/{endpoint['id']}",
        f"/console/webhooks/{endpoint['id']}/deliveries/{endpoint['message_id']}",
    )
    for role in ("reader", "operator", "agency"):
        client = signed_in(role)
        for path in paths:
            assert client.get(path).status_code == 403, (role, path)
        assert 'href="/console/webhooks"' not in client.get("/").text


def test_the_endpoint_list_shows_the_api_endpoints_and_no_secret(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    page = signed_in("admin").get("/console/webhooks")
    assert page.status_code == 200, page.text
    html = page.text
    for item in province.get("/webhooks/endpoints")["items"]:
        assert f'<tr data-endpoint="{item["id"]}">' in html
    assert "http://127.0.0.1:9/hooks/recon" in html
    assert "Bàn giao sở TT&amp;TT" in html
    assert endpoint["secret"] not in html
    assert "whsec_" not in html
    row = re.search(rf'<tr data-endpoint="{endpoint["id"]}">(.*?)</tr>', html, re.DOTALL)
    assert row
    assert 'data-figure="pending">1<' in row.group(1)


def test_the_endpoint_page_lists_its_deliveries_as_the_api_does(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    client = signed_in("admin")
    page = client.get(f"/console/webhooks/{endpoint['id']}")
    assert page.status_code == 200, page.text
    api = province.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries")["items"]
    assert re.findall(r'<tr data-message="([^"]+)"', page.text) == [d["message_id"] for d in api]
    assert endpoint["secret"] not in page.text
    failed = client.get(f"/console/webhooks/{endpoint['id']}", params={"status": "failed"})
    assert failed.status_code == 200
    assert 'data-message="' not in failed.text
    assert client.get("/console/webhooks/no-such-endpoint").status_code == 404
    delivery = client.get(f"/console/webhooks/{endpoint['id']}/deliveries/{endpoint['message_id']}")
    assert delivery.status_code == 200
    assert 'data-testid="attempts"' in delivery.text
    assert 'data-status="pending"' in delivery.text


def test_redeliver_needs_csrf_and_does_what_the_api_does(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    client = signed_in("admin")
    path = f"/console/webhooks/{endpoint['id']}/deliveries/{endpoint['message_id']}"
    token = csrf_of(client.get(path).text)
    assert client.post(f"{path}/redeliver").status_code == 403
    done = client.post(f"{path}/redeliver", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{path}?redelivered=1"
    after = province.get(
        f"/webhooks/endpoints/{endpoint['id']}/deliveries/{endpoint['message_id']}"
    )
    assert after["status"] == "pending"
    assert 'data-testid="notice"' in client.get(done.headers["location"]).text


def test_recover_needs_csrf_and_does_what_the_api_does(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    client = signed_in("admin")
    path = f"/console/webhooks/{endpoint['id']}"
    token = csrf_of(client.get(path).text)
    assert client.post(f"{path}/recover", data={"since": "2020-01-01T00:00"}).status_code == 403
    done = client.post(
        f"{path}/recover",
        data={"since": "2020-01-01T00:00", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    api = province.api.post(
        f"/webhooks/endpoints/{endpoint['id']}/recover", json={"since": "2020-01-01T00:00:00+07:00"}
    )
    assert api.status_code == 202
    assert done.headers["location"] == f"{path}?requeued={api.json()['requeued']}"
    bad = client.post(f"{path}/recover", data={"since": "yesterday", "csrf_token": token})
    assert bad.status_code == 422
    assert 'data-testid="problem"' in bad.text


def test_the_pages_speak_english_on_request(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    client = signed_in("admin")
    token = csrf_of(client.get("/console/runs").text)
    switched = client.post(
        "/console/language",
        data={"csrf_token": token, "next": "/console/runs", "lang": "en"},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    runs = client.get("/console/runs")
    assert "Reconciliation runs" in runs.text
    assert "Start a run" in runs.text
    hooks = client.get(f"/console/webhooks/{endpoint['id']}")
    assert "Send failed messages again" in hooks.text
    delivery = client.get(f"/console/webhooks/{endpoint['id']}/deliveries/{endpoint['message_id']}")
    assert "Send this message again" in delivery.text
    assert "Sở Xây dựng" in delivery.text  # the payload keeps its Vietnamese as written


def test_a_disabled_endpoint_refuses_on_the_page(
    province: Province, signed_in: SignedIn, endpoint: dict[str, Any]
) -> None:
    client = signed_in("admin")
    disabled = province.api.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    try:
        path = f"/console/webhooks/{endpoint['id']}/deliveries/{endpoint['message_id']}"
        token = csrf_of(client.get(path).text)
        refused = client.post(f"{path}/redeliver", data={"csrf_token": token})
        assert refused.status_code == 409
        assert "is disabled" in refused.text
        recover = client.post(
            f"/console/webhooks/{endpoint['id']}/recover",
            data={"since": "2020-01-01T00:00", "csrf_token": token},
        )
        assert recover.status_code == 409
        assert 'data-testid="problem"' in recover.text
    finally:
        province.api.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"enabled": True})

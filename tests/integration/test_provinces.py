"""A national deployment: two provinces, each with its own upstreams (two simulators), served by
one service. Runs, findings, figures and webhooks stay per province; ``province=`` says which."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from app.settings import ProvinceSettings, Settings
from app.simulator.server import SimulatorServer
from tests.conftest import ReceiverServer, ServiceClient, make_settings
from tests.integration.test_dossiers_against_simulator import DONG_THAP, truth_of


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[SimulatorServer, SimulatorServer]]:
    with (
        SimulatorServer("tay-ninh-2023") as tay_ninh,
        SimulatorServer("dong-thap-2023-small", prebuild_dossiers=True) as dong_thap,
    ):
        yield tay_ninh, dong_thap


def province_of(sim: SimulatorServer, name: str) -> ProvinceSettings:
    env = sim.environment()
    return ProvinceSettings(
        code=env["NATIONAL_PROVINCE_CODE"],
        name=name,
        provincial_base_url=env["PROVINCIAL_BASE_URL"],
        provincial_token_url=env["PROVINCIAL_TOKEN_URL"],
        provincial_client_id=env["PROVINCIAL_CLIENT_ID"],
        provincial_client_secret=env["PROVINCIAL_CLIENT_SECRET"],  # type: ignore[arg-type]
        national_base_url=env["NATIONAL_BASE_URL"],
        national_token_url=env["NATIONAL_TOKEN_URL"],
        national_client_id=env["NATIONAL_CLIENT_ID"],
        national_client_secret=env["NATIONAL_CLIENT_SECRET"],  # type: ignore[arg-type]
    )


async def wait_for(service: ServiceClient, run_id: str) -> dict[str, Any]:
    await service.app.state.executor.wait(run_id)
    run: dict[str, Any] = (await service.get(f"/runs/{run_id}")).json()
    return run


async def test_two_provinces_in_one_deployment(
    simulators: tuple[SimulatorServer, SimulatorServer],
    database_url: str,
    service_factory: Any,
    receiver: ReceiverServer,
) -> None:
    tay_ninh, dong_thap = simulators
    settings = make_settings(
        database_url,
        provinces=[province_of(tay_ninh, "Tây Ninh"), province_of(dong_thap, "Đồng Tháp")],
        webhook_allowed_networks="127.0.0.0/8",
        webhook_allow_http=True,
    )
    assert settings.province_codes() == ["H53", "H29"]
    service = await service_factory(settings)

    created = await service.post(
        "/webhooks/endpoints",
        params={"province": "H53"},
        json={"url": f"{receiver.base_url}/tay-ninh", "description": "Sở TT&TT Tây Ninh"},
    )
    assert created.status_code == 201, created.text
    receiver.app.expect("/tay-ninh", created.json()["secret"])

    # One run per province at a time: the two provinces run at once.
    scenario = tay_ninh.state.scenario
    tn_period = {
        "period_from": scenario.period_start.isoformat(),
        "period_to": scenario.period_end.isoformat(),
    }
    accepted = await asyncio.gather(
        service.post("/reconcile", params={"province": "h53"}, json=tn_period),
        service.post("/reconcile", params={"province": "H29"}, json=DONG_THAP),
    )
    assert [a.status_code for a in accepted] == [202, 202], [a.text for a in accepted]
    tn_run, dt_run = [await wait_for(service, a.json()["run_id"]) for a in accepted]
    assert (tn_run["status"], tn_run["scope"]) == ("succeeded", "procedures")
    assert (dt_run["status"], dt_run["scope"]) == ("succeeded", "dossiers")

    runs = (await service.get("/runs", params={"province": "H29"})).json()["items"]
    assert [r["run_id"] for r in runs] == [dt_run["run_id"]]

    unsynced = await service.get("/procedures/unsynced", params={"province": "H53"})
    assert unsynced.status_code == 200, unsynced.text
    assert unsynced.json()["items"]
    elsewhere = await service.get("/procedures/unsynced", params={"province": "H29"})
    assert elsewhere.json()["items"] == []

    truth = truth_of(dong_thap)
    figures = await service.get(
        "/kpi/online-payment",
        params={"province": "H29", "from": "2023-01-01", "to": "2023-10-23", "group": "parent"},
    )
    assert figures.status_code == 200, figures.text
    total = figures.json()["province"]
    assert (total["fee_bearing"], total["portal_counted"]) == (
        truth.province.fee_bearing,
        truth.province.portal_counted,
    )

    # Without province= the deployment cannot guess; a province it does not serve is not found.
    for params, status in [({}, 400), ({"province": "H01"}, 404)]:
        response = await service.get("/procedures/unsynced", params=params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["provinces"] == ["H53", "H29"]

    # Webhooks are per province: Tây Ninh's subscriber hears Tây Ninh's events only.
    while await service.app.state.dispatcher.run_once():
        pass
    heard = receiver.app.accepted("/tay-ninh")
    assert heard
    assert {
        r.payload()["data"].get("run_id") for r in heard if r.payload()["type"] == "run.completed"
    } == {tn_run["run_id"]}
    listed = await service.get("/webhooks/endpoints", params={"province": "H29"})
    assert listed.json()["items"] == []


def test_provinces_come_from_one_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PROVINCES",
        '[{"code": "h53", "name": "Tây Ninh", "provincial_base_url": "https://p.tayninh.gov.vn",'
        ' "provincial_token_url": "https://p.tayninh.gov.vn/token",'
        ' "national_client_id": "tayninh"},'
        ' {"code": "H29", "provincial_base_url": "https://p.dongthap.gov.vn",'
        ' "provincial_token_url": "https://p.dongthap.gov.vn/token"}]',
    )
    settings = Settings(_env_file=None, national_base_url="https://dvcqg.gov.vn/gw")  # type: ignore[call-arg]
    assert settings.province_codes() == ["H53", "H29"]
    tay_ninh = settings.for_province("H53")
    assert tay_ninh.national_province_code == "H53"
    assert tay_ninh.provincial_base_url == "https://p.tayninh.gov.vn"
    assert tay_ninh.national_client_id == "tayninh"
    assert tay_ninh.national_base_url == "https://dvcqg.gov.vn/gw"  # one national portal
    assert settings.for_province("H29").national_client_id == "recon"
    with pytest.raises(KeyError):
        settings.for_province("H01")


def test_a_province_listed_twice_is_refused() -> None:
    twice = [
        {"code": code, "provincial_base_url": "https://p", "provincial_token_url": "https://t"}
        for code in ("H53", "h53")
    ]
    with pytest.raises(ValidationError, match="listed twice"):
        Settings(_env_file=None, provinces=twice)  # type: ignore[call-arg]


def test_a_single_province_needs_no_configuration() -> None:
    settings = Settings(_env_file=None, national_province_code="H29")  # type: ignore[call-arg]
    assert settings.province_codes() == ["H29"]
    assert settings.for_province("H29") is settings

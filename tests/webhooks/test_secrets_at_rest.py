"""Webhook secrets are encrypted at rest: a database dump alone cannot forge deliveries."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlmodel import col, select

from app.models import WebhookSecret
from app.webhooks.secretbox import PREFIX, SecretBox, prepare_secrets
from tests.conftest import TEST_SECRET_KEY, make_settings

PATH = "/webhooks/endpoints"


async def _stored(factory: Any) -> list[str]:
    async with factory() as session:
        return list((await session.exec(select(WebhookSecret.secret))).all())


async def test_secrets_are_stored_encrypted(database_url: str, service_factory: Any) -> None:
    service = await service_factory(make_settings(database_url))
    created = (await service.post(PATH, json={"url": "https://8.8.8.8/hook"})).json()
    rotated = (await service.post(f"{PATH}/{created['id']}/rotate-secret")).json()
    stored = await _stored(service.app.state.session_factory)
    assert len(stored) == 2
    assert all(value.startswith(PREFIX) for value in stored)
    dump = " ".join(stored)
    assert created["secret"] not in dump
    assert rotated["secret"] not in dump
    box = SecretBox(TEST_SECRET_KEY)
    assert {box.open(value) for value in stored} == {created["secret"], rotated["secret"]}
    with pytest.raises(Exception, match="not in WEBHOOK_SECRET_KEY"):
        SecretBox(Fernet.generate_key().decode()).open(stored[0])


async def test_without_a_key_registration_is_a_503_problem(
    sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(sqlite_url, webhook_secret_key=""))
    response = await service.post(PATH, json={"url": "https://8.8.8.8/hook"})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "WEBHOOK_SECRET_KEY" in response.json()["detail"]
    assert (await service.get(PATH)).json()["items"] == []


async def test_start_up_refuses_without_a_key_and_encrypts_clear_rows_with_one(
    sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(make_settings(sqlite_url))
    created = (await service.post(PATH, json={"url": "https://8.8.8.8/hook"})).json()
    factory = service.app.state.session_factory
    async with factory() as session:  # as written before encryption existed
        await session.exec(update(WebhookSecret).values(secret=created["secret"]))
        await session.commit()

    with pytest.raises(SystemExit, match="WEBHOOK_SECRET_KEY is not set"):
        await prepare_secrets(factory, SecretBox(""))
    assert await prepare_secrets(factory, SecretBox("", allow_clear=True)) == 0  # simulator

    # Rotation: a new first key; the old one still decrypts and rows move to the new one.
    new_key = Fernet.generate_key().decode()
    assert await prepare_secrets(factory, SecretBox(TEST_SECRET_KEY)) == 1
    [stored] = await _stored(factory)
    assert stored.startswith(PREFIX)
    assert created["secret"] not in stored
    rotated_box = SecretBox(f"{new_key},{TEST_SECRET_KEY}")
    assert await prepare_secrets(factory, rotated_box) == 1
    assert await prepare_secrets(factory, rotated_box) == 0
    [stored] = await _stored(factory)
    assert SecretBox(new_key).open(stored) == created["secret"]
    with pytest.raises(SystemExit, match="not in WEBHOOK_SECRET_KEY"):
        await prepare_secrets(factory, SecretBox(Fernet.generate_key().decode()))
    async with factory() as session:
        row = (await session.exec(select(WebhookSecret).where(col(WebhookSecret.id) > 0))).one()
        assert row.secret == stored


def test_a_bad_key_is_a_clear_settings_error(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="not a Fernet key"):
        make_settings(sqlite_url, webhook_secret_key="not-a-key")

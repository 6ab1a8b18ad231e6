"""Signing is checked against the real subscriber-side verifier from ``standardwebhooks``."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.webhooks.signing import generate_secret, sign_headers, validate_secret

BODY = json.dumps({"type": "mismatch.opened", "data": {"fee": 150000}}).encode()


def test_generated_secret_has_prefix_and_enough_entropy() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert 24 <= len(key) <= 32
    assert generate_secret() != secret
    assert validate_secret(secret) == secret


def test_headers_shape_and_id_kept_verbatim() -> None:
    now = datetime(2025, 3, 1, 12, 0, 30, 999_000, tzinfo=UTC)
    headers = sign_headers("evt_01J9ZK.abc-123", now, BODY, [generate_secret()])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_01J9ZK.abc-123"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))  # integer seconds
    assert headers["webhook-signature"].startswith("v1,")


def test_rotation_every_active_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign_headers("msg_1", datetime.now(UTC), BODY, [old, new])
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_duplicate_secrets_sign_once() -> None:
    secret = generate_secret()
    headers = sign_headers("msg_1", datetime.now(UTC), BODY, [secret, secret])
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_tampered_body_is_rejected() -> None:
    secret = generate_secret()
    headers = sign_headers("msg_1", datetime.now(UTC), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"150000", b"150001"), headers)


def test_tampered_id_is_rejected() -> None:
    secret = generate_secret()
    headers = sign_headers("msg_1", datetime.now(UTC), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})


def test_wrong_secret_is_rejected() -> None:
    headers = sign_headers("msg_1", datetime.now(UTC), BODY, [generate_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_stale_timestamp_is_rejected() -> None:
    secret = generate_secret()
    stale = datetime.now(UTC) - timedelta(minutes=5, seconds=30)
    headers = sign_headers("msg_1", stale, BODY, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_non_utc_aware_timestamp_signs_the_same_instant() -> None:
    # standardwebhooks' own sign() would mis-handle this (replace(tzinfo=utc) shifts it 7 h).
    secret = generate_secret()
    local_now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    headers = sign_headers("msg_1", local_now, BODY, [secret])
    assert headers["webhook-timestamp"] == str(int(local_now.timestamp()))
    Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize("as_bytes", [True, False])
def test_vietnamese_nfc_body_verifies(as_bytes: bool) -> None:
    secret = generate_secret()
    text = unicodedata.normalize(
        "NFC", json.dumps({"agency": "Văn phòng Đăng ký đất đai"}, ensure_ascii=False)
    )
    body: bytes | str = text.encode("utf-8") if as_bytes else text
    headers = sign_headers("msg_vi", datetime.now(UTC), body, [secret])
    assert Webhook(secret).verify(text.encode("utf-8"), headers) == {
        "agency": "Văn phòng Đăng ký đất đai"
    }
    # The signature covers exact bytes: the NFD spelling of the same words must not verify.
    nfd = unicodedata.normalize("NFD", text).encode("utf-8")
    assert nfd != text.encode("utf-8")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(nfd, headers)


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body", "secrets"),
    [
        ("", datetime.now(UTC), BODY, ["s"]),
        ("a\r\nX-Injected: 1", datetime.now(UTC), BODY, ["s"]),
        ("msg_1", datetime(2025, 1, 1), BODY, ["s"]),  # naive
        ("msg_1", datetime.now(UTC), b"\xff\xfe", ["s"]),  # not UTF-8
        ("msg_1", datetime.now(UTC), BODY, []),
    ],
)
def test_invalid_inputs_raise(
    msg_id: str, timestamp: datetime, body: bytes, secrets: list[str]
) -> None:
    secrets = [generate_secret() if s == "s" else s for s in secrets]
    with pytest.raises(ValueError):
        sign_headers(msg_id, timestamp, body, secrets)


@pytest.mark.parametrize(
    "secret",
    [
        "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",  # no prefix
        "whsec_not*base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
)
def test_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        validate_secret(secret)
    with pytest.raises(ValueError):
        sign_headers("msg_1", datetime.now(UTC), BODY, [secret])

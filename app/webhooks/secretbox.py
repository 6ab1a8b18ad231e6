"""Webhook signing secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

A database dump alone must not let anyone forge deliveries, so secrets are stored as
``fernet:<token>`` under ``WEBHOOK_SECRET_KEY`` (one Fernet key, or several comma-separated:
the first encrypts, all decrypt, so a key can be rotated without downtime).

Without a key the service refuses, rather than quietly storing secrets in clear:

* registering an endpoint or rotating a secret answers 503 (``webhook-secret-key-missing``);
* the service and ``recon worker`` refuse to start while secrets exist in the database,
  because they could neither sign with encrypted ones nor should keep clear ones.

Only ``RECON_SIMULATOR=true`` (local development, the demo) may keep secrets in clear without a
key. Rows written in clear (before this existed, or in simulator mode) are encrypted by the
migration when a key is configured, and at start-up otherwise.
"""

from __future__ import annotations

import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import func, update
from sqlmodel import col, select

from app.db import SessionFactory
from app.errors import ProblemError
from app.models import WebhookSecret

logger = logging.getLogger(__name__)

PREFIX = "fernet:"


class SecretKeyMissing(ProblemError):
    status, title, slug = 503, "Webhook secret key missing", "webhook-secret-key-missing"


def parse_keys(raw: str) -> list[Fernet]:
    """The Fernet keys of ``WEBHOOK_SECRET_KEY``; raises ``ValueError`` naming a bad one."""
    keys: list[Fernet] = []
    for n, part in enumerate(raw.split(","), start=1):
        text = part.strip()
        if not text:
            continue
        try:
            keys.append(Fernet(text.encode("ascii")))
        except (ValueError, UnicodeError) as exc:
            raise ValueError(
                f"WEBHOOK_SECRET_KEY: key {n} is not a Fernet key (32 url-safe base64 bytes; "
                'make one with python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from exc
    return keys


class SecretBox:
    def __init__(self, keys: str, *, allow_clear: bool = False) -> None:
        fernets = parse_keys(keys)
        self._fernet = MultiFernet(fernets) if fernets else None
        self.allow_clear = allow_clear

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            if self.allow_clear:
                return secret
            raise SecretKeyMissing(
                "Webhook secrets are stored encrypted and WEBHOOK_SECRET_KEY is not set; "
                "configure a Fernet key (README, Configuration)."
            )
        return PREFIX + self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written in clear (simulator mode, or before encryption)
        if self._fernet is None:
            raise SecretKeyMissing(
                "A webhook secret is encrypted and WEBHOOK_SECRET_KEY is not set."
            )
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyMissing(
                "A webhook secret was encrypted with a key not in WEBHOOK_SECRET_KEY."
            ) from None

    def reseal(self, stored: str) -> str | None:
        """``stored`` under the current (first) key, or ``None`` if it already is."""
        if self._fernet is None:
            return None
        if not stored.startswith(PREFIX):
            return self.seal(stored)
        token = stored[len(PREFIX) :].encode("ascii")
        rotated = PREFIX + self._fernet.rotate(token).decode("ascii")
        first = self._fernet._fernets[0]
        try:
            first.decrypt(token)
        except InvalidToken:
            return rotated
        return None


async def prepare_secrets(factory: SessionFactory, box: SecretBox) -> int:
    """At start-up: refuse without a key when secrets exist (outside simulator mode); with a
    key, encrypt clear rows and re-encrypt rows of older keys. Returns rows rewritten."""
    async with factory() as session:
        if not box.has_key:
            count = (await session.exec(select(func.count()).select_from(WebhookSecret))).one()
            if count and not box.allow_clear:
                raise SystemExit(
                    f"cannot start: {count} webhook secret(s) in the database and "
                    "WEBHOOK_SECRET_KEY is not set (they are stored encrypted; a database dump "
                    "alone must not allow forging deliveries). Set the key they were encrypted "
                    "with, or a new Fernet key to encrypt secrets stored in clear."
                )
            return 0
        rows = await session.exec(select(WebhookSecret.id, WebhookSecret.secret))
        changed = 0
        for secret_id, stored in rows.all():
            try:
                resealed = box.reseal(stored)
            except InvalidToken:
                raise SystemExit(
                    f"cannot start: webhook secret {secret_id} was encrypted with a key that is "
                    "not in WEBHOOK_SECRET_KEY (keep the old key after the new one while rotating)"
                ) from None
            if resealed is not None:
                await session.exec(
                    update(WebhookSecret)
                    .where(col(WebhookSecret.id) == secret_id)
                    .values(secret=resealed)
                )
                changed += 1
        await session.commit()
        if changed:
            logger.info("webhook secrets encrypted under the current key", extra={"rows": changed})
        return changed

"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The HMAC itself is delegated to the ``standardwebhooks`` package so that what we send is, by
construction, what every subscriber library verifies; this module only adds the parts the
package leaves to the sender: secret generation, timestamp handling and multi-secret rotation.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets as _secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# The spec asks for 24–64 random bytes; 32 matches HMAC-SHA256's block of entropy and what
# Svix issues.
SECRET_BYTES = 32
_MIN_SECRET_BYTES = 24
_MAX_SECRET_BYTES = 64


def generate_secret() -> str:
    """A fresh ``whsec_``-prefixed signing secret (32 random bytes, standard base64)."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def validate_secret(secret: str) -> str:
    """Return ``secret`` if it is a well-formed ``whsec_`` secret, else raise ``ValueError``.

    ``standardwebhooks.Webhook`` decodes base64 leniently (junk characters are silently
    dropped), so a mistyped operator-supplied secret would sign with different key bytes than
    the subscriber expects. Checking strictly here turns that into a clear error at
    registration time instead of a stream of mysterious verification failures.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after the 'whsec_' prefix") from exc
    if not _MIN_SECRET_BYTES <= len(key) <= _MAX_SECRET_BYTES:
        raise ValueError(
            f"webhook secret must decode to {_MIN_SECRET_BYTES}–{_MAX_SECRET_BYTES} bytes, "
            f"got {len(key)}"
        )
    return secret


def _unix_seconds(timestamp: datetime) -> int:
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        # A naive datetime is ambiguous (server-local? UTC?) and a wrong guess shifts the
        # signed timestamp by hours, which subscribers reject as stale.
        raise ValueError("timestamp must be timezone-aware")
    return math.floor(timestamp.timestamp())


def sign_headers(
    msg_id: str,
    timestamp: datetime,
    body: bytes | str,
    secrets: Sequence[str],
) -> dict[str, str]:
    """Standard Webhooks headers for one delivery attempt.

    ``webhook-signature`` carries one ``v1,<base64>`` entry per active secret, space-separated,
    so subscribers keep verifying while a secret is rotated (they accept any matching entry).
    ``body`` must be exactly the bytes sent on the wire; ``str`` is encoded as UTF-8.
    """
    if not msg_id or any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in msg_id):
        # The id goes into a header and into the signed string verbatim; whitespace or control
        # characters would either be rejected by the HTTP stack or allow header injection.
        raise ValueError("msg_id must be non-empty and contain no whitespace or control chars")
    if not secrets:
        raise ValueError("at least one active secret is required to sign a webhook")

    seconds = _unix_seconds(timestamp)
    # standardwebhooks' sign() does ``timestamp.replace(tzinfo=utc)``, which silently shifts
    # any aware non-UTC datetime (e.g. Asia/Ho_Chi_Minh) by its offset. Hand it the same
    # instant already expressed in UTC so the signed value equals the header value.
    utc_timestamp = datetime.fromtimestamp(seconds, tz=UTC)

    if isinstance(body, bytes):
        try:
            # The package signs text; strict decoding guarantees the re-encoded bytes are the
            # ones on the wire (a lossy decode would sign something the subscriber never sees).
            payload = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("webhook body must be valid UTF-8") from exc
    else:
        payload = body

    signatures: list[str] = []
    for secret in dict.fromkeys(secrets):  # de-duplicate, keep order: no repeated entries
        signatures.append(Webhook(validate_secret(secret)).sign(msg_id, utc_timestamp, payload))

    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(signatures),
    }

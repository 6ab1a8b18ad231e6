"""Opaque keyset cursors: base64url JSON of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import BadRequest


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest(
            "The cursor is not valid; use the next_cursor of a previous page."
        ) from None
    if (
        not isinstance(value, list)
        or len(value) != size
        or not all(isinstance(v, str) for v in value)
    ):
        raise BadRequest("The cursor is not valid; use the next_cursor of a previous page.")
    return value

"""The one way a report is written as bytes: sorted keys, fixed separators, UTF-8, NFC.

The same document always gives the same bytes, so a frozen body can be stored as text, served
as it is, and compared by its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any


def nfc(value: Any) -> Any:
    """``value`` with every string (keys included) in NFC: Vietnamese typed on some systems
    arrives decomposed, and "Hòa" must be one string whichever way it came."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {nfc(key): nfc(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [nfc(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (Vietnamese kept as UTF-8, never ``\\u`` escapes)."""
    return json.dumps(
        nfc(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

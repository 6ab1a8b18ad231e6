"""Opaque keyset cursors: base64url JSON of the last row's sort key.

A cursor comes back from the client, so it is checked like any input: its size, then its
shape and every value's type against the schema of the listing it pages (a pydantic model
per listing, fields in the order they are encoded). Whatever fails is a 400 problem saying to
use a ``next_cursor``; nothing of a forged cursor reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Final, TypeVar

from annotated_types import Interval
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

from app.errors import BadRequest
from app.validation import INT32_MAX, DossierReason, Moment, Text

MAX_CURSOR_CHARS: Final = 2048
"""The longest cursor accepted (the longest this service makes is far shorter)."""

CursorKey = Annotated[Text, StringConstraints(min_length=1, max_length=512)]


def _digits(value: Any) -> Any:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ValueError("must be a row id in ASCII digits")
    return value


class CursorSchema(BaseModel):
    """A decoded cursor: a JSON list whose items are this model's fields, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class KeyCursor(CursorSchema):
    """Listings ordered by one text key (procedure snapshots, dossiers, transactions)."""

    key: CursorKey


class FindingCursor(CursorSchema):
    """Dossier findings, ordered by (dossier key, reason)."""

    subject_key: CursorKey
    reason: DossierReason


class ProcedureLevelCursor(CursorSchema):
    """Procedures per level, ordered by (MaTTHC, level; "" for a configuration without one)."""

    procedure_code: CursorKey
    level: Annotated[Text, StringConstraints(max_length=16)]


class RunCursor(CursorSchema):
    """Runs, newest first: (created_at with its offset, run id)."""

    created_at: Moment
    run_id: CursorKey


class RowIdCursor(CursorSchema):
    """Rows of an integer primary key (webhook deliveries, attempts)."""

    after: Annotated[int, BeforeValidator(_digits), Interval(ge=0, le=INT32_MAX)]


Schema = TypeVar("Schema", bound=CursorSchema)


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid(why: str) -> BadRequest:
    return BadRequest(f"The cursor is not valid ({why}); use the next_cursor of a previous page.")


def decode_cursor(cursor: str | None, schema: type[Schema]) -> Schema | None:
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _invalid(f"longer than {MAX_CURSOR_CHARS} characters")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise _invalid("not base64url JSON") from None
    fields = list(schema.model_fields)
    if not isinstance(value, list) or len(value) != len(fields):
        raise _invalid(f"not a list of {len(fields)}")
    try:
        return schema.model_validate(dict(zip(fields, value, strict=True)))
    except ValidationError:
        raise _invalid("not a position of this listing") from None

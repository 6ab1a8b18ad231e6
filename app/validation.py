"""Validation at the edge: the types every router's parameters and bodies are made of.

Whatever a client sends is refused here, as a 422 problem, before it can reach a query, a
run or a log line, instead of surfacing as a 500 from the database or the standard library:

- **text** (:data:`Text`): no NUL (PostgreSQL cannot store it) and no lone surrogate (UTF-8
  cannot encode it); each use adds its own length;
- **codes** (MaTinh, MaDonVi, MaTTHC): ASCII letters and digits only, so that full-width
  ``２０２３``, Arabic-Indic ``٢٠٢٣`` or superscript ``²`` never pass for digits (``\\d`` would
  accept them all; every pattern here spells ``[0-9]``);
- **dates, months and moments** (:data:`Day`, :data:`Month`, :data:`Moment`): written in ASCII
  (``2023-01-01``, ``2023-09``, ISO 8601 with an offset), never a bare number, and between
  :data:`FIRST_DAY` and :data:`LAST_DAY`: a year 1 or 9999 would overflow the arithmetic done
  on periods (a day before, a year before, a month after);
- **ids** (:data:`RowId`): the range of the ``integer`` columns they name (PostgreSQL's int4),
  so an id too large is refused rather than overflowing the driver;
- **reasons**: the codes the rules emit, and nothing else.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Final, Literal

from annotated_types import Interval
from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    StringConstraints,
    WithJsonSchema,
)

from app.domain.normalize import normalize_code
from app.reconcile.dossier_rules import DOSSIER_REASONS
from app.reconcile.procedures import REASON_CODES

FIRST_DAY: Final = date(2000, 1, 1)
LAST_DAY: Final = date(2100, 12, 31)
INT32_MAX: Final = 2**31 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Refuse what no column and no log can hold: NUL, and a lone surrogate (only a JSON
    ``\\ud800`` escape makes one; a UTF-8 request line or body cannot)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\x00)")
    if _SURROGATE.search(value):
        raise ValueError("must not contain a lone surrogate (\\ud800–\\udfff)")
    return value


# The pattern tells the OpenAPI document what the validator refuses (NUL; a lone surrogate
# cannot be written in a pattern).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$"), AfterValidator(clean_text)]
"""Any text a client sends; each use adds its length (``Query(max_length=…)``, ``Field``)."""

# Codes: ASCII only, optional surrounding spaces (they are trimmed and upper-cased later).
PROVINCE_PATTERN: Final = r"^ *[A-Za-z0-9]{1,8} *$"
AGENCY_PATTERN: Final = r"^ *[A-Za-z0-9][A-Za-z0-9._-]{0,63} *$"
# An agency that is stored (a key's scope) fits the agency_code columns: 32 characters.
STORED_AGENCY_PATTERN: Final = r"^ *[A-Za-z0-9][A-Za-z0-9._-]{0,31} *$"
PROCEDURE_PATTERN: Final = r"^ *[0-9]\.[0-9]{6} *$"
MONTH_PATTERN: Final = r"^(20[0-9]{2}|2100)-[0-9]{2}$"  # month 13 is a 400 (kpi.parse_month)
DAY_PATTERN: Final = r"^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$"  # the years of FIRST_DAY…LAST_DAY

# The constraints come before the validator: so placed, pydantic checks them on the string
# itself and writes them into the OpenAPI document (placed after, it silently leaves them out,
# and clients are told any string will do).
ProvinceCode = Annotated[
    str, StringConstraints(max_length=16, pattern=PROVINCE_PATTERN), AfterValidator(clean_text)
]
AgencyCode = Annotated[
    str, StringConstraints(max_length=64, pattern=AGENCY_PATTERN), AfterValidator(clean_text)
]
AgencyScope = Annotated[
    str,
    StringConstraints(max_length=64, pattern=STORED_AGENCY_PATTERN),
    AfterValidator(clean_text),
    AfterValidator(normalize_code),
]
"""A MaDonVi to store (an API key's scope): the shape of :data:`AgencyCode`, at most 32
characters, and normalized as the reconciled data is (trimmed, upper-cased), so that it equals
the ``agency_code`` of the rows it is compared with."""
ProcedureCode = Annotated[
    str, StringConstraints(max_length=32, pattern=PROCEDURE_PATTERN), AfterValidator(clean_text)
]

ProcedureReason = Literal[REASON_CODES]  # type: ignore[valid-type]
DossierReason = Literal[DOSSIER_REASONS]  # type: ignore[valid-type]

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.,]+([Zz]|[+-][0-9:]+)", re.ASCII)


def _day_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a date written 2023-01-01 (ASCII digits)")
    return value


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


def _moment_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        raise ValueError(
            "must be a time written 2023-01-01T00:00:00+07:00 (ASCII digits, with an offset)"
        )
    return value


_FIRST_MOMENT: Final = datetime.combine(FIRST_DAY, time.min, UTC)
_LAST_MOMENT: Final = datetime.combine(LAST_DAY, time.max, UTC)


def _moment_in_range(value: datetime) -> datetime:
    if not _FIRST_MOMENT <= value <= _LAST_MOMENT:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


def _month_in_range(value: str) -> str:
    if not FIRST_DAY.year <= int(value[:4]) <= LAST_DAY.year:
        raise ValueError(f"must be a month between {FIRST_DAY:%Y-%m} and {LAST_DAY:%Y-%m}")
    return value


# The document says what the validators do: ASCII digits and the years 2000–2100.
_DAY_SCHEMA: Final = {"type": "string", "format": "date", "pattern": DAY_PATTERN}
_MOMENT_SCHEMA: Final = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}[Tt ][0-9:.,]+([Zz]|[+-][0-9:]+)$",
}

Day = Annotated[
    date,
    BeforeValidator(_day_text),
    AfterValidator(_day_in_range),
    WithJsonSchema(_DAY_SCHEMA),
]
"""A local date, ``YYYY-MM-DD`` in ASCII digits, 2000-01-01 … 2100-12-31."""

Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_moment_text),
    AfterValidator(_moment_in_range),
    WithJsonSchema(_MOMENT_SCHEMA),
]
"""An instant with its offset (a naive time is refused), ASCII, within the same range."""

Month = Annotated[
    str,
    StringConstraints(pattern=MONTH_PATTERN),
    AfterValidator(clean_text),
    AfterValidator(_month_in_range),
]
"""``YYYY-MM`` in ASCII digits, 2000-01 … 2100-12."""

RowId = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""The id of a row of an ``integer`` primary key: 1 … 2,147,483,647."""


# The query parameters several routers share (FastAPI's markers on the types above).
AgencyParam = Annotated[
    AgencyCode | None, Query(description="MaDonVi (ASCII letters, digits, `.`, `_`, `-`).")
]
CursorParam = Annotated[
    Text | None,
    Query(description="The `next_cursor` of the previous page (an invalid one is a 400)."),
]

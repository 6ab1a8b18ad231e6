"""What an export is made of: the columns of a list, its sheets, and the meta every file carries.

Endpoints describe their list once (``Column`` per field, with its Vietnamese and English header
and its kind) and hand the rows over as an async iterable consumed once; the writers
(``xlsx``, ``csv_stream``, ``archive``) never hold more than a batch of rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from app.domain.reasons import Lang, Text

__all__ = ["KINDS", "Column", "ExportMeta", "Figure", "Kind", "Lang", "Sheet", "Text", "listed"]

Kind = Literal["text", "int", "decimal", "rate", "money", "date", "datetime", "bool"]
KINDS: Final[tuple[Kind, ...]] = (
    "text",
    "int",
    "decimal",
    "rate",
    "money",
    "date",
    "datetime",
    "bool",
)

# Characters, as Excel counts a column's width: wide enough for the values of the kind
# (a 12-digit amount with its separators, "dd/mm/yyyy hh:mm") without the officer resizing.
DEFAULT_WIDTHS: Final[Mapping[Kind, float]] = {
    "text": 30,
    "int": 12,
    "decimal": 12,
    "rate": 10,
    "money": 18,
    "date": 12,
    "datetime": 17,
    "bool": 9,
}
MAX_HEADER_WIDTH: Final = 50.0


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a list. ``get`` reads the value from a row when it is not ``row[key]``
    (a nested value, a computed one); the value's kind decides how every format shows it."""

    key: str
    header_vi: str
    header_en: str
    kind: Kind
    width: float | None = None  # characters; DEFAULT_WIDTHS[kind] (or the header's) otherwise
    get: Callable[[Mapping[str, Any]], Any] | None = None

    def header(self, lang: Lang) -> str:
        return self.header_vi if lang == "vi" else self.header_en

    def value(self, row: Mapping[str, Any]) -> Any:
        return self.get(row) if self.get is not None else row[self.key]

    def width_chars(self, lang: Lang) -> float:
        if self.width is not None:
            return self.width
        header = min(len(self.header(lang)) + 2, MAX_HEADER_WIDTH)
        return max(DEFAULT_WIDTHS[self.kind], header)


async def listed(rows: Iterable[Mapping[str, Any]]) -> AsyncIterator[Mapping[str, Any]]:
    """Rows already in memory (a figure's few dozen units) as the async rows a sheet takes."""
    for row in rows:
        yield row


@dataclass(frozen=True, slots=True)
class Sheet:
    """A list: its title (the worksheet's name), its columns and its rows, streamed once."""

    title_vi: str
    title_en: str
    columns: Sequence[Column]
    rows: AsyncIterable[Mapping[str, Any]]

    def title(self, lang: Lang) -> str:
        return self.title_vi if lang == "vi" else self.title_en


# A figure of the summary sheet: (label_vi, label_en, value), or with the kind its value is
# shown as (a rate as a percentage, an amount with separators) when its type does not say it.
Figure = tuple[str, str, Any] | tuple[str, str, Any, Kind]


@dataclass(frozen=True, slots=True)
class ExportMeta:
    """Where the data come from, printed on every file's summary so a figure forwarded by mail
    still says which run, which filters and which moment it describes."""

    title_vi: str
    title_en: str
    province_code: str
    run_id: str | None  # the run the data come from
    data_as_of: datetime | None  # when that run finished (UTC aware)
    generated_at: datetime  # UTC aware; also the workbook's creation date (determinism)
    filters: Mapping[str, str]  # the query's filters as the user gave them
    figures: Sequence[Figure] = ()

    def title(self, lang: Lang) -> str:
        return self.title_vi if lang == "vi" else self.title_en

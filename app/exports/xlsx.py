"""Excel workbooks written as the rows stream in, in flat memory, the same bytes every time.

XlsxWriter in ``constant_memory`` mode writes each row to a temporary file as soon as the next
one starts, so a 300,000-row list costs what a 1,000-row batch costs. Strings are never turned
into formulas or links (``strings_to_formulas=False``, ``strings_to_urls=False``): a cell
"=1+1" or "https://…" from the data stays the text it is.

XlsxWriter is synchronous CPU work: the async rows are read in the event loop and handed over
in batches of ``BATCH_ROWS`` to ``asyncio.to_thread``, so the loop is never held for more than
a batch (a few milliseconds). Only one thread touches a workbook at a time (each batch is
awaited before the next).

Determinism: the workbook's creation date is ``meta.generated_at`` and XlsxWriter stamps its
parts with a fixed 1980 date, so the same inputs give byte-identical files.

The first sheet summarises where the data come from (title, province, run, when the data are
from, when the file was made — in Vietnam's local time — every filter, every figure, and the
rows of each list); then one sheet per list: a bold, frozen header row with an autofilter,
column widths per kind, real numbers and dates. A list longer than Excel's 1,048,576 rows goes
on in a second sheet named "<title> (2)".
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from app.exports.model import ExportMeta, Kind, Lang, Sheet, Text
from app.exports.values import Value, cell, figure_kind, text, yes_no

__all__ = [
    "BATCH_ROWS",
    "EXCEL_MAX_ROWS",
    "ListWriter",
    "SheetStats",
    "Workbook",
    "sheet_name",
    "write_xlsx",
]

BATCH_ROWS: Final = 1000
EXCEL_MAX_ROWS: Final = 1_048_576  # the header row included
SHEET_NAME_MAX: Final = 31

NUMBER_FORMATS: Final[Mapping[Kind, str]] = {
    "int": "#,##0",
    "decimal": "0.00",
    "money": "#,##0",
    "rate": "0.00%",
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}

SUMMARY: Final = Text("Tổng hợp", "Summary")
PROVINCE: Final = Text("Tỉnh", "Province")
RUN: Final = Text("Lần đối soát", "Reconciliation run")
DATA_AS_OF: Final = Text("Dữ liệu tính đến (giờ Việt Nam)", "Data as of (Vietnam time)")
GENERATED_AT: Final = Text("Thời điểm xuất (giờ Việt Nam)", "Generated at (Vietnam time)")
FILTERS: Final = Text("Bộ lọc", "Filters")
NO_FILTERS: Final = Text("(không có)", "(none)")
FIGURES: Final = Text("Số liệu", "Figures")
ROWS_OF: Final = Text("Số dòng: {title}", "Rows: {title}")

_ILLEGAL_IN_SHEET_NAME: Final = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_name(title: str, taken: set[str]) -> str:
    """A legal worksheet name for ``title``, unique (case-insensitively) among ``taken``, which
    it joins: none of ``[]:*?/\\``, no apostrophe at either end, 31 characters at most, not
    Excel's reserved "History"."""
    base = _ILLEGAL_IN_SHEET_NAME.sub(" ", text(title) or "").strip().strip("'").strip()
    if not base or base.casefold() == "history":
        base = f"{base} 1".strip() if base else "Sheet"
    name, number = base[:SHEET_NAME_MAX].rstrip(), 1
    while name.casefold() in taken:
        number += 1
        suffix = f" ({number})"
        name = base[: SHEET_NAME_MAX - len(suffix)].rstrip() + suffix
    taken.add(name.casefold())
    return name


@dataclass(slots=True)
class SheetStats:
    """What a list held: its rows and the total of each money column (by key)."""

    rows: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)


class ListWriter:
    """Writes one list's rows, in order, into as many worksheets as Excel's row limit needs."""

    def __init__(self, book: Workbook, sheet: Sheet) -> None:
        self._book = book
        self._title = sheet.title(book.lang)
        self._columns = list(sheet.columns)
        self._kinds: list[Kind] = [column.kind for column in self._columns]
        self._formats = [book.formats.get(kind) for kind in self._kinds]
        self._money = [
            (index, column.key) for index, column in enumerate(self._columns)
            if column.kind == "money"
        ]  # fmt: skip
        self.stats = SheetStats(totals={key: Decimal(0) for _, key in self._money})
        self._worksheets: list[tuple[Worksheet, int]] = []  # (worksheet, rows written)
        self._open_worksheet()

    def _open_worksheet(self) -> None:
        book, lang = self._book, self._book.lang
        title = (
            self._title if not self._worksheets else f"{self._title} ({len(self._worksheets) + 1})"
        )
        worksheet = book.book.add_worksheet(sheet_name(title, book.sheet_names))
        for index, column in enumerate(self._columns):
            worksheet.set_column(index, index, column.width_chars(lang))
        for index, column in enumerate(self._columns):
            worksheet.write_string(0, index, column.header(lang), book.bold)
        worksheet.freeze_panes(1, 0)
        self._worksheets.append((worksheet, 0))

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        lang, kinds, formats, money = self._book.lang, self._kinds, self._formats, self._money
        columns = self._columns
        worksheet, written = self._worksheets[-1]
        for row in rows:
            if written + 1 >= EXCEL_MAX_ROWS:
                self._worksheets[-1] = (worksheet, written)
                self._open_worksheet()
                worksheet, written = self._worksheets[-1]
            written += 1
            values = [
                cell(kind, column.value(row)) for kind, column in zip(kinds, columns, strict=True)
            ]
            for index, value in enumerate(values):
                if value is not None:
                    _write(worksheet, written, index, value, formats[index], lang)
            for index, key in money:
                amount = values[index]
                if isinstance(amount, int | float | Decimal) and not isinstance(amount, bool):
                    self.stats.totals[key] += Decimal(amount)
        self._worksheets[-1] = (worksheet, written)
        self.stats.rows += len(rows)

    def finish(self) -> None:
        last = len(self._columns) - 1
        for worksheet, written in self._worksheets:
            worksheet.autofilter(0, 0, max(written, 1), max(last, 0))


def _write(
    worksheet: Worksheet, row: int, col: int, value: Value, number_format: Format | None, lang: Lang
) -> None:
    if isinstance(value, bool):
        worksheet.write_string(row, col, yes_no(value, lang))
    elif isinstance(value, str):
        worksheet.write_string(row, col, value)
    elif isinstance(value, datetime | date):
        worksheet.write_datetime(row, col, value, number_format)
    elif isinstance(value, Decimal):
        worksheet.write_number(row, col, float(value), number_format)
    elif value is not None:
        worksheet.write_number(row, col, value, number_format)


class Workbook:
    """A workbook being written (synchronously: call it from a thread, one call at a time).

    The summary sheet is written when the workbook opens; ``add_list`` then opens one list at a
    time (XlsxWriter's constant memory mode writes rows in order), and ``close`` adds each
    list's row count to the summary and packs the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: ExportMeta,
        lang: Lang,
        extra: Sequence[tuple[Text, Any]] = (),
    ) -> None:
        self.lang = lang
        # XlsxWriter leaves its row files behind when a workbook is never closed (a failed or
        # cancelled export): they go in a directory of this workbook's own, removed either way.
        self._tmpdir = tempfile.mkdtemp(prefix="recon-xlsx-")
        self.book = xlsxwriter.Workbook(
            os.fspath(path),
            {
                "tmpdir": self._tmpdir,
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.book.set_properties(
            {
                "title": meta.title(lang),
                "created": meta.generated_at.astimezone(UTC).replace(tzinfo=None),
            }
        )
        self.bold = self.book.add_format({"bold": True})
        self.formats: dict[Kind, Format] = {
            kind: self.book.add_format({"num_format": number_format})
            for kind, number_format in NUMBER_FORMATS.items()
        }
        self.sheet_names: set[str] = set()
        self._lists: list[ListWriter] = []
        self._summary = self.book.add_worksheet(sheet_name(SUMMARY.get(lang), self.sheet_names))
        self._summary_row = 0
        self._write_summary(meta, extra)

    def _line(
        self, label: str, value: Any = None, kind: Kind | None = "text", bold: bool = False
    ) -> None:
        """A label and its value on the summary; ``kind=None`` writes a number as it is."""
        sheet, row = self._summary, self._summary_row
        sheet.write_string(row, 0, text(label) or "", self.bold if bold else None)
        shown: Value = value if kind is None else cell(kind, value)
        if shown is not None:
            number_format = None if kind is None else self.formats.get(kind)
            _write(sheet, row, 1, shown, number_format, self.lang)
        self._summary_row += 1

    def _write_summary(self, meta: ExportMeta, extra: Sequence[tuple[Text, Any]]) -> None:
        lang, sheet = self.lang, self._summary
        sheet.set_column(0, 0, 38)
        sheet.set_column(1, 1, 60)
        heading = self.book.add_format({"bold": True, "font_size": 14})
        sheet.write_string(0, 0, text(meta.title(lang)) or "", heading)
        self._summary_row = 2
        self._line(PROVINCE.get(lang), meta.province_code)
        self._line(RUN.get(lang), meta.run_id)
        self._line(DATA_AS_OF.get(lang), meta.data_as_of, "datetime")
        self._line(GENERATED_AT.get(lang), meta.generated_at, "datetime")
        for label, value in extra:
            self._line(label.get(lang), value)
        self._summary_row += 1
        self._line(FILTERS.get(lang), bold=True)
        for key, value in meta.filters.items():
            self._line(key, value)
        if not meta.filters:
            self._line(NO_FILTERS.get(lang))
        if meta.figures:
            self._summary_row += 1
            self._line(FIGURES.get(lang), bold=True)
            for figure in meta.figures:
                value = figure[2]
                kind = figure[3] if len(figure) == 4 else figure_kind(value)
                self._line(figure[0] if lang == "vi" else figure[1], value, kind)
        self._summary_row += 1

    def add_list(self, sheet: Sheet) -> ListWriter:
        if self._lists:
            self._lists[-1].finish()
        writer = ListWriter(self, sheet)
        self._lists.append(writer)
        return writer

    def close(self, titles: Sequence[str]) -> None:
        if self._lists:
            self._lists[-1].finish()
        for title, writer in zip(titles, self._lists, strict=True):
            self._line(ROWS_OF.get(self.lang).format(title=title), writer.stats.rows, "int")
        try:
            self.book.close()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Removes the workbook's temporary files (after a failure the caller deletes the
        unfinished file itself)."""
        shutil.rmtree(self._tmpdir, ignore_errors=True)


async def stream_list(writer: ListWriter, rows: AsyncIterable[Mapping[str, Any]]) -> None:
    """Reads ``rows`` in the event loop, writes them in a thread ``BATCH_ROWS`` at a time."""
    batch: list[Mapping[str, Any]] = []
    async for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            await asyncio.to_thread(writer.write, batch)
            batch = []
    if batch:
        await asyncio.to_thread(writer.write, batch)


async def write_workbook(
    path: str | os.PathLike[str],
    meta: ExportMeta,
    sheets: Sequence[Sheet],
    lang: Lang,
    extra: Sequence[tuple[Text, Any]] = (),
) -> list[SheetStats]:
    """``write_xlsx`` with ``extra`` lines on the summary (the group of a ZIP's workbook)."""
    book = await asyncio.to_thread(Workbook, path, meta, lang, extra)
    try:
        stats = []
        for sheet in sheets:
            writer = await asyncio.to_thread(book.add_list, sheet)
            await stream_list(writer, sheet.rows)
            stats.append(writer.stats)
        await asyncio.to_thread(book.close, [sheet.title(lang) for sheet in sheets])
    except BaseException:
        book.abandon()
        raise
    return stats


async def write_xlsx(
    path: str | os.PathLike[str], meta: ExportMeta, sheets: Sequence[Sheet], lang: Lang
) -> list[SheetStats]:
    """Writes the summary and one sheet per list of ``sheets`` to ``path`` (see the module's
    docstring); returns what each list held."""
    return await write_workbook(Path(path), meta, sheets, lang)

"""A list as CSV that Excel opens in Vietnamese: UTF-8 with a byte-order mark, streamed.

Excel reads a CSV without a BOM in the machine's ANSI code page, which turns "Sở Tài nguyên"
into mojibake; with the BOM it reads UTF-8. The file is comma-separated with CRLF line ends
(RFC 4180); numbers are plain (no grouping), rates are decimal fractions with a "." (0.8523),
dates ``dd/mm/yyyy``, moments ``dd/mm/yyyy HH:MM`` in Vietnam's local time, bools Có/Không
(Yes/No), nothing as an empty field, lists joined with "; ".

CSV injection: a spreadsheet runs a field that begins with ``=``, ``+``, ``-`` or ``@`` as a
formula (and a leading tab or carriage return can hide one), so a text field from the data that
begins with any of them is written with a leading apostrophe — "'=1+1" — which Excel shows as
the text and does not evaluate (OWASP's advice). Only text is guarded: numbers of numeric
columns (a negative amount) are written as they are.

Rows are formatted one at a time and sent in chunks of about ``CHUNK_BYTES``: the whole file is
never held, and the response is not made of one tiny write per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from app.exports.model import ExportMeta, Lang, Sheet
from app.exports.values import Value, cell, yes_no

__all__ = ["BOM", "CHUNK_BYTES", "FORMULA_TRIGGERS", "csv_chunks", "csv_field"]

BOM: Final = "\ufeff".encode()
CHUNK_BYTES: Final = 64 * 1024
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_field(value: Value, lang: Lang) -> str:
    """One value as its CSV field (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value, lang)
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        return format(value, ".15g")  # 0.1 + 0.2 is 0.3, not 0.30000000000000004
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


async def csv_chunks(meta: ExportMeta, sheet: Sheet, lang: Lang) -> AsyncIterator[bytes]:
    """The CSV of ``sheet``: BOM and header row first, then the rows as they arrive.

    ``meta`` is not written (a CSV has one table; the XLSX carries the summary); it is taken so
    that every format is called the same way.
    """
    del meta
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = list(sheet.columns)
    writer.writerow([column.header(lang) for column in columns])
    pending = BOM + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    async for row in sheet.rows:
        writer.writerow(
            [csv_field(cell(column.kind, column.value(row)), lang) for column in columns]
        )
        if buffer.tell() >= CHUNK_BYTES:
            yield pending + buffer.getvalue().encode()
            pending = b""
            buffer.seek(0)
            buffer.truncate()
    yield pending + buffer.getvalue().encode()

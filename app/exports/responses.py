"""An export as an HTTP answer: the file, its media type and a name Vietnamese users recognise.

XLSX and ZIP are written to a temporary file first (a ZIP's central directory and a workbook's
parts are known only at the end), then sent with ``FileResponse``; the file is deleted once the
answer is sent, when the client goes away half-way, and — should the answer never be sent — when
the response object is collected. CSV is streamed as it is written.

The file name is given twice (RFC 6266): ``filename="…"`` in ASCII for old clients
("thu-tuc-chua-dong-bo-H53.xlsx") and ``filename*=UTF-8''…`` with the Vietnamese name
percent-encoded ("Thủ tục chưa đồng bộ H53.xlsx"), which browsers prefer.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
import weakref
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import quote

from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.exports.archive import GroupOf, write_zip
from app.exports.csv_stream import csv_chunks
from app.exports.model import ExportMeta, Lang, Sheet
from app.exports.negotiate import MEDIA_TYPES
from app.exports.values import ascii_fold
from app.exports.xlsx import write_xlsx

__all__ = ["CSV_MEDIA_TYPE", "TemporaryFileResponse", "content_disposition", "export_response"]

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
_NOT_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class TemporaryFileResponse(FileResponse):
    """A ``FileResponse`` whose file is deleted after the answer, sent or not."""

    def __init__(self, path: str, media_type: str, headers: Mapping[str, str]) -> None:
        super().__init__(path, media_type=media_type, headers=headers)
        self._remove = weakref.finalize(self, _remove, path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._remove()


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` in ASCII and, percent-encoded, as it is (NFC)."""
    name = unicodedata.normalize("NFC", filename)
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    ascii_stem = _NOT_FILENAME.sub("-", ascii_fold(stem)).strip("-._") or "export"
    ascii_name = f"{ascii_stem}.{extension}" if extension else ascii_stem
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def export_response(
    fmt: str,
    meta: ExportMeta,
    sheets: Sequence[Sheet],
    filename_stem: str,
    lang: Lang,
    group_of: GroupOf | None = None,
) -> Response:
    """The answer to ``?format=xlsx|csv|zip``: every sheet in one workbook (xlsx); the one sheet
    as CSV (csv) or as one workbook per group (zip, which needs ``group_of``). JSON is the
    endpoint's own answer, not an export."""
    headers = {"Content-Disposition": content_disposition(f"{filename_stem}.{fmt}")}
    if fmt == "csv":
        (sheet,) = _one(fmt, sheets)
        return StreamingResponse(
            csv_chunks(meta, sheet, lang), media_type=CSV_MEDIA_TYPE, headers=headers
        )
    if fmt not in ("xlsx", "zip"):
        raise ValueError(f"export_response answers xlsx, csv or zip, not {fmt!r}")
    descriptor, path = tempfile.mkstemp(prefix="recon-export-", suffix=f".{fmt}")
    os.close(descriptor)
    try:
        if fmt == "xlsx":
            await write_xlsx(path, meta, sheets, lang)
        elif group_of is not None:
            (sheet,) = _one(fmt, sheets)
            await write_zip(path, meta, sheet, group_of, lang)
        else:
            raise ValueError("a zip export needs group_of")
    except BaseException:
        _remove(path)
        raise
    return TemporaryFileResponse(path, media_type=MEDIA_TYPES[fmt], headers=headers)


def _one(fmt: str, sheets: Sequence[Sheet]) -> Sequence[Sheet]:
    if len(sheets) != 1:
        raise ValueError(f"a {fmt} export holds one list, not {len(sheets)}")
    return sheets

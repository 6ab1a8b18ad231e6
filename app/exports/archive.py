"""One workbook per group (an agency, mostly) in a ZIP, with a summary of the groups.

Each province's agencies want their own file. The rows arrive ordered by group; each group's
workbook is written while its rows stream in, packed into the archive when the next group
starts, and deleted, so only one workbook is open at a time and memory stays flat whatever the
number of groups. A group whose rows reappear after another group's raises ``GroupOrderError``
(the query behind the export must order by the group).

Entries are named ``<code>-<ascii slug of the name>.xlsx`` ("000.00.15.H53-so-tai-nguyen-va-moi-
truong.xlsx"): Windows' built-in ZIP tool mangles non-ASCII names, and codes keep them apart. The
last entry, ``tong-hop.xlsx`` (``summary.xlsx`` in English), lists each group's code, name (in
Vietnamese, as it is), file, row count and the total of each money column.

Every workbook carries the same summary of where the data come from, plus its group. Entries are
deflated and stamped with ``generated_at`` (Vietnam's local time, as ZIP times are local), so the
same inputs give the same archive.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from app.exports.model import Column, ExportMeta, Lang, Sheet, Text
from app.exports.values import local, safe_code, slug
from app.exports.xlsx import BATCH_ROWS, ListWriter, Workbook, write_workbook

__all__ = ["GroupOrderError", "GroupStats", "entry_name", "write_zip"]

GroupOf = Callable[[Mapping[str, Any]], tuple[str, str]]

SUMMARY_ENTRY: Final = Text("tong-hop.xlsx", "summary.xlsx")
GROUPS: Final = Text("Danh sách tệp", "Files")
GROUP: Final = Text("Đơn vị", "Group")
CODE: Final = Text("Mã", "Code")
NAME: Final = Text("Tên", "Name")
FILE: Final = Text("Tệp", "File")
ROWS: Final = Text("Số dòng", "Rows")
TOTAL_OF: Final = Text("Tổng: {header}", "Total: {header}")
COPY_BYTES: Final = 1 << 20


class GroupOrderError(ValueError):
    """Rows of a group arrived after another group's: the export's rows must be ordered by group."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    code: str
    name: str
    entry: str
    rows: int
    totals: Mapping[str, Decimal]


def entry_name(code: str, name: str, taken: set[str]) -> str:
    """``<code>-<slug of name>.xlsx``, short and safe in any file system, unique among
    ``taken`` (case-insensitively, for Windows), which it joins."""
    stem = "-".join(part for part in (safe_code(code), slug(name)) if part) or "nhom"
    candidate, number = f"{stem}.xlsx", 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem}-{number}.xlsx"
    taken.add(candidate.casefold())
    return candidate


class _Archive:
    """The ZIP being written: entries added one at a time (in a thread), stamped alike."""

    def __init__(self, path: str | os.PathLike[str], meta: ExportMeta) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        stamp = local(meta.generated_at)
        self._date_time = (max(stamp.year, 1980), *stamp.timetuple()[1:6])

    def add(self, name: str, source: Path) -> None:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # Unix, whichever system wrote it
        info.external_attr = 0o644 << 16
        info.file_size = source.stat().st_size
        with source.open("rb") as data, self._zip.open(info, "w") as entry:
            shutil.copyfileobj(data, entry, COPY_BYTES)
        source.unlink()

    def close(self) -> None:
        self._zip.close()


class _Group:
    """The workbook of the group whose rows are streaming in."""

    def __init__(
        self, code: str, name: str, entry: str, path: Path, book: Workbook, writer: ListWriter
    ) -> None:
        self.code, self.name, self.entry, self.path = code, name, entry, path
        self.book, self.writer = book, writer
        self.batch: list[Mapping[str, Any]] = []

    @classmethod
    async def open(
        cls,
        code: str,
        name: str,
        entry: str,
        path: Path,
        meta: ExportMeta,
        sheet: Sheet,
        lang: Lang,
    ) -> _Group:
        extra = ((GROUP, f"{code} — {name}"),)
        book = await asyncio.to_thread(Workbook, path, meta, lang, extra)
        return cls(code, name, entry, path, book, await asyncio.to_thread(book.add_list, sheet))

    async def add(self, row: Mapping[str, Any]) -> None:
        self.batch.append(row)
        if len(self.batch) >= BATCH_ROWS:
            await self._flush()

    async def _flush(self) -> None:
        batch, self.batch = self.batch, []
        await asyncio.to_thread(self.writer.write, batch)

    async def close(self, title: str) -> GroupStats:
        if self.batch:
            await self._flush()
        await asyncio.to_thread(self.book.close, [title])
        stats = self.writer.stats
        return GroupStats(self.code, self.name, self.entry, stats.rows, stats.totals)


async def _rows_of(
    groups: Sequence[GroupStats], money: Sequence[Column]
) -> AsyncIterator[dict[str, Any]]:
    for group in groups:
        yield {
            "code": group.code,
            "name": group.name,
            "entry": group.entry,
            "rows": group.rows,
            **{f"total:{column.key}": group.totals[column.key] for column in money},
        }


def _summary_sheet(sheet: Sheet, groups: Sequence[GroupStats]) -> Sheet:
    money = [column for column in sheet.columns if column.kind == "money"]
    columns = [
        Column("code", CODE.vi, CODE.en, "text", width=20),
        Column("name", NAME.vi, NAME.en, "text", width=50),
        Column("entry", FILE.vi, FILE.en, "text", width=50),
        Column("rows", ROWS.vi, ROWS.en, "int"),
        *(
            Column(
                f"total:{column.key}",
                TOTAL_OF.vi.format(header=column.header_vi),
                TOTAL_OF.en.format(header=column.header_en),
                "money",
            )
            for column in money
        ),
    ]
    return Sheet(GROUPS.vi, GROUPS.en, columns, _rows_of(groups, money))


async def write_zip(
    path: str | os.PathLike[str], meta: ExportMeta, sheet: Sheet, group_of: GroupOf, lang: Lang
) -> list[GroupStats]:
    """Writes one workbook per group of ``sheet``'s rows, and their summary, to the ZIP at
    ``path`` (see the module's docstring); returns what each group held."""
    title = sheet.title(lang)
    groups: list[GroupStats] = []
    seen: set[str] = set()
    taken: set[str] = {SUMMARY_ENTRY.get(lang).casefold()}
    current: _Group | None = None
    with tempfile.TemporaryDirectory(prefix="recon-zip-") as tmp:
        archive = await asyncio.to_thread(_Archive, path, meta)
        try:
            async for row in sheet.rows:
                code, name = group_of(row)
                if current is None or code != current.code:
                    if current is not None:
                        groups.append(await current.close(title))
                        await asyncio.to_thread(archive.add, current.entry, current.path)
                        current = None
                    if code in seen:
                        raise GroupOrderError(
                            f"rows of group {code!r} arrived again after other groups' rows: "
                            "order the export's rows by group"
                        )
                    seen.add(code)
                    entry = entry_name(code, name, taken)
                    book_path = Path(tmp) / f"{len(seen)}.xlsx"
                    current = await _Group.open(code, name, entry, book_path, meta, sheet, lang)
                await current.add(row)
            if current is not None:
                groups.append(await current.close(title))
                await asyncio.to_thread(archive.add, current.entry, current.path)
                current = None
            summary_path = Path(tmp) / SUMMARY_ENTRY.get(lang)
            await write_workbook(summary_path, meta, [_summary_sheet(sheet, groups)], lang)
            await asyncio.to_thread(archive.add, SUMMARY_ENTRY.get(lang), summary_path)
        finally:
            if current is not None:
                current.book.abandon()
            await asyncio.to_thread(archive.close)
    return groups

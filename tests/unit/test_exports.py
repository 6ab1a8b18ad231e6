"""The export layer, read back as Excel and csv read it: openpyxl opens every workbook written."""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from app.errors import BadRequest
from app.exports import (
    Column,
    ExportMeta,
    GroupOrderError,
    Sheet,
    csv_chunks,
    negotiate_format,
    negotiate_lang,
    write_xlsx,
    write_zip,
)
from app.exports.negotiate import XLSX_MEDIA_TYPE
from app.exports.values import slug
from app.exports.xlsx import sheet_name

SO_TNMT = "Sở Tài nguyên và Môi trường"
CHI_NHANH = "Chi nhánh Văn phòng Đăng ký đất đai huyện Tân Hồng"

COLUMNS = [
    Column("code", "Mã hồ sơ", "Dossier code", "text"),
    Column("agency", "Cơ quan", "Agency", "text"),
    Column("count", "Số lần", "Count", "int"),
    Column("rate", "Tỷ lệ", "Rate", "rate"),
    Column("amount", "Số tiền", "Amount", "money"),
    Column("received", "Ngày tiếp nhận", "Received on", "date"),
    Column("paid_at", "Thời điểm thanh toán", "Paid at", "datetime"),
    Column("paid", "Đã thanh toán", "Paid", "bool"),
    Column("reasons", "Lý do", "Reasons", "text"),
    Column("note", "Ghi chú", "Note", "text", get=lambda row: row.get("note")),
]

META = ExportMeta(
    title_vi="Hồ sơ đã thanh toán chưa đồng bộ",
    title_en="Paid dossiers not synced",
    province_code="H53",
    run_id="run-42",
    data_as_of=datetime(2023, 11, 30, 17, 30, tzinfo=UTC),  # 1 December 00:30 in Vietnam
    generated_at=datetime(2023, 12, 1, 2, 15, tzinfo=UTC),
    filters={"agency": "000.00.15.H53", "period_from": "2023-11-01"},
    figures=(("Tổng số hồ sơ", "Dossiers", 3), ("Tỷ lệ đồng bộ", "Synced", 0.875, "rate")),
)


def dossier(i: int, agency: str = SO_TNMT, **extra: Any) -> dict[str, Any]:
    return {
        "code": f"H53.{i:06d}",
        "agency": agency,
        "count": i * 1000,
        "rate": 0.25,
        "amount": Decimal(150000 + i),
        "received": date(2023, 11, 1 + i % 28),
        "paid_at": datetime(2023, 11, 1, 20, 30, tzinfo=UTC),  # 2 November 03:30 in Vietnam
        "paid": i % 2 == 0,
        "reasons": ["amount_mismatch", "not_on_national"],
        **extra,
    }


async def aiter(rows: Sequence[Mapping[str, Any]]) -> AsyncIterator[Mapping[str, Any]]:
    for row in rows:
        yield row


def sheet(rows: Sequence[Mapping[str, Any]]) -> Sheet:
    return Sheet("Hồ sơ chưa đồng bộ", "Dossiers not synced", COLUMNS, aiter(rows))


def summary_values(worksheet: Any) -> dict[str, Any]:
    return {row[0]: row[1] for row in worksheet.iter_rows(values_only=True) if row[0]}


async def test_xlsx_headers_values_and_formats_in_vietnamese(tmp_path: Path) -> None:
    rows = [dossier(1), dossier(2, code="=1+1", note="+84 912"), dossier(3, amount=None)]
    path = tmp_path / "out.xlsx"
    stats = await write_xlsx(path, META, [sheet(rows)], "vi")
    assert [s.rows for s in stats] == [3]
    assert stats[0].totals == {"amount": Decimal(150001 + 150002)}

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Tổng hợp", "Hồ sơ chưa đồng bộ"]
    data = book["Hồ sơ chưa đồng bộ"]
    assert [c.value for c in data[1]] == [c.header_vi for c in COLUMNS]
    assert all(c.font.b for c in data[1])
    assert data.freeze_panes == "A2"
    assert data.auto_filter.ref == "A1:J4"
    assert data.max_row == 4
    _, agency, count, rate, amount, received, paid_at, paid, reasons, note = data[2]
    assert agency.value == SO_TNMT
    assert unicodedata.is_normalized("NFC", agency.value)
    assert (count.value, count.number_format) == (1000, "#,##0")
    assert count.data_type == "n"
    assert (rate.value, rate.number_format) == (0.25, "0.00%")
    assert (amount.value, amount.number_format) == (150001, "#,##0")
    assert received.is_date
    assert received.number_format == "dd/mm/yyyy"
    assert received.value == datetime(2023, 11, 2)
    assert paid_at.is_date
    assert paid_at.number_format == "dd/mm/yyyy hh:mm"
    assert paid_at.value == datetime(2023, 11, 2, 3, 30)  # Asia/Ho_Chi_Minh
    assert paid.value == "Không"
    assert data["H3"].value == "Có"
    assert reasons.value == "amount_mismatch; not_on_national"
    assert note.value is None
    # Formula injection: strings are never formulas in the workbook.
    assert data["A3"].value == "=1+1"
    assert data["A3"].data_type == "s"
    assert data["J3"].value == "+84 912"
    assert data["E4"].value is None
    # XlsxWriter writes adjacent columns of one width as one range (A:B, the two texts).
    assert data.column_dimensions["A"].width > 30
    assert data.column_dimensions["E"].width > 18
    assert data.column_dimensions["E"].width < 30


async def test_xlsx_summary_sheet_says_where_the_data_come_from(tmp_path: Path) -> None:
    for lang, labels in (
        ("vi", ("Tỉnh", "Lần đối soát", "Dữ liệu tính đến (giờ Việt Nam)",
                "Thời điểm xuất (giờ Việt Nam)", "Tổng số hồ sơ", "Tỷ lệ đồng bộ")),
        ("en", ("Province", "Reconciliation run", "Data as of (Vietnam time)",
                "Generated at (Vietnam time)", "Dossiers", "Synced")),
    ):  # fmt: skip
        path = tmp_path / f"{lang}.xlsx"
        await write_xlsx(path, META, [sheet([dossier(1), dossier(2)])], lang)  # type: ignore[arg-type]
        book = openpyxl.load_workbook(path)
        summary = book.worksheets[0]
        assert summary.title == ("Tổng hợp" if lang == "vi" else "Summary")
        assert summary["A1"].value == META.title_vi if lang == "vi" else META.title_en
        values = summary_values(summary)
        province, run, as_of, generated, dossiers, synced = labels
        assert values[province] == "H53"
        assert values[run] == "run-42"
        assert values[as_of] == datetime(2023, 12, 1, 0, 30)
        assert values[generated] == datetime(2023, 12, 1, 9, 15)
        assert values["agency"] == "000.00.15.H53"
        assert values["period_from"] == "2023-11-01"
        assert values[dossiers] == 3
        assert values[synced] == 0.875
        rows_label = "Số dòng: Hồ sơ chưa đồng bộ" if lang == "vi" else "Rows: Dossiers not synced"
        assert values[rows_label] == 2
        cells = {row[0].value: row[1] for row in summary.iter_rows() if row[0].value}
        assert cells[as_of].number_format == "dd/mm/yyyy hh:mm"
        assert cells[synced].number_format == "0.00%"
        data = book.worksheets[1]
        assert [c.value for c in data[1]] == [c.header(lang) for c in COLUMNS]  # type: ignore[arg-type]
        assert data["H2"].value == ("Không" if lang == "vi" else "No")
        assert book.properties.created == datetime(2023, 12, 1, 2, 15)


async def test_xlsx_is_byte_identical_for_the_same_inputs(tmp_path: Path) -> None:
    rows = [dossier(i) for i in range(2500)]  # more than one batch
    first, second = tmp_path / "1.xlsx", tmp_path / "2.xlsx"
    await write_xlsx(first, META, [sheet(rows), sheet(rows[:10])], "vi")
    await asyncio.sleep(1.1)  # a clock read anywhere would now differ
    await write_xlsx(second, META, [sheet(rows), sheet(rows[:10])], "vi")
    assert first.read_bytes() == second.read_bytes()
    later = replace(META, generated_at=datetime(2023, 12, 2, tzinfo=UTC))
    third = tmp_path / "3.xlsx"
    await write_xlsx(third, later, [sheet(rows), sheet(rows[:10])], "vi")
    assert third.read_bytes() != first.read_bytes()
    book = openpyxl.load_workbook(first)
    assert book.sheetnames == ["Tổng hợp", "Hồ sơ chưa đồng bộ", "Hồ sơ chưa đồng bộ (2)"]
    assert book.worksheets[1].max_row == 2501


def test_sheet_names_are_legal_and_unique() -> None:
    taken: set[str] = set()
    assert sheet_name("Thủ tục: [chưa] đồng bộ / tỉnh?", taken) == "Thủ tục   chưa  đồng bộ   tỉnh"
    long = "Chi nhánh Văn phòng Đăng ký đất đai huyện Tân Hồng"
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) == 31
    assert len(second) <= 31
    assert first != second
    assert second.endswith("(2)")
    assert sheet_name("'History'", taken) != "History"
    assert sheet_name("", taken) == "Sheet"


async def test_csv_has_bom_headers_and_guards_formulas() -> None:
    rows = [
        dossier(1, agency=CHI_NHANH),
        dossier(2, code="=1+1", note="@SUM(A1)", count=-5),
        dossier(3, code="-2+3", note="\tcmd", rate=0.1 + 0.2),
    ]
    chunks = [chunk async for chunk in csv_chunks(META, sheet(rows), "vi")]
    body = b"".join(chunks)
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    assert table[0] == [c.header_vi for c in COLUMNS]
    assert len(table) == 4
    first = dict(zip(table[0], table[1], strict=True))
    assert first["Cơ quan"] == CHI_NHANH
    assert first["Số tiền"] == "150001"
    assert first["Ngày tiếp nhận"] == "02/11/2023"
    assert first["Thời điểm thanh toán"] == "02/11/2023 03:30"
    assert first["Tỷ lệ"] == "0.25"
    assert first["Đã thanh toán"] == "Không"
    assert first["Lý do"] == "amount_mismatch; not_on_national"
    assert first["Ghi chú"] == ""
    second = dict(zip(table[0], table[2], strict=True))
    assert second["Mã hồ sơ"] == "'=1+1"
    assert second["Ghi chú"] == "'@SUM(A1)"
    assert second["Số lần"] == "-5"  # a number is not guarded
    assert second["Đã thanh toán"] == "Có"
    third = dict(zip(table[0], table[3], strict=True))
    assert third["Mã hồ sơ"] == "'-2+3"
    assert third["Ghi chú"] == "'\tcmd"
    assert third["Tỷ lệ"] == "0.3"
    english = b"".join([c async for c in csv_chunks(META, sheet(rows[:1]), "en")])
    assert english[3:].decode().splitlines()[0].split(",")[:3] == [
        "Dossier code",
        "Agency",
        "Count",
    ]


async def test_csv_streams_in_chunks_without_reading_everything_first() -> None:
    consumed = 0

    async def counted() -> AsyncIterator[Mapping[str, Any]]:
        nonlocal consumed
        for i in range(20_000):
            consumed += 1
            yield dossier(i)

    stream = csv_chunks(META, Sheet("a", "a", COLUMNS, counted()), "vi")
    first = await anext(stream)
    assert first.startswith(b"\xef\xbb\xbf")
    assert consumed < 20_000  # the first chunk left before the last row was read
    rest = [chunk async for chunk in stream]
    assert consumed == 20_000
    assert b"".join([first, *rest]).count(b"\r\n") == 20_001


def group(row: Mapping[str, Any]) -> tuple[str, str]:
    return row["agency_code"], row["agency"]


async def test_zip_one_workbook_per_group_and_a_summary(tmp_path: Path) -> None:
    agencies = [("000.00.15.H53", SO_TNMT, 1200), ("000.20.31.H53", CHI_NHANH, 7), ("X/1", "Đ", 1)]
    rows = [
        dossier(i, agency=name, agency_code=code)
        for code, name, count in agencies
        for i in range(count)
    ]
    path = tmp_path / "out.zip"
    groups = await write_zip(path, META, sheet(rows), group, "vi")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == [
            "000.00.15.H53-so-tai-nguyen-va-moi-truong.xlsx",
            "000.20.31.H53-chi-nhanh-van-phong-dang-ky-dat-dai-huye.xlsx",
            "X-1-d.xlsx",
            "tong-hop.xlsx",
        ]
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
        assert {info.date_time for info in archive.infolist()} == {(2023, 12, 1, 9, 15, 0)}
        counted = 0
        for name, (code, agency, count) in zip(names, agencies, strict=False):
            book = openpyxl.load_workbook(io.BytesIO(archive.read(name)))
            data = book.worksheets[1]
            assert data.max_row - 1 == count
            counted += data.max_row - 1
            assert {row[1] for row in data.iter_rows(min_row=2, values_only=True)} == {agency}
            values = summary_values(book.worksheets[0])
            assert values["Đơn vị"] == f"{code} — {agency}"
            assert values["Lần đối soát"] == "run-42"
        assert counted == len(rows)
        summary = openpyxl.load_workbook(io.BytesIO(archive.read("tong-hop.xlsx")))
        listed = list(summary.worksheets[1].iter_rows(values_only=True))
    assert listed[0] == ("Mã", "Tên", "Tệp", "Số dòng", "Tổng: Số tiền")
    assert [row[:4] for row in listed[1:]] == [
        (code, name, entry, count)
        for (code, name, count), entry in zip(agencies, names, strict=False)
    ]
    assert listed[2][4] == sum(150000 + i for i in range(7))
    assert [g.rows for g in groups] == [1200, 7, 1]
    again = tmp_path / "again.zip"
    await write_zip(again, META, sheet(rows), group, "vi")
    assert again.read_bytes() == path.read_bytes()


async def test_zip_in_english_names_its_summary_so(tmp_path: Path) -> None:
    rows = [dossier(1, agency_code="A", agency=SO_TNMT)]
    path = tmp_path / "en.zip"
    await write_zip(path, META, sheet(rows), group, "en")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["A-so-tai-nguyen-va-moi-truong.xlsx", "summary.xlsx"]
        book = openpyxl.load_workbook(io.BytesIO(archive.read("summary.xlsx")))
    assert next(book.worksheets[1].iter_rows(values_only=True))[:2] == ("Code", "Name")
    assert book.worksheets[1]["B2"].value == SO_TNMT


async def test_zip_refuses_a_group_that_comes_back(tmp_path: Path) -> None:
    rows = [
        dossier(1, agency_code="A", agency="a"),
        dossier(2, agency_code="B", agency="b"),
        dossier(3, agency_code="A", agency="a"),
    ]
    with pytest.raises(GroupOrderError, match="'A' arrived again"):
        await write_zip(tmp_path / "bad.zip", META, sheet(rows), group, "vi")


def test_slug_folds_vietnamese_to_ascii() -> None:
    assert slug("Sở Tài nguyên và Môi trường") == "so-tai-nguyen-va-moi-truong"
    assert slug("ĐẮK LẮK — Đăng ký") == "dak-lak-dang-ky"
    decomposed = unicodedata.normalize("NFD", "Tân Hồng")
    assert slug(decomposed) == "tan-hong"
    assert len(slug(CHI_NHANH)) <= 40


async def test_decomposed_text_is_written_nfc(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", CHI_NHANH)
    assert decomposed != CHI_NHANH
    path = tmp_path / "nfc.xlsx"
    await write_xlsx(path, META, [sheet([dossier(1, agency=decomposed)])], "vi")
    assert openpyxl.load_workbook(path).worksheets[1]["B2"].value == CHI_NHANH


FORMATS = ("xlsx", "csv")


@pytest.mark.parametrize(
    ("format_param", "accept", "allowed", "expected"),
    [
        (None, None, FORMATS, "json"),
        ("xlsx", None, FORMATS, "xlsx"),
        ("XLSX", "application/json", FORMATS, "xlsx"),  # the parameter wins
        ("json", XLSX_MEDIA_TYPE, FORMATS, "json"),
        ("", "text/csv", FORMATS, "csv"),  # an empty parameter is no parameter
        (None, XLSX_MEDIA_TYPE, FORMATS, "xlsx"),
        (None, "text/csv", FORMATS, "csv"),
        (None, "*/*", FORMATS, "json"),
        (None, "text/html,application/xhtml+xml,*/*;q=0.8", FORMATS, "json"),  # a browser
        (None, f"text/csv;q=0.5, {XLSX_MEDIA_TYPE};q=0.9", FORMATS, "xlsx"),
        (None, f"text/csv;q=0.9, {XLSX_MEDIA_TYPE};q=0.5", FORMATS, "csv"),
        (None, "application/json;q=0.1, text/csv", FORMATS, "csv"),
        (None, "*/*, text/csv", FORMATS, "csv"),  # the more specific at the same q
        (None, "text/csv;q=0, */*;q=0.1", FORMATS, "json"),  # q=0 is "not this"
        (None, "text/csv;q=abc", FORMATS, "json"),  # a malformed q is skipped
        (None, "application/zip", FORMATS, "json"),  # not offered here: disregarded
        (None, "application/zip", ("zip",), "zip"),
        (None, "application/x-zip-compressed", ("zip",), "zip"),
    ],
)
def test_negotiate_format(
    format_param: str | None, accept: str | None, allowed: tuple[str, ...], expected: str
) -> None:
    assert negotiate_format(format_param, accept, allowed) == expected


@pytest.mark.parametrize(("format_param", "allowed"), [("zip", FORMATS), ("pdf", FORMATS)])
def test_a_format_not_offered_is_a_bad_request_naming_the_offered(
    format_param: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(BadRequest) as raised:
        negotiate_format(format_param, XLSX_MEDIA_TYPE, allowed)
    assert raised.value.status == 400
    assert raised.value.extra["allowed"] == ["json", "xlsx", "csv"]
    assert "json, xlsx, csv" in raised.value.detail


@pytest.mark.parametrize(
    ("lang_param", "accept_language", "expected"),
    [
        (None, None, "vi"),
        ("en", "vi", "en"),
        ("VI", "en", "vi"),
        ("fr", "en", "en"),  # not a language of ours: as if absent
        (None, "en-US,en;q=0.9", "en"),
        (None, "vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "vi"),
        (None, "fr-FR, en;q=0.5", "en"),
        (None, "en;q=0.4, vi;q=0.6", "vi"),
        (None, "en;q=0, fr", "vi"),
        (None, "*, en;q=0.5", "vi"),
        (None, "de, ja", "vi"),
    ],
)
def test_negotiate_lang(lang_param: str | None, accept_language: str | None, expected: str) -> None:
    assert negotiate_lang(lang_param, accept_language) == expected


def test_negotiate_lang_honours_the_default() -> None:
    assert negotiate_lang(None, "de", default="en") == "en"
    assert negotiate_lang(None, None, default="en") == "en"


async def test_a_list_longer_than_excel_allows_goes_on_in_a_second_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.exports.xlsx.EXCEL_MAX_ROWS", 5)  # a header and 4 rows a sheet
    path = tmp_path / "long.xlsx"
    stats = await write_xlsx(path, META, [sheet([dossier(i) for i in range(10)])], "en")
    assert stats[0].rows == 10
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Dossiers not synced", "Dossiers not synced (2)",
                               "Dossiers not synced (3)"]  # fmt: skip
    parts = book.worksheets[1:]
    assert [ws.max_row for ws in parts] == [5, 5, 3]
    assert all(ws["A1"].value == "Dossier code" for ws in parts)
    assert all(ws.freeze_panes == "A2" for ws in parts)
    codes = [row[0] for ws in parts for row in ws.iter_rows(min_row=2, values_only=True)]
    assert codes == [f"H53.{i:06d}" for i in range(10)]
    assert summary_values(book.worksheets[0])["Rows: Dossiers not synced"] == 10


async def test_values_that_do_not_fit_their_kind_stay_text(tmp_path: Path) -> None:
    rows = [
        dossier(1, amount="1.000", count=float("nan"), received="2023-11-05",
                paid_at="2023-11-05T18:00:00+00:00", paid="?"),
    ]  # fmt: skip
    path = tmp_path / "odd.xlsx"
    await write_xlsx(path, META, [sheet(rows)], "vi")
    data = openpyxl.load_workbook(path).worksheets[1]
    assert (data["E2"].value, data["E2"].data_type) == ("1.000", "s")
    assert data["C2"].value is None
    assert data["F2"].value == datetime(2023, 11, 5)
    assert data["G2"].value == datetime(2023, 11, 6, 1, 0)
    assert data["H2"].value == "?"
    table = b"".join([c async for c in csv_chunks(META, sheet(rows), "vi")]).decode()
    fields = next(csv.reader(io.StringIO(table.splitlines()[1])))
    assert fields[2:8] == ["", "0.25", "1.000", "05/11/2023", "06/11/2023 01:00", "?"]


async def test_empty_exports_are_well_formed(tmp_path: Path) -> None:
    await write_xlsx(tmp_path / "empty.xlsx", META, [sheet([])], "vi")
    data = openpyxl.load_workbook(tmp_path / "empty.xlsx").worksheets[1]
    assert [c.value for c in data[1]] == [c.header_vi for c in COLUMNS]
    assert data.max_row == 1
    assert await write_zip(tmp_path / "empty.zip", META, sheet([]), group, "vi") == []
    with zipfile.ZipFile(tmp_path / "empty.zip") as archive:
        assert archive.namelist() == ["tong-hop.xlsx"]

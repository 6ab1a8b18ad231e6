"""Exports as HTTP answers: a tiny FastAPI app negotiating and answering as the list endpoints
will, called through httpx's ASGI transport."""

from __future__ import annotations

import csv
import gc
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import openpyxl
import pytest
from fastapi import FastAPI, Header, Query, Response

from app.errors import install_error_handlers
from app.exports import Sheet, export_response, negotiate_format, negotiate_lang
from app.exports.responses import TemporaryFileResponse, content_disposition
from tests.unit.test_exports import CHI_NHANH, COLUMNS, META, SO_TNMT, dossier

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STEM = "Hồ sơ chưa đồng bộ H53"
ROWS = 2500


async def rows() -> AsyncIterator[Mapping[str, Any]]:
    for i in range(ROWS):
        code, name = ("A", SO_TNMT) if i < 2000 else ("B", CHI_NHANH)
        yield dossier(i, agency=name, agency_code=code)


def app() -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)

    @application.get("/dossiers", response_model=None)
    async def dossiers(
        format: str | None = Query(None),
        lang: str | None = Query(None),
        accept: str | None = Header(None),
        accept_language: str | None = Header(None),
    ) -> Response | dict[str, Any]:
        fmt = negotiate_format(format, accept, ("xlsx", "csv", "zip"))
        chosen = negotiate_lang(lang, accept_language)
        if fmt == "json":
            return {"items": []}
        sheet = Sheet("Hồ sơ", "Dossiers", COLUMNS, rows())
        return await export_response(
            fmt, META, [sheet], STEM, chosen, group_of=lambda r: (r["agency_code"], r["agency"])
        )

    @application.get("/procedures", response_model=None)
    async def procedures(format: str | None = Query(None)) -> dict[str, Any]:
        negotiate_format(format, None, ("xlsx", "csv"))
        return {"items": []}

    return application


@pytest.fixture
def temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every temporary file of the test goes under ``tmp_path/t``, to be counted."""
    directory = tmp_path / "t"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def disposition_names(header: str) -> tuple[str, str]:
    parts = dict(part.strip().split("=", 1) for part in header.split(";")[1:])
    assert header.startswith("attachment;")
    assert parts["filename*"].startswith("UTF-8''")
    return parts["filename"].strip('"'), unquote(parts["filename*"][len("UTF-8''") :])


async def test_xlsx_answer_and_its_temporary_file_removed(
    client: httpx.AsyncClient, temporary: Path
) -> None:
    response = await client.get("/dossiers", params={"format": "xlsx", "lang": "en"})
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    ascii_name, name = disposition_names(response.headers["content-disposition"])
    assert ascii_name == "Ho-so-chua-dong-bo-H53.xlsx"
    assert name == f"{STEM}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Summary", "Dossiers"]
    assert book["Dossiers"].max_row == ROWS + 1
    assert leftovers(temporary) == []


async def test_csv_answer_streams_with_bom(client: httpx.AsyncClient, temporary: Path) -> None:
    response = await client.get("/dossiers", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.content[3:].decode(), newline="")))
    assert table[0][1] == "Cơ quan"  # Vietnamese by default
    assert len(table) == ROWS + 1
    assert disposition_names(response.headers["content-disposition"])[1] == f"{STEM}.csv"
    assert leftovers(temporary) == []


async def test_zip_answer(client: httpx.AsyncClient, temporary: Path) -> None:
    response = await client.get(
        "/dossiers", params={"format": "zip"}, headers={"Accept-Language": "en-US,en;q=0.9"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == [
            "A-so-tai-nguyen-va-moi-truong.xlsx",
            "B-chi-nhanh-van-phong-dang-ky-dat-dai-huye.xlsx",
            "summary.xlsx",
        ]
    assert leftovers(temporary) == []


async def test_json_by_default_and_a_format_not_offered_is_a_problem(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/dossiers")).json() == {"items": []}
    answer = await client.get("/dossiers", headers={"Accept": "*/*"})
    assert answer.headers["content-type"] == "application/json"
    refused = await client.get("/procedures", params={"format": "zip"})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["allowed"] == ["json", "xlsx", "csv"]
    assert "json, xlsx, csv" in problem["detail"]


def test_content_disposition_has_an_ascii_name_and_the_vietnamese_one() -> None:
    header = content_disposition(f"Thủ tục chưa đồng bộ — {CHI_NHANH}.xlsx")
    ascii_name, name = disposition_names(header)
    assert (
        ascii_name == "Thu-tuc-chua-dong-bo-Chi-nhanh-Van-phong-Dang-ky-dat-dai-huyen-Tan-Hong.xlsx"
    )
    assert name == f"Thủ tục chưa đồng bộ — {CHI_NHANH}.xlsx"
    assert header.isascii()
    assert content_disposition('a"b\\c.csv').split(";")[1] == ' filename="a-b-c.csv"'


async def test_temporary_file_removed_when_the_client_goes_away(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"x" * (3 * 64 * 1024))
    response = TemporaryFileResponse(str(path), media_type=XLSX, headers={})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and sent:
            raise OSError("connection reset by peer")
        sent.append(message)

    scope = {"type": "http", "method": "GET", "headers": [], "asgi": {"spec_version": "2.4"}}
    with pytest.raises(OSError, match="reset"):
        await response(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start"
    assert not path.exists()


def test_temporary_file_removed_when_the_answer_is_never_sent(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(b"PK")
    response = TemporaryFileResponse(str(path), media_type="application/zip", headers={})
    assert path.exists()
    del response
    gc.collect()
    assert not path.exists()


async def test_a_failed_export_leaves_no_file(temporary: Path) -> None:
    async def broken() -> AsyncIterator[Mapping[str, Any]]:
        yield dossier(1)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        await export_response("xlsx", META, [Sheet("a", "a", COLUMNS, broken())], "x", "vi")
    assert leftovers(temporary) == []

"""``recon export`` and ``recon report monthly`` against a mocked service (respx): the file's name,
where it goes, errors as exit codes, no half file, and the key sent but never shown."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import Result
from typer.testing import CliRunner

from app.cli import cli
from app.export_client import filename_from_disposition, safe_filename
from app.exports.responses import content_disposition

URL = "http://recon.test"
KEY = "rk_test_" + "s3cr3t" * 4
VIETNAMESE = "Thủ tục chưa đồng bộ H53.zip"
ZIP_BODY = b"PK\x03\x04" + b"\x00" * 2048
PROBLEM = {
    "type": "/problems/forbidden",
    "title": "Forbidden",
    "status": 403,
    "detail": "This key sees agency 000.00.15.H53 only; the province-wide list is not for it.",
}


@pytest.fixture
def service() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


def run(*args: str, key: str | None = KEY) -> Result:
    env = {"RECON_URL": URL, **({"RECON_API_KEY": key} if key else {})}
    return CliRunner().invoke(cli, list(args), env=env)


def files_in(directory: Path) -> list[str]:
    """Every entry, hidden ones too: a temporary file left behind would show here."""
    return sorted(path.name for path in directory.iterdir())


def test_the_file_is_named_by_content_disposition_in_vietnamese(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    route = service.get("/procedures/unsynced").respond(
        200,
        content=ZIP_BODY,
        headers={
            "content-type": "application/zip",
            "content-disposition": content_disposition(VIETNAMESE),
        },
    )
    result = run(
        "export",
        "procedures/unsynced",
        "--format",
        "zip",
        "-p",
        "level=tinh",
        "--out",
        f"{tmp_path}/",
    )
    assert result.exit_code == 0, result.output
    assert files_in(tmp_path) == [VIETNAMESE]
    assert (tmp_path / VIETNAMESE).read_bytes() == ZIP_BODY
    assert result.stdout.strip() == str(tmp_path / VIETNAMESE)
    request = route.calls.last.request
    assert dict(request.url.params) == {"level": "tinh", "format": "zip"}
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_out_names_the_file_or_a_directory_to_create(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    service.get("/procedures/unsynced").respond(
        200, content=b"xlsx bytes", headers={"content-disposition": content_disposition("a.xlsx")}
    )
    mine = tmp_path / "mine.xlsx"
    assert run("export", "procedures/unsynced", "--out", str(mine)).exit_code == 0
    assert mine.read_bytes() == b"xlsx bytes"

    # An existing directory, and one written with a trailing slash (created), get the name the
    # service gives.
    assert run("export", "/procedures/unsynced", "--out", str(tmp_path)).exit_code == 0
    assert (tmp_path / "a.xlsx").read_bytes() == b"xlsx bytes"
    assert run("export", "procedures/unsynced", "--out", f"{tmp_path}/new/deeper/").exit_code == 0
    assert files_in(tmp_path / "new" / "deeper") == ["a.xlsx"]
    assert files_in(tmp_path) == ["a.xlsx", "mine.xlsx", "new"]


def test_a_name_from_the_service_cannot_leave_the_directory(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    service.get("/kpi/overdue").respond(
        200,
        content=b"x",
        headers={"content-disposition": "attachment; filename*=UTF-8''..%2F..%2Fevil.csv"},
    )
    result = run("export", "kpi/overdue", "--format", "csv", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.iterdir()
    assert written.parent == tmp_path
    assert "/" not in written.name
    assert not written.name.startswith(".")


def test_without_content_disposition_the_path_names_the_file(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    service.get("/kpi/overdue").respond(200, content=b"x")
    assert run("export", "kpi/overdue", "--format", "csv", "--out", str(tmp_path)).exit_code == 0
    assert files_in(tmp_path) == ["overdue.csv"]


def test_a_streamed_csv_without_length_is_written_whole(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(100):
            yield f"row {number}\n".encode()

    service.get("/procedures/synced").mock(
        return_value=httpx.Response(
            200,
            content=chunks(),
            headers={"content-disposition": content_disposition("Đã đồng bộ.csv")},
        )
    )
    result = run(
        "export", "procedures/synced", "--format", "csv", "--lang", "en", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "Đã đồng bộ.csv").read_text().count("\n") == 100
    assert service.calls.last.request.url.params["lang"] == "en"


def test_a_problem_is_printed_as_title_and_detail_and_exits_1(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    service.get("/procedures/unsynced").respond(
        403, json=PROBLEM, headers={"content-type": "application/problem+json"}
    )
    result = run("export", "procedures/unsynced", "--out", f"{tmp_path}/")
    assert result.exit_code == 1
    assert f"{PROBLEM['title']}: {PROBLEM['detail']}" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert KEY not in result.output
    assert files_in(tmp_path) == []


def test_a_validation_problem_names_the_fields(service: respx.MockRouter, tmp_path: Path) -> None:
    service.get("/procedures/unsynced").respond(
        422,
        json={
            "type": "/problems/validation",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "1 invalid parameter or field.",
            "errors": [{"location": ["query", "level"], "message": "bad", "type": "literal"}],
        },
        headers={"content-type": "application/problem+json"},
    )
    result = run("export", "procedures/unsynced", "-p", "level=tỉnh", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "query.level: bad" in result.output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_connection_refused_exits_2_with_a_readable_message(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(
        cli,
        ["export", "procedures/unsynced", "--url", url, "--key", KEY, "--out", str(tmp_path)],
    )
    assert result.exit_code == 2, result.output
    assert f"cannot connect to {url}" in result.output
    assert "Traceback" not in result.output
    assert KEY not in result.output
    assert files_in(tmp_path) == []


def test_an_answer_cut_short_leaves_no_file(service: respx.MockRouter, tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"PK\x03\x04 the first part"
        raise httpx.ReadError("connection reset by peer")

    service.get("/procedures/unsynced").mock(
        return_value=httpx.Response(
            200,
            content=broken(),
            headers={"content-disposition": content_disposition(VIETNAMESE)},
        )
    )
    result = run("export", "procedures/unsynced", "--format", "zip", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "connection reset by peer" in result.output
    assert files_in(tmp_path) == []


def test_the_key_option_is_sent_as_bearer_and_never_shown(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    route = service.get("/procedures/unsynced").respond(200, content=b"x")
    result = CliRunner().invoke(
        cli,
        ["export", "procedures/unsynced", "--url", URL, "--key", KEY, "--out", str(tmp_path)],
        env={"RECON_API_KEY": ""},
    )
    assert result.exit_code == 0, result.output
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in result.output
    # No key at all: no Authorization header (the service answers 401 itself).
    route.calls.reset()
    assert run("export", "procedures/unsynced", "--out", str(tmp_path), key=None).exit_code == 0
    assert "authorization" not in route.calls.last.request.headers


def test_a_full_url_as_path_is_refused_before_any_request(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    result = run("export", "https://elsewhere.test/procedures/unsynced", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert not service.calls


def test_report_monthly_freezes_then_downloads(service: respx.MockRouter, tmp_path: Path) -> None:
    freeze = service.post("/reports/monthly").respond(201, json={"month": "2023-11"})
    get = service.get("/reports/monthly").respond(
        200,
        content=b"workbook",
        headers={"content-disposition": content_disposition("Báo cáo tháng 11-2023.xlsx")},
    )
    result = run(
        "report",
        "monthly",
        "--month",
        "2023-11",
        "--freeze",
        "--allow-incomplete",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "frozen now" in result.output
    assert dict(freeze.calls.last.request.url.params) == {
        "month": "2023-11",
        "allow_incomplete": "true",
    }
    assert dict(get.calls.last.request.url.params) == {"month": "2023-11", "format": "xlsx"}
    assert files_in(tmp_path) == ["Báo cáo tháng 11-2023.xlsx"]

    freeze.respond(200, json={"month": "2023-11"})
    result = run("report", "monthly", "--month", "2023-11", "--freeze", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "already frozen" in result.output
    assert "allow_incomplete" not in freeze.calls.last.request.url.params


def test_report_monthly_refusals_exit_1(service: respx.MockRouter, tmp_path: Path) -> None:
    service.post("/reports/monthly").respond(
        409,
        json={"title": "Conflict", "status": 409, "detail": "2026-12 is not over."},
        headers={"content-type": "application/problem+json"},
    )
    get = service.get("/reports/monthly").respond(
        404,
        json={"title": "Not Found", "status": 404, "detail": "No frozen report for 2023-10."},
        headers={"content-type": "application/problem+json"},
    )
    result = run("report", "monthly", "--month", "2026-12", "--freeze", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "Conflict: 2026-12 is not over." in result.output
    assert not get.calls

    result = run(
        "report", "monthly", "--month", "2023-10", "--format", "json", "--out", str(tmp_path)
    )
    assert result.exit_code == 1
    assert "Not Found: No frozen report for 2023-10." in result.output
    assert "--freeze" in result.output
    assert files_in(tmp_path) == []

    assert run("report", "monthly", "--month", "2023-13").exit_code == 2
    assert run("report", "monthly", "--month", "2023-11", "--allow-incomplete").exit_code == 2


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (content_disposition("Thủ tục chưa đồng bộ H53.xlsx"), "Thủ tục chưa đồng bộ H53.xlsx"),
        ('attachment; filename="plain; name.csv"', "plain; name.csv"),
        ("attachment; filename=bare.csv", "bare.csv"),
        # An undecodable filename* falls back to filename.
        ("attachment; filename=\"ok.zip\"; filename*=UTF-8''%FF%FE.zip", "ok.zip"),
        ("attachment; filename*=unknown-charset''x%41.zip; filename=ok.zip", "ok.zip"),
        ('attachment; filename=".."', None),
        ("attachment", None),
        (None, None),
    ],
)
def test_filename_from_disposition(header: str | None, name: str | None) -> None:
    assert filename_from_disposition(header) == name


def test_safe_filename_keeps_the_extension_within_255_bytes() -> None:
    long = safe_filename("Đ" * 300 + ".xlsx")
    assert long is not None
    assert long.endswith(".xlsx")
    assert len(long.encode()) <= 255
    assert safe_filename("a\\b/c\x00d.csv") == "a_b_c_d.csv"


def test_an_answer_in_another_format_is_refused_and_not_written(
    service: respx.MockRouter, tmp_path: Path
) -> None:
    # An endpoint that offers no files ignores ?format= and answers its JSON.
    service.get("/runs").respond(200, json={"items": [], "next_cursor": None})
    result = run("export", "runs", "--format", "xlsx", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "/runs answered application/json, not xlsx" in result.output
    assert files_in(tmp_path) == []


def test_a_validation_detail_is_not_repeated(service: respx.MockRouter, tmp_path: Path) -> None:
    error = {"location": ["query", "level"], "message": "Input should be 'tinh'", "type": "x"}
    service.get("/procedures/unsynced").respond(
        422,
        json={"title": "Unprocessable Content", "detail": "query.level: Input should be 'tinh'",
              "status": 422, "errors": [error]},
        headers={"content-type": "application/problem+json"},
    )  # fmt: skip
    result = run("export", "procedures/unsynced", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.count("query.level") == 1

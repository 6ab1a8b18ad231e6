"""``recon demo`` end to end (simulated upstreams, the service on SQLite, its subscriber), without
serving on afterwards: it writes the files an agency is sent, and they open."""

from __future__ import annotations

import re
import socket
import zipfile
from pathlib import Path

import openpyxl
import pytest

from app.demo import DEMO_EXPORTS, fresh_database, run_demo

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _data_rows(book: openpyxl.Workbook) -> int:
    """Rows under the header of the workbook's list (its last sheet; the first is the summary)."""
    return len(list(book.worksheets[-1].iter_rows(values_only=True))) - 1


async def test_the_demo_writes_a_zip_of_workbooks_with_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo-exports"
    await run_demo(
        scenario="tay-ninh-2023",
        host="127.0.0.1",
        port=_free_port(),
        sim_port=0,
        database=fresh_database(tmp_path / "demo.db"),
        latency_ms=0,
        out=out,
        serve=False,
    )
    printed = capsys.readouterr().out

    written = sorted(out.iterdir())
    assert len(written) == len(DEMO_EXPORTS)  # the ZIP and the summary workbook
    assert not [path for path in written if path.name.startswith(".")]  # no temporary file left
    (archive_path,) = [path for path in written if path.suffix == ".zip"]
    with zipfile.ZipFile(archive_path) as archive:
        assert archive.testzip() is None
        workbooks = [name for name in archive.namelist() if name.endswith(".xlsx")]
        per_agency = [name for name in workbooks if name != "tong-hop.xlsx"]
        assert len(per_agency) > 1
        rows = 0
        for name in per_agency:
            with archive.open(name) as member:
                book = openpyxl.load_workbook(member, read_only=True)
                assert _data_rows(book) > 0, name
                rows += _data_rows(book)
    # The province-level list of Tây Ninh: 348 procedures not synced, in one row or more each.
    assert rows >= 348

    (workbook_path,) = [path for path in written if path.suffix == ".xlsx"]
    assert _data_rows(openpyxl.load_workbook(workbook_path, read_only=True)) > 0

    # Where they are, and how to fetch them again (the demo's throwaway key only).
    for path in written:
        assert str(path) in printed
    assert 'curl -fsS -H "Authorization: Bearer $RECON_API_KEY"' in printed
    assert "?format=zip&level=tinh" in printed
    assert "recon export procedures/unsynced --format zip -p level=tinh --out" in printed
    # The console's address and its sign-in link, whole on one line to be copied.
    link = next(line.strip() for line in printed.splitlines() if "/login#key=rk_demo_" in line)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login#key=rk_demo_[\w-]+", link), link

"""Throughput and memory of the export layer: synthetic dossier-like rows (Vietnamese text,
dates, moments, money) to XLSX, CSV and a ZIP of 50 agencies' workbooks.

    uv run python bench/exports.py                     # 10,000 and 300,000 rows
    uv run python bench/exports.py --sizes 10000 --repeat 1

Each (format, size) runs in a fresh process, twice: once plain, for rows/s, the resident set's
growth over the process's start (psutil, sampled every 20 ms) and the event loop's longest stall
(a 10 ms ticker's worst lateness: the writers hand their CPU work to a thread in batches); once
under tracemalloc for its peak of Python allocations. The rows are generated as they are
consumed, as a database cursor would give them, so memory that grows with the size is the
writers'. Flat memory shows as the 300,000-row figures matching the 10,000-row ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.exports import Column, ExportMeta, Sheet, csv_chunks, write_xlsx, write_zip  # noqa: E402

GROUPS = 50
AGENCY_NAMES = [
    "Sở Tài nguyên và Môi trường",
    "Chi nhánh Văn phòng Đăng ký đất đai huyện Tân Hồng",
    "Sở Kế hoạch và Đầu tư",
    "Ủy ban nhân dân huyện Châu Thành",
    "Sở Giao thông Vận tải",
]
PROCEDURES = [
    "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
    "Cấp giấy phép lái xe hạng A1",
    "Đăng ký thành lập doanh nghiệp tư nhân",
    "Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm",
]
PEOPLE = ["Nguyễn Văn Ánh", "Trần Thị Bích Ngọc", "Lê Hoàng Đức", "Phạm Thị Hương Giang"]
COLUMNS = [
    Column("code", "Mã hồ sơ", "Dossier code", "text"),
    Column("agency_code", "Mã cơ quan", "Agency code", "text"),
    Column("agency", "Cơ quan", "Agency", "text"),
    Column("procedure", "Thủ tục", "Procedure", "text"),
    Column("applicant", "Người nộp", "Applicant", "text"),
    Column("received", "Ngày tiếp nhận", "Received on", "date"),
    Column("paid_at", "Thời điểm thanh toán", "Paid at", "datetime"),
    Column("amount", "Số tiền", "Amount", "money"),
    Column("fee_count", "Số khoản phí", "Fees", "int"),
    Column("synced", "Đã đồng bộ", "Synced", "bool"),
    Column("reasons", "Lý do", "Reasons", "text"),
]
META = ExportMeta(
    title_vi="Hồ sơ đã thanh toán chưa đồng bộ",
    title_en="Paid dossiers not synced",
    province_code="H53",
    run_id="bench",
    data_as_of=datetime(2023, 11, 30, 17, tzinfo=UTC),
    generated_at=datetime(2023, 12, 1, 2, tzinfo=UTC),
    filters={"period_from": "2023-11-01", "period_to": "2023-11-30"},
    figures=(("Số hồ sơ", "Dossiers", 0),),
)


async def dossiers(size: int) -> AsyncIterator[Mapping[str, Any]]:
    """``size`` rows ordered by agency (50 agencies, equal shares), made as they are read."""
    rng = random.Random(7)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    for i in range(size):
        agency = i * GROUPS // size
        if i % 1000 == 0:
            await asyncio.sleep(0)  # a cursor's fetch
        yield {
            "code": f"H53.{i:08d}",
            "agency_code": f"000.{agency:02d}.15.H53",
            "agency": f"{AGENCY_NAMES[agency % len(AGENCY_NAMES)]} {agency}",
            "procedure": PROCEDURES[i % len(PROCEDURES)],
            "applicant": PEOPLE[i % len(PEOPLE)],
            "received": date(2023, 1, 1) + timedelta(days=i % 330),
            "paid_at": start + timedelta(minutes=rng.randrange(480_000)),
            "amount": Decimal(rng.randrange(10, 5000) * 1000),
            "fee_count": rng.randrange(1, 4),
            "synced": i % 3 == 0,
            "reasons": ["amount_mismatch"] if i % 2 else ["not_on_national", "no_transaction"],
        }


def sheet(size: int) -> Sheet:
    return Sheet("Hồ sơ", "Dossiers", COLUMNS, dossiers(size))


def size_of(path: Path) -> int:
    return path.stat().st_size


async def export(fmt: str, size: int, path: Path) -> int:
    if fmt == "xlsx":
        await write_xlsx(path, META, [sheet(size)], "vi")
    elif fmt == "zip":
        await write_zip(path, META, sheet(size), lambda r: (r["agency_code"], r["agency"]), "vi")
    else:
        with path.open("wb") as out:
            async for chunk in csv_chunks(META, sheet(size), "vi"):
                out.write(chunk)
    return size_of(path)


class PeakRss:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.start


async def ticker(worst: list[float]) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.01)


async def child(fmt: str, size: int, traced: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        worst = [0.0]
        tick = asyncio.create_task(ticker(worst))
        if traced:
            tracemalloc.start()
        rss = PeakRss()
        started = time.perf_counter()
        written = await export(fmt, size, path)
        wall = time.perf_counter() - started
        growth = rss.stop()
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        tick.cancel()
        return {"wall": wall, "bytes": written, "rss": growth, "peak": peak, "stall": worst[0]}


def run_child(fmt: str, size: int, traced: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", fmt, str(size)] + (
        ["--traced"] if traced else []
    )
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,300000")
    parser.add_argument("--formats", default="xlsx,csv,zip")
    parser.add_argument("--repeat", type=int, default=1, help="plain runs per case (best kept)")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "ROWS"))
    parser.add_argument("--traced", action="store_true")
    args = parser.parse_args()
    if args.child:
        fmt, size = args.child[0], int(args.child[1])
        print(json.dumps(asyncio.run(child(fmt, size, args.traced))))
        return
    print(f"command: uv run python bench/exports.py --sizes {args.sizes} --repeat {args.repeat}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; zip: {GROUPS} agencies")
    print(
        f"{'format':6} {'rows':>8} {'wall s':>7} {'rows/s':>8} {'file MB':>8} "
        f"{'RSS growth MB':>14} {'tracemalloc peak MB':>20} {'worst loop stall ms':>20}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        for fmt in args.formats.split(","):
            plain = min(
                (run_child(fmt, size, False) for _ in range(args.repeat)), key=lambda r: r["wall"]
            )
            traced = run_child(fmt, size, True)
            print(
                f"{fmt:6} {size:8,} {plain['wall']:7.2f} {size / plain['wall']:8,.0f} "
                f"{plain['bytes'] / 2**20:8.1f} {plain['rss'] / 2**20:14.1f} "
                f"{traced['peak'] / 2**20:20.1f} {plain['stall'] * 1000:20.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

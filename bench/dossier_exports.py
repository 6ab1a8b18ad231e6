"""Throughput and memory of a dossier list's export through the real path: the read model
(``app.read.dossiers.mismatches``, paged by ``app.exports.pages``) and the writers, from a SQLite
database seeded with 300,000 open dossier findings (one per dossier, 50 agencies).

    uv run python bench/dossier_exports.py                  # 10,000 and 300,000 rows
    uv run python bench/dossier_exports.py --sizes 10000 --formats csv

The database is seeded once per size; each (format, size) then runs in a fresh process that
calls ``export_worklist`` as the endpoint does and consumes the answer (the CSV's stream to a
file; XLSX and ZIP are written to a temporary file before the answer), printing rows/s and the
resident set's growth over the process's start (psutil, sampled every 20 ms). Flat memory shows
as the 300,000-row growth matching the 10,000-row one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import SQLModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exports import AGENCY_NAMES, GROUPS, PeakRss  # noqa: E402  (bench/ is the script's own)

from app.db import create_engine, create_session_factory  # noqa: E402
from app.exports.dossier_lists import MISMATCHES  # noqa: E402
from app.exports.worklists import export_worklist  # noqa: E402
from app.models import Agency, Dossier, Finding, Run  # noqa: E402
from app.read.dossiers import MismatchesQuery  # noqa: E402

PROVINCE = "H53"
RUN_ID = "00000000-0000-4000-8000-000000000300"
BATCH = 10_000
REASONS = ("amount_mismatch", "dossier_not_synced", "payment_not_recorded")


def _evidence(reason: str, amount: int) -> dict[str, Any]:
    if reason == "amount_mismatch":
        return {
            "field": "SoTien",
            "provincial": {"raw": str(amount), "normalized": amount},
            "national": {"raw": [str(amount + 1000)], "normalized": amount + 1000},
        }
    if reason == "dossier_not_synced":
        return {"field": "MaHoSo", "national": None}
    return {
        "field": "ThanhToan.HinhThuc",
        "provincial": {"raw": "TM", "normalized": "TM"},
        "national": {"verified": [f"GD{amount}"]},
    }


def _agency(i: int, size: int) -> str:
    return f"000.{i * GROUPS // size:02d}.15.{PROVINCE}"


async def seed(url: str, size: int) -> None:
    """``size`` dossiers and one open finding each, as a dossier run leaves them."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    now = datetime(2023, 12, 1, 1, tzinfo=UTC)
    received = datetime(2023, 1, 1, 2, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Run),
            [
                {
                    "id": RUN_ID,
                    "province_code": PROVINCE,
                    "scope": "dossiers",
                    "status": "succeeded",
                    "period_from": date(2023, 1, 1),
                    "period_to": date(2023, 11, 30),
                    "request_key": "bench",
                    "created_at": now,
                    "finished_at": now,
                    "counts": {},
                }
            ],
        )
        await connection.execute(
            insert(Agency),
            [
                {
                    "province_code": PROVINCE,
                    "code": f"000.{g:02d}.15.{PROVINCE}",
                    "raw_code": f"000.{g:02d}.15.{PROVINCE}",
                    "name": f"{AGENCY_NAMES[g % len(AGENCY_NAMES)]} {g}",
                    "level": 2,
                    "updated_at": now,
                }
                for g in range(GROUPS)
            ],
        )
        for start in range(0, size, BATCH):
            dossiers, findings = [], []
            for i in range(start, min(start + BATCH, size)):
                key, reason, amount = f"H53.{i:08d}", REASONS[i % len(REASONS)], 50_000 + i
                agency, at = _agency(i, size), received + timedelta(minutes=i % 480_000)
                dossiers.append(
                    {
                        "province_code": PROVINCE,
                        "key": key,
                        "code": key,
                        "agency_code": agency,
                        "procedure_code": f"1.{i % 900:06d}",
                        "received_at": at,
                        "due_at": at + timedelta(days=15),
                        "fee_bearing": True,
                        "fee_total": amount,
                        "payment_method": "TM" if i % 2 else "DVCQG",
                        "reasons": [reason],
                        "run_id": RUN_ID,
                    }
                )
                findings.append(
                    {
                        "province_code": PROVINCE,
                        "subject_kind": "dossier",
                        "subject_key": key,
                        "agency_code": agency,
                        "reason": reason,
                        "status": "open",
                        "evidence": _evidence(reason, amount),
                        "evidence_hash": f"{i:064d}",
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "first_run_id": RUN_ID,
                        "last_run_id": RUN_ID,
                        "updated_at": now,
                    }
                )
            await connection.execute(insert(Dossier), dossiers)
            await connection.execute(insert(Finding), findings)
    await engine.dispose()


async def child(url: str, fmt: str) -> dict[str, Any]:
    engine = create_engine(url)
    factory = create_session_factory(engine)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"out.{fmt}"
        rss = PeakRss()
        started = time.perf_counter()
        response = await export_worklist(
            factory, PROVINCE, MISMATCHES, MismatchesQuery(), fmt, {"bench": "1"}
        )
        if fmt == "csv":
            with out.open("wb") as sink:
                async for chunk in response.body_iterator:  # type: ignore[attr-defined]
                    sink.write(chunk if isinstance(chunk, bytes) else chunk.encode())
            written = out.stat().st_size
        else:
            path = response.path  # type: ignore[attr-defined]
            written = Path(path).stat().st_size  # noqa: ASYNC240  (one stat of the file)
        wall = time.perf_counter() - started
        growth = rss.stop()
    await engine.dispose()
    return {"wall": wall, "bytes": written, "rss": growth}


def run_child(url: str, fmt: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", url, fmt]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,300000")
    parser.add_argument("--formats", default="csv,xlsx,zip")
    parser.add_argument("--child", nargs=2, metavar=("URL", "FORMAT"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child[0], args.child[1]))))
        return
    print(f"command: uv run python bench/dossier_exports.py --sizes {args.sizes}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {GROUPS} agencies, SQLite")
    print(
        f"{'format':6} {'rows':>8} {'seed s':>7} {'wall s':>7} {'rows/s':>8} {'file MB':>8} "
        f"{'RSS growth MB':>14}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'recon.db'}"
            began = time.perf_counter()
            asyncio.run(seed(url, size))
            seeded = time.perf_counter() - began
            for fmt in args.formats.split(","):
                r = run_child(url, fmt)
                print(
                    f"{fmt:6} {size:8,} {seeded:7.1f} {r['wall']:7.2f} {size / r['wall']:8,.0f} "
                    f"{r['bytes'] / 2**20:8.1f} {r['rss'] / 2**20:14.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

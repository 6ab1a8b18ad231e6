"""An independent, deliberately plain reading of semantics §3–§4 over raw dossier JSON, used only
to check that the simulator's dossier truth (planned facts) is what its wire data actually say.

It shares no code with the simulator nor with the service: it reads P's ``/v1/dossiers`` and
``/v1/agencies``, N's ``ho-so/dong-bo`` and ``thanh-toan/giao-dich`` (over real HTTP, or from any
list of items) and re-derives every reason, figure and set.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx

Item = dict[str, Any]
_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})+|\d+")
_CODE = re.compile(r"^(.+)-(\d{6})-(\d{4})$")
PORTAL_FLAGS = {"1", "2"}
OFFLINE = {"QR_TINH", "CHUYEN_KHOAN", "TIEN_MAT", "POS"}
GRACE = timedelta(minutes=30)


def code(raw: Any) -> str:
    return str(raw or "").strip().upper()


def money(raw: Any) -> int:
    text = str(raw if raw is not None else "").strip()
    return int(text.replace(".", "")) if _MONEY.fullmatch(text) else 0


def moment(raw: Any) -> datetime | None:
    text = str(raw or "").strip()
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        return datetime(
            int(text[:4]), int(text[4:6]), int(text[6:8]),
            int(text[8:10]), int(text[10:12]), int(text[12:]),
        )  # fmt: skip
    except ValueError:
        return None


def code_day(raw: Any) -> date | None:
    match = _CODE.match(code(raw))
    if not match:
        return None
    digits = match.group(2)
    try:
        return date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        return None


def well_formed_for(raw: Any, agency: Any) -> bool:
    match = _CODE.match(code(raw))
    return bool(match) and match.group(1) == code(agency) and code_day(raw) is not None


def fee_sum(item: Item) -> int:
    return sum(money(line.get("Gia")) for line in item.get("DanhSachLePhi") or [])


def as_int(raw: Any) -> int | None:
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


# ---- fetching ----------------------------------------------------------------------------------


@dataclass
class Listings:
    agencies: list[Item]
    provincial: list[Item]
    national: list[Item]
    transactions: list[Item]


def _window(day: date, end: bool = False) -> str:
    return day.strftime("%Y%m%d") + ("235959" if end else "000000")


async def fetch(
    base_url: str,
    *,
    province: str,
    period: tuple[date, date],
    provincial_credentials: tuple[str, str],
    national_credentials: tuple[str, str],
) -> Listings:
    """Every page of the four listings the run needs, over HTTP (one pass each, sequential)."""
    start, end = period
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        p_token = (
            await client.post(
                "/provincial/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": provincial_credentials[0],
                    "client_secret": provincial_credentials[1],
                },
            )
        ).json()["access_token"]
        n_token = (
            await client.post(
                "/national/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=national_credentials,
            )
        ).json()["access_token"]
        p_headers = {"Authorization": f"Bearer {p_token}"}
        n_headers = {"Authorization": f"Bearer {n_token}"}

        async def spring(path: str, params: dict[str, Any]) -> list[Item]:
            items: list[Item] = []
            page = 0
            while True:
                response = await client.get(
                    path, params={**params, "page": page, "size": 1000}, headers=p_headers
                )
                response.raise_for_status()
                body = response.json()
                items.extend(body["content"])
                if body["last"] or not body["content"]:
                    assert len(items) == body["totalElements"]
                    return items
                page += 1

        async def national(path: str, params: dict[str, Any]) -> list[Item]:
            items: list[Item] = []
            index = 1
            while True:
                response = await client.get(
                    path,
                    params={**params, "MaTinh": province, "pageIndex": index, "pageSize": 500},
                    headers=n_headers,
                )
                body = response.json()
                assert body["error_code"] == "0", body
                data = body["result"]["data"]
                if not data:
                    assert len(items) == body["result"]["total"]
                    return items
                items.extend(data)
                index += 1

        window = {"receivedFrom": _window(start), "receivedTo": _window(end, True)}
        return Listings(
            agencies=await spring("/provincial/v1/agencies", {}),
            provincial=await spring("/provincial/v1/dossiers", window),
            national=await national(
                "/national/api/v1/ho-so/dong-bo",
                {"TuNgay": _window(start), "DenNgay": _window(end, True)},
            ),
            transactions=await national(
                "/national/api/v1/thanh-toan/giao-dich",
                {"TuNgay": _window(start), "DenNgay": _window(end + timedelta(days=30), True)},
            ),
        )


def read_pages(page: Callable[[int], list[Item]]) -> list[Item]:
    """Every page of an in-process listing (0-based pages), for the large scenarios."""
    items: list[Item] = []
    index = 0
    while True:
        chunk = page(index)
        if not chunk:
            return items
        items.extend(chunk)
        index += 1


# ---- judging -------------------------------------------------------------------------------------


@dataclass
class Verdict:
    agencies: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    orphans: set[str] = field(default_factory=set)
    overdue: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)

    def group(self, parent_of: dict[str, str]) -> dict[str, tuple[int, int, int, int]]:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for agency, row in self.agencies.items():
            bucket = totals[parent_of.get(agency, agency)]
            for i, value in enumerate(row):
                bucket[i] += value
        return {k: (v[0], v[1], v[2], v[3]) for k, v in totals.items()}

    def province(self) -> tuple[int, int, int, int]:
        sums = [0, 0, 0, 0]
        for row in self.agencies.values():
            for i, value in enumerate(row):
                sums[i] += value
        return (sums[0], sums[1], sums[2], sums[3])


def parents(agencies: Iterable[Item]) -> dict[str, str]:
    """Agency → its top-level unit, following MaDonViCha."""
    parent = {code(a["MaDonVi"]): code(a.get("MaDonViCha")) for a in agencies}
    top: dict[str, str] = {}
    for agency in parent:
        current = agency
        while parent.get(current):
            current = parent[current]
        top[agency] = current
    return top


def _months(start: date, end: date) -> list[tuple[str, datetime, datetime]]:
    result = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        nxt = date(year + month // 12, month % 12 + 1, 1)
        first = datetime(year, month, 1)
        last = datetime(nxt.year, nxt.month, 1) - timedelta(seconds=1)
        result.append((f"{year:04d}-{month:02d}", first, last))
        year, month = nxt.year, nxt.month
    return result


def judge(
    listings: Listings, period: tuple[date, date], run_start: datetime, *, payments: bool = True
) -> Verdict:
    """Everything §3–§4 say; ``payments=False`` keeps only the overdue figures (no N needed)."""
    start = datetime.combine(period[0], datetime.min.time())
    end = datetime.combine(period[1], datetime.min.time()) + timedelta(days=1, seconds=-1)
    cutoff = run_start - GRACE
    in_period = [
        p
        for p in listings.provincial
        if (at := moment(p.get("NgayTiepNhan"))) is not None and start <= at <= end
    ]

    verdict = Verdict()
    if payments:
        _payments(verdict, listings, in_period, start, end, cutoff, period)
    _overdue(verdict, in_period, period)
    return verdict


def _payments(
    verdict: Verdict,
    listings: Listings,
    in_period: list[Item],
    start: datetime,
    end: datetime,
    cutoff: datetime,
    period: tuple[date, date],
) -> None:
    national = {code(n["MaHoSo"]): n for n in listings.national}
    by_ref: dict[str, list[Item]] = defaultdict(list)
    by_code: dict[str, list[Item]] = defaultdict(list)
    for t in listings.transactions:
        ref = str(t.get("MaThamChieu") or "").strip()
        if ref:
            by_ref[ref].append(t)
        by_code[code(t.get("MaHoSo"))].append(t)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    p_refs: set[str] = set()
    p_codes_without_ref: set[str] = set()
    for p in in_period:
        pay = p.get("ThanhToan") or None
        ref = str((pay or {}).get("MaThamChieu") or "").strip()
        if ref:
            p_refs.add(ref)
        else:
            p_codes_without_ref.add(code(p["MaHoSo"]))
        if fee_sum(p) <= 0:
            continue
        key = code(p["MaHoSo"])
        n = national.get(key)
        txs = by_ref.get(ref, []) if ref else by_code.get(key, [])
        verified = [t for t in txs if str(t.get("TrangThaiGD")).strip() == "1"]
        pending = [t for t in txs if str(t.get("TrangThaiGD")).strip() == "3"]
        young = [t for t in pending if (m := moment(t.get("ThoiGianGD"))) and m >= cutoff]
        method = str((pay or {}).get("HinhThuc") or "").strip().upper() if pay else None
        flag = str(n.get("DuocThanhToanTrucTuyen") or "").strip() if n else ""
        reasons: list[str] = []
        if not well_formed_for(p["MaHoSo"], p["MaDonVi"]):
            reasons.append("invalid_dossier_code")
        if n is None:
            reasons.append("dossier_not_synced")
        else:
            if as_int(p.get("TrangThaiHoSo")) != as_int(n.get("TrangThaiHoSo")):
                reasons.append("status_mismatch")
            if fee_sum(p) != fee_sum(n):
                reasons.append("fee_mismatch")
        if method == "DVCQG" and not verified and not young:
            reasons.append("payment_not_on_platform")
        if not verified and pending and not young:
            reasons.append("payment_pending")
        if verified and method != "DVCQG":
            reasons.append("payment_not_recorded")
        if verified:
            expected = money(pay.get("SoTien")) if pay else fee_sum(p)
            if sum(money(t.get("SoTien")) for t in verified) != expected:
                reasons.append("amount_mismatch")
        if n is not None and (flag in PORTAL_FLAGS) != bool(verified):
            reasons.append("online_flag_mismatch")
        if reasons:
            verdict.reasons[key] = tuple(reasons)
        offline = not verified and method in OFFLINE
        if offline:
            verdict.offline.add(key)
        row = counts[code(p["MaDonVi"])]
        row[0] += 1
        row[1] += n is not None and flag in PORTAL_FLAGS
        row[2] += bool(verified)
        row[3] += offline
    verdict.agencies = {k: (v[0], v[1], v[2], v[3]) for k, v in counts.items()}

    for t in listings.transactions:
        at = moment(t.get("ThoiGianGD"))
        if str(t.get("TrangThaiGD")).strip() != "1" or at is None or not start <= at <= end:
            continue
        ref = str(t.get("MaThamChieu") or "").strip()
        if (ref and ref in p_refs) or code(t.get("MaHoSo")) in p_codes_without_ref:
            continue
        dated = code_day(t.get("MaHoSo"))
        if dated is not None and dated < period[0]:
            continue
        verdict.orphans.add(str(t["MaGiaoDich"]))


def _overdue(verdict: Verdict, in_period: list[Item], period: tuple[date, date]) -> None:
    timed = [
        (code(p["MaDonVi"]), moment(p.get("NgayTiepNhan")), due, moment(p.get("NgayKetThucXuLy")))
        for p in in_period
        if (due := moment(p.get("NgayHenTra"))) is not None
    ]
    for label, first, last in _months(*period):
        per_agency: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for agency, received, due, finish in timed:
            row = per_agency[agency]
            if finish is not None and first <= finish <= last:
                row[0] += 1
                row[1] += finish > due
            if (
                received is not None
                and received <= last
                and due < last
                and (finish is None or finish > last)
            ):
                row[2] += 1
        verdict.overdue[label] = {k: (v[0], v[1], v[2]) for k, v in per_agency.items() if any(v)}


def online_figures(
    provincial: Iterable[Item], national: Iterable[Item], period: tuple[date, date]
) -> dict[str, tuple[int, int]]:
    """Agency → (fee-bearing dossiers received in the period, of them portal-counted): the §4
    figure alone, without transactions (for the large scenarios)."""
    start = datetime.combine(period[0], datetime.min.time())
    end = datetime.combine(period[1], datetime.min.time()) + timedelta(days=1, seconds=-1)
    flags = {
        code(n["MaHoSo"]): str(n.get("DuocThanhToanTrucTuyen") or "").strip() for n in national
    }
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in provincial:
        at = moment(p.get("NgayTiepNhan"))
        if at is None or not start <= at <= end or fee_sum(p) <= 0:
            continue
        row = counts[code(p["MaDonVi"])]
        row[0] += 1
        row[1] += flags.get(code(p["MaHoSo"])) in PORTAL_FLAGS
    return {k: (v[0], v[1]) for k, v in counts.items()}

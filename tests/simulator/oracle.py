"""An independent, deliberately plain reading of semantics §1–§2, used only to check that what the
scenario builder planted (its truth) is what the wire data actually say.

It shares no code with the simulator (except the contract's bank table) nor with the service.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.banks import BIN_BY_SHORT_CODE, KNOWN_BINS

Key = tuple[str, str]

_ABBREVIATIONS = (
    ("vp dkdd", "van phong dang ky dat dai"),
    ("vpdkdd", "van phong dang ky dat dai"),
    ("kbnn", "kho bac nha nuoc"),
    ("ubnd", "uy ban nhan dan"),
    ("cn", "chi nhanh"),
    ("ttpvhcc", "trung tam phuc vu hanh chinh cong"),
    ("stnmt", "so tai nguyen va moi truong"),
    ("snnmt", "so nong nghiep va moi truong"),
    ("tp", "thanh pho"),
    ("tx", "thi xa"),
    ("nsnn", "ngan sach nha nuoc"),
)
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})+|\d+")


def code(raw: Any) -> str:
    return str(raw or "").strip().upper()


def account(raw: Any) -> str:
    text = str(raw or "")
    return "".join(
        ch for ch in text if not ch.isspace() and ch not in _INVISIBLE and ch not in ".-"
    ).upper()


def bank(raw: Any) -> str:
    text = str(raw or "").strip().upper()
    return BIN_BY_SHORT_CODE.get(text, text)


def name(raw: Any) -> str:
    text = unicodedata.normalize("NFC", str(raw or ""))
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("đ", "d").replace("Đ", "D").casefold()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    words = " ".join(text.split())
    padded = f" {words} "
    for short, long in _ABBREVIATIONS:
        padded = padded.replace(f" {short} ", f" {long} ")
        padded = padded.replace(f" {short} ", f" {long} ")
    return padded.strip()


def money(raw: Any) -> int | None:
    if not isinstance(raw, str) or not _MONEY.fullmatch(raw.strip()):
        return None
    return int(raw.strip().replace(".", ""))


def parses(raw: Any) -> bool:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return True
    text = str(raw).strip()
    if len(text) != 14 or not text.isdigit():
        return False
    try:
        datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


@dataclass
class Verdict:
    reasons: dict[Key, set[str]] = field(default_factory=dict)
    levels: dict[Key, str] = field(default_factory=dict)
    orphans: set[Key] = field(default_factory=set)
    warnings: set[tuple[str, Key, str]] = field(default_factory=set)

    def summary(self) -> dict[str, tuple[int, int]]:
        per_level: dict[str, dict[str, bool]] = {}
        for key, reasons in self.reasons.items():
            procs = per_level.setdefault(self.levels[key], {})
            procs[key[0]] = procs.get(key[0], True) and not reasons
        return {lvl: (len(p), sum(p.values())) for lvl, p in per_level.items()}


def judge(
    procedures: list[dict[str, Any]],
    payment_infos: list[dict[str, Any]],
    stats: list[dict[str, Any]],
) -> Verdict:
    verdict = Verdict()
    national = {(code(n["MaTTHC"]), code(n["MaDonVi"])): n for n in payment_infos}
    with_fee_dossiers = {code(s["MaTTHC"]) for s in stats if int(s["SoHoSoCoPhi"]) >= 1}
    for n_key, n in national.items():
        if str(n.get("TrangThaiDongBo")) not in {"0", "1", "2"}:
            verdict.warnings.add(("national.thong-tin-thu-huong", n_key, "TrangThaiDongBo"))
        for field_ in ("NgayCapNhat", "NgayDongBo"):
            if not parses(n.get(field_)):
                verdict.warnings.add(("national.thong-tin-thu-huong", n_key, field_))
    fee_keys: set[Key] = set()
    for p in procedures:
        key = (code(p["MaTTHC"]), code(p["MaDonVi"]))
        amounts = []
        for line in p["DanhSachLePhi"]:
            value = money(line["Gia"])
            if value is None:
                verdict.warnings.add(("provincial.procedures", key, "Gia"))
            amounts.append(value or 0)
        if not parses(p.get("NgayCapNhat")):
            verdict.warnings.add(("provincial.procedures", key, "NgayCapNhat"))
        if not any(a > 0 for a in amounts):
            continue
        fee_keys.add(key)
        verdict.levels[key] = p["CapThucHien"]
        verdict.reasons[key] = _reasons(p, national.get(key), key[0] in with_fee_dossiers)
    verdict.orphans = set(national) - fee_keys
    return verdict


def _reasons(p: dict[str, Any], n: dict[str, Any] | None, fee_dossier: bool) -> set[str]:
    reasons: set[str] = set()
    info = p.get("ThongTinThuHuong")
    p_account = account(info.get("TKThuHuong")) if info else ""
    missing = not p_account
    if missing:
        reasons.add("missing_payment_info")
    else:
        assert info is not None
        if not (p_account.isdigit() and 6 <= len(p_account) <= 20):
            reasons.add("invalid_account")
        p_bank = bank(info.get("MaNHThuHuong"))
        if not p_bank or p_bank not in KNOWN_BINS:
            reasons.add("unknown_bank")
    if n is None:
        reasons.add("not_on_national")
    else:
        if n.get("TrangThai") != "1":
            reasons.add("inactive_on_national")
        if not missing:
            assert info is not None
            if account(info.get("TKThuHuong")) != account(n.get("TKThuHuong")):
                reasons.add("account_mismatch")
            if bank(info.get("MaNHThuHuong")) != bank(n.get("MaNHThuHuong")):
                reasons.add("bank_mismatch")
            if name(info.get("TenTKThuHuong")) != name(n.get("TenTKThuHuong")):
                reasons.add("beneficiary_mismatch")
            if account(info.get("TaiKhoanThuNSNN")) != account(n.get("TaiKhoanThuNSNN")):
                reasons.add("treasury_mismatch")
        state = n.get("TrangThaiDongBo")
        if state == "2":
            reasons.add("sync_failed")
        elif state != "1":
            reasons.add("sync_pending")
    if not fee_dossier:
        reasons.add("no_fee_dossier_synced")
    return reasons

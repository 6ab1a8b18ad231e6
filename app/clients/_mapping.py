"""Wire items → typed records. Upstream field names live here and nowhere else."""

from __future__ import annotations

from typing import Any

from app.domain.records import DataQualityWarning, FeeLine, PaymentInfo
from app.domain.values import is_unparseable_time, parse_money


def text(value: Any) -> str:
    return "" if value is None else str(value)


def optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def item_key(*codes: Any) -> str:
    return "|".join(text(code).strip().upper() for code in codes)


def fee_lines(raw: Any) -> tuple[FeeLine, ...]:
    if not isinstance(raw, list):
        return ()
    lines = []
    for fee in raw:
        if not isinstance(fee, dict):
            continue
        amount_raw = text(fee.get("Gia"))
        lines.append(
            FeeLine(
                code=text(fee.get("MaPhiLePhi")),
                name=text(fee.get("TenPhiLePhi")),
                amount_raw=amount_raw,
                amount=parse_money(fee.get("Gia")),
                kind=text(fee.get("LoaiPhiLePhi")),
            )
        )
    return tuple(lines)


def payment_info(raw: Any) -> PaymentInfo:
    return PaymentInfo(
        account=optional_text(raw.get("TKThuHuong")),
        bank=optional_text(raw.get("MaNHThuHuong")),
        beneficiary_name=optional_text(raw.get("TenTKThuHuong")),
        treasury_branch=optional_text(raw.get("KhoBac")),
        treasury_account=optional_text(raw.get("TaiKhoanThuNSNN")),
    )


def time_warning(listing: str, key: str, field: str, raw: Any) -> list[DataQualityWarning]:
    return [bad_time(listing, key, field, raw)] if is_unparseable_time(raw) else []


def bad_time(listing: str, key: str, field: str, raw: Any) -> DataQualityWarning:
    return DataQualityWarning(listing, key, field, text(raw), "not a yyyyMMddHHmmss time")


def missing_key_warning(listing: str, item: Any, fields: tuple[str, ...]) -> DataQualityWarning:
    shown = {f: item.get(f) for f in fields} if isinstance(item, dict) else {}
    return DataQualityWarning(
        listing, "", "/".join(fields), str(shown)[:200], "item without its key fields was skipped"
    )

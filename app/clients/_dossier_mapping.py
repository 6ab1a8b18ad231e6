"""Wire dossier items (P ``/v1/dossiers``, N ``ho-so/dong-bo`` and ``thanh-toan/giao-dich``) →
typed records, with a data-quality warning for every value the contract does not allow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.clients import _mapping as m
from app.domain.dossiers import (
    DossierPayment,
    NationalDossier,
    PaymentTransaction,
    ProvincialDossier,
)
from app.domain.normalize import normalize_code
from app.domain.records import DataQualityWarning, FeeLine
from app.domain.values import parse_local_time, parse_money

Mapped = tuple[str, Any] | None


def _money_warnings(listing: str, key: str, field: str, raw: Any) -> list[DataQualityWarning]:
    if raw is None or (isinstance(raw, str) and not raw.strip()) or parse_money(raw) is not None:
        return []
    return [DataQualityWarning(listing, key, field, m.text(raw)[:100], "not an amount")]


def _fee_warnings(listing: str, key: str, fees: tuple[FeeLine, ...]) -> list[DataQualityWarning]:
    return [
        DataQualityWarning(listing, key, "DanhSachLePhi.Gia", f.amount_raw[:100], "not an amount")
        for f in fees
        if f.amount is None
    ]


def _time(
    listing: str, key: str, raw: dict[str, Any], field: str, warnings: list[DataQualityWarning]
) -> datetime | None:
    """A time field, parsed once; present but unparseable is a data-quality warning."""
    value = raw.get(field)
    moment = parse_local_time(value)
    if moment is None and isinstance(value, str) and value.strip():
        warnings.append(m.bad_time(listing, key, field, value))
    return moment


def _channel(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _dossier_key(
    listing: str, raw: Any, warnings: list[DataQualityWarning]
) -> tuple[str, str, tuple[FeeLine, ...]] | None:
    """``MaHoSo`` (as served, and normalized as the key) and the fee lines, both sides alike."""
    code = m.text(raw.get("MaHoSo")) if isinstance(raw, dict) else ""
    if not code.strip():
        warnings.append(m.missing_key_warning(listing, raw, ("MaHoSo",)))
        return None
    key = normalize_code(code)
    fees = m.fee_lines(raw.get("DanhSachLePhi"))
    warnings.extend(_fee_warnings(listing, key, fees))
    return code, key, fees


def provincial_dossier(
    listing: str, raw: Any, warnings: list[DataQualityWarning]
) -> tuple[str, ProvincialDossier] | None:
    keyed = _dossier_key(listing, raw, warnings)
    if keyed is None:
        return None
    code, key, fees = keyed
    received_at = _time(listing, key, raw, "NgayTiepNhan", warnings)
    due_at = _time(listing, key, raw, "NgayHenTra", warnings)
    finished_at = _time(listing, key, raw, "NgayKetThucXuLy", warnings)
    payment = None
    pay = raw.get("ThanhToan")
    if isinstance(pay, dict):
        warnings.extend(_money_warnings(listing, key, "ThanhToan.SoTien", pay.get("SoTien")))
        reference = m.text(pay.get("MaThamChieu")).strip()
        payment = DossierPayment(
            method=m.text(pay.get("HinhThuc")).strip(),
            amount_raw=m.text(pay.get("SoTien")),
            amount=parse_money(pay.get("SoTien")),
            reference=reference or None,
            paid_at_raw=m.text(pay.get("NgayThanhToan")),
        )
    synced = raw.get("DaDongBo")
    record = ProvincialDossier(
        code=code,
        agency_code=normalize_code(m.text(raw.get("MaDonVi"))),
        procedure_code=normalize_code(m.text(raw.get("MaTTHC"))),
        channel=_channel(raw.get("KenhThucHien")),
        received_at=received_at,
        due_at=due_at,
        finished_at=finished_at,
        status_raw=m.text(raw.get("TrangThaiHoSo")).strip(),
        fees=fees,
        payment=payment,
        believes_synced=synced if isinstance(synced, bool) else None,
    )
    return key, record


def national_dossier(
    listing: str, raw: Any, warnings: list[DataQualityWarning]
) -> tuple[str, NationalDossier] | None:
    keyed = _dossier_key(listing, raw, warnings)
    if keyed is None:
        return None
    code, key, fees = keyed
    flag = m.text(raw.get("DuocThanhToanTrucTuyen")).strip()
    if flag not in ("1", "2", "3", ""):
        warnings.append(
            DataQualityWarning(
                listing, key, "DuocThanhToanTrucTuyen", flag[:20], "unknown flag (not counted)"
            )
        )
    record = NationalDossier(
        code=code,
        status_raw=m.text(raw.get("TrangThaiHoSo")).strip(),
        fees=fees,
        online_flag=flag,
        synced_at_raw=m.text(raw.get("NgayDongBo")),
    )
    return key, record


def transaction(
    listing: str, raw: Any, warnings: list[DataQualityWarning]
) -> tuple[str, PaymentTransaction] | None:
    transaction_id = m.text(raw.get("MaGiaoDich")).strip() if isinstance(raw, dict) else ""
    if not transaction_id:
        warnings.append(m.missing_key_warning(listing, raw, ("MaGiaoDich",)))
        return None
    warnings.extend(_money_warnings(listing, transaction_id, "SoTien", raw.get("SoTien")))
    at = _time(listing, transaction_id, raw, "ThoiGianGD", warnings)
    state = m.text(raw.get("TrangThaiGD")).strip()
    if state not in ("1", "3", "4"):
        warnings.append(
            DataQualityWarning(listing, transaction_id, "TrangThaiGD", state[:20], "unknown state")
        )
    reference = m.text(raw.get("MaThamChieu")).strip()
    record = PaymentTransaction(
        transaction_id=transaction_id,
        reference=reference or None,
        dossier_code=m.text(raw.get("MaHoSo")),
        agency_code=normalize_code(m.text(raw.get("MaDonVi"))),
        amount_raw=m.text(raw.get("SoTien")),
        amount=parse_money(raw.get("SoTien")),
        state=state,
        at=at,
        channel=m.text(raw.get("KenhThanhToan")).strip(),
    )
    return transaction_id, record

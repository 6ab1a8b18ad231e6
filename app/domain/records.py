"""Typed records the clients hand to the rest of the service.

English names only: the vendors' field names (``MaTTHC``, ``TKThuHuong`` …) stay inside
``app/clients``. Raw strings are kept beside parsed values because findings show both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class ListingName(StrEnum):
    """Every listing read from an upstream, by the one name that runs (``listings``), warnings,
    logs and metrics use. A ``str``: stored and compared as the plain name."""

    PROVINCIAL_AGENCIES = "provincial.agencies"
    PROVINCIAL_PROCEDURES = "provincial.procedures"
    PROVINCIAL_DOSSIERS = "provincial.dossiers"
    NATIONAL_PAYMENT_INFO = "national.payment_info"
    NATIONAL_PROCEDURE_STATS = "national.procedure_stats"
    NATIONAL_SYNCED_DOSSIERS = "national.synced_dossiers"
    NATIONAL_TRANSACTIONS = "national.transactions"


@dataclass(frozen=True, slots=True)
class Period:
    """Two local dates, both inclusive (semantics §0)."""

    start: date
    end: date


class FeeLine(NamedTuple):
    """One ``DanhSachLePhi`` line. A named tuple: a province-year of dossiers builds millions."""

    code: str
    name: str
    amount_raw: str
    amount: int | None  # None: not an amount (data-quality warning, counts as 0)
    kind: str  # LoaiPhiLePhi: "1" fee, "2" charge, "3" other obligation


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """Beneficiary details (P's ``ThongTinThuHuong`` / the same fields on N), raw as received."""

    account: str | None  # TKThuHuong
    bank: str | None  # MaNHThuHuong
    beneficiary_name: str | None  # TenTKThuHuong
    treasury_branch: str | None  # KhoBac: shown, never compared
    treasury_account: str | None  # TaiKhoanThuNSNN


@dataclass(frozen=True, slots=True)
class Agency:
    code: str  # MaDonVi, raw
    name: str
    level: int  # CapDonVi: 1 province department, 2 district, 3 commune
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class ProvincialProcedure:
    """One item of P's ``/v1/procedures``: a (procedure, agency) configuration."""

    procedure_code: str  # MaTTHC, raw
    service_code: str  # MaDVC
    procedure_name: str
    agency_code: str  # MaDonVi, raw
    level: str  # CapThucHien: "tinh", "huyen", "xa"
    fees: tuple[FeeLine, ...]
    payment_info: PaymentInfo | None
    updated_at_raw: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class NationalPaymentInfo:
    """One item of N's ``thanh-toan/thong-tin-thu-huong``."""

    procedure_code: str
    agency_code: str
    payment_info: PaymentInfo
    status: str  # TrangThai: "1" active, "0" inactive
    sync_status: str  # TrangThaiDongBo: "1" synced, "0" waiting, "2" failed
    sync_error: str  # LoiDongBo
    synced_at_raw: str
    updated_at_raw: str


@dataclass(frozen=True, slots=True)
class ProcedureStat:
    """One item of N's ``ho-so/thong-ke-tthc`` for a period."""

    procedure_code: str
    synced_dossiers: int
    fee_dossiers: int
    online_paid_dossiers: int


@dataclass(frozen=True, slots=True)
class DataQualityWarning:
    """A value the contract does not allow; the item is kept and the run records this."""

    listing: str  # e.g. "provincial.procedures"
    key: str  # the item's key, e.g. "1.004227|000.00.15.H53"
    field: str  # upstream field name, so the vendor can find it
    value: str
    message: str


@dataclass(slots=True)
class Listing(Generic[T]):
    """The outcome of reading one upstream listing with the paging-pass rule (README).

    ``complete`` is True only when a pass's distinct keys equal the total its last page reported.
    An incomplete listing still carries what was read (for display), never for resolving findings.
    """

    name: str
    items: list[T] = field(default_factory=list)
    complete: bool = False
    reported_total: int | None = None
    passes: int = 0
    error: str | None = None  # why it is incomplete, in words an operator can act on
    warnings: list[DataQualityWarning] = field(default_factory=list)

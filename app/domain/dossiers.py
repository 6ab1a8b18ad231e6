"""Dossier records as the clients hand them over (semantics §3); vendor names stay in clients.

Each record round-trips through a plain dict (``to_row``/``from_row``) because a run stages
hundreds of thousands of them in the database instead of holding them in memory. They are
named tuples rather than frozen dataclasses for the same reason: as immutable, and several
times cheaper to build.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from app.domain.records import FeeLine


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _fees_row(fees: tuple[FeeLine, ...]) -> list[list[Any]]:
    return [list(f) for f in fees]


def _fees(rows: Any) -> tuple[FeeLine, ...]:
    return tuple(FeeLine._make(row) for row in rows or ())


def plain(value: Any) -> Any:
    """A record as JSON-ready data: named tuples become objects with their English field names,
    times ISO 8601 strings."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {name: plain(item) for name, item in value._asdict().items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def fee_total(fees: tuple[FeeLine, ...]) -> int:
    """Sum of ``Gia``; a value that is not an amount counts as 0 (and is warned about)."""
    return sum(f.amount or 0 for f in fees)


class DossierPayment(NamedTuple):
    """P's ``ThanhToan``."""

    method: str  # HinhThuc: DVCQG, QR_TINH, CHUYEN_KHOAN, TIEN_MAT, POS (raw, trimmed)
    amount_raw: str
    amount: int | None
    reference: str | None  # MaThamChieu, trimmed; None when absent or empty
    paid_at_raw: str


class ProvincialDossier(NamedTuple):
    code: str  # MaHoSo as P serves it
    agency_code: str  # MaDonVi, normalized
    procedure_code: str
    channel: int | None
    received_at: datetime | None
    due_at: datetime | None
    finished_at: datetime | None
    status_raw: str
    fees: tuple[FeeLine, ...]
    payment: DossierPayment | None
    believes_synced: bool | None

    @property
    def fee_bearing(self) -> bool:
        return any((f.amount or 0) > 0 for f in self.fees)

    def to_row(self) -> dict[str, Any]:
        payment = self.payment
        return {
            "c": self.code,
            "a": self.agency_code,
            "p": self.procedure_code,
            "ch": self.channel,
            "r": _time(self.received_at),
            "d": _time(self.due_at),
            "f": _time(self.finished_at),
            "s": self.status_raw,
            "fees": _fees_row(self.fees),
            "pay": None
            if payment is None
            else [
                payment.method,
                payment.amount_raw,
                payment.amount,
                payment.reference,
                payment.paid_at_raw,
            ],
            "sync": self.believes_synced,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProvincialDossier:
        pay = row["pay"]
        return cls(
            code=row["c"],
            agency_code=row["a"],
            procedure_code=row["p"],
            channel=row["ch"],
            received_at=_parse(row["r"]),
            due_at=_parse(row["d"]),
            finished_at=_parse(row["f"]),
            status_raw=row["s"],
            fees=_fees(row["fees"]),
            payment=None if pay is None else DossierPayment(*pay),
            believes_synced=row["sync"],
        )


class NationalDossier(NamedTuple):
    """N's ``ho-so/dong-bo`` item."""

    code: str
    status_raw: str
    fees: tuple[FeeLine, ...]
    online_flag: str  # DuocThanhToanTrucTuyen: "1", "2", "3" or "" (raw, trimmed)
    synced_at_raw: str

    def to_row(self) -> dict[str, Any]:
        return {
            "c": self.code,
            "s": self.status_raw,
            "fees": _fees_row(self.fees),
            "o": self.online_flag,
            "sy": self.synced_at_raw,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> NationalDossier:
        return cls(row["c"], row["s"], _fees(row["fees"]), row["o"], row["sy"])


class PaymentTransaction(NamedTuple):
    """N's ``thanh-toan/giao-dich`` item."""

    transaction_id: str  # MaGiaoDich
    reference: str | None  # MaThamChieu
    dossier_code: str  # MaHoSo as declared to the platform
    agency_code: str
    amount_raw: str
    amount: int | None
    state: str  # TrangThaiGD: "1" success, "3" pending, "4" failed
    at: datetime | None  # ThoiGianGD
    channel: str  # KenhThanhToan

    @property
    def verified(self) -> bool:
        return self.state == "1"

    @property
    def pending(self) -> bool:
        return self.state == "3"

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.transaction_id,
            "ref": self.reference,
            "c": self.dossier_code,
            "a": self.agency_code,
            "mr": self.amount_raw,
            "m": self.amount,
            "st": self.state,
            "t": _time(self.at),
            "k": self.channel,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PaymentTransaction:
        return cls(
            transaction_id=row["id"],
            reference=row["ref"],
            dossier_code=row["c"],
            agency_code=row["a"],
            amount_raw=row["mr"],
            amount=row["m"],
            state=row["st"],
            at=_parse(row["t"]),
            channel=row["k"],
        )


def dossier_link(code: str) -> str:
    """``/dossiers/{code}`` with the code percent-encoded once, whatever it holds (``/``,
    ``?``, ``#``, ``%``, spaces, Vietnamese letters): ``GET /dossiers/{code:path}`` gets it
    decoded exactly once, by the server, and opens it."""
    return f"/dossiers/{quote(code, safe='')}"

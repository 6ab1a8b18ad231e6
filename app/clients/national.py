"""N: the national portal through the provincial gateway (``error_code`` envelope, 1-based
pages, OAuth2 with HTTP Basic credentials)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from app.clients import _dossier_mapping as dm
from app.clients import _mapping as m
from app.clients.base import (
    RETRYABLE_STATUS,
    ListingSink,
    Page,
    StreamedListing,
    TokenRejected,
    UpstreamClient,
    response_json,
)
from app.clients.config import UpstreamSettings
from app.clients.errors import UpstreamRequestError, UpstreamRetryableError
from app.domain.dossiers import NationalDossier, PaymentTransaction
from app.domain.records import (
    DataQualityWarning,
    Listing,
    ListingName,
    NationalPaymentInfo,
    Period,
    ProcedureStat,
)
from app.domain.values import format_local_time, local_day_end, local_day_start

PAYMENT_INFO = ListingName.NATIONAL_PAYMENT_INFO
PROCEDURE_STATS = ListingName.NATIONAL_PROCEDURE_STATS
RETRYABLE_CODES = frozenset({"-1", "99"})
SYNCED_DOSSIERS = ListingName.NATIONAL_SYNCED_DOSSIERS
TRANSACTIONS = ListingName.NATIONAL_TRANSACTIONS
R = TypeVar("R")


class NationalClient(UpstreamClient):
    name = "national"

    def __init__(
        self,
        settings: UpstreamSettings,
        province_code: str,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(settings, http=http)
        self.province_code = province_code

    def _token_request(self) -> dict[str, Any]:
        return {
            "data": {"grant_type": "client_credentials"},
            "auth": (self.settings.client_id, self.settings.client_secret.get_secret_value()),
        }

    def _unwrap(self, response: httpx.Response) -> Any:
        # The gateway itself answers plain HTTP errors; the portal behind it answers 200 + code.
        if response.status_code == 401:
            raise TokenRejected
        if response.status_code in RETRYABLE_STATUS:
            raise UpstreamRetryableError.from_response(self.name, response)
        if response.status_code != 200:
            raise UpstreamRequestError(self.name, f"HTTP {response.status_code}")
        try:
            body = response_json(response)
        except ValueError as exc:
            raise UpstreamRequestError(self.name, "response is not JSON") from exc
        if not isinstance(body, dict):
            raise UpstreamRequestError(self.name, "response is not the error_code envelope")
        code = str(body.get("error_code", "")).strip()
        message = m.text(body.get("message"))
        if code == "0":
            result = body.get("result")
            if not isinstance(result, dict) or not isinstance(result.get("data"), list):
                raise UpstreamRequestError(self.name, "result is not a page")
            return result
        if code == "401":
            raise TokenRejected
        if code in RETRYABLE_CODES:
            raise UpstreamRetryableError(self.name, f"error_code {code} {message}".strip())
        raise UpstreamRequestError(self.name, f"error_code {code!r} {message}".strip())

    async def _page(
        self, path: str, index: int, params: dict[str, Any]
    ) -> tuple[dict[str, Any], int, int]:
        size = self.settings.page_size
        result: dict[str, Any] = await self.get_json(
            path, {"MaTinh": self.province_code, **params, "pageIndex": index, "pageSize": size}
        )
        try:
            total = int(result["total"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamRequestError(self.name, "page without total") from exc
        return result, total, max(math.ceil(total / size), 1)

    async def list_payment_info(self) -> Listing[NationalPaymentInfo]:
        path = "/api/v1/thanh-toan/thong-tin-thu-huong"

        async def fetch(index: int) -> Page[NationalPaymentInfo]:
            result, total, last = await self._page(path, index, {})
            items: list[tuple[str, NationalPaymentInfo]] = []
            warnings: list[DataQualityWarning] = []
            for raw in result["data"]:
                code = m.text(raw.get("MaTTHC")) if isinstance(raw, dict) else ""
                agency = m.text(raw.get("MaDonVi")) if isinstance(raw, dict) else ""
                if not code.strip() or not agency.strip():
                    warnings.append(m.missing_key_warning(PAYMENT_INFO, raw, ("MaTTHC", "MaDonVi")))
                    continue
                key = m.item_key(code, agency)
                warnings.extend(
                    m.time_warning(PAYMENT_INFO, key, "NgayCapNhat", raw.get("NgayCapNhat"))
                )
                record = NationalPaymentInfo(
                    procedure_code=code,
                    agency_code=agency,
                    payment_info=m.payment_info(raw),
                    status=m.text(raw.get("TrangThai")),
                    sync_status=m.text(raw.get("TrangThaiDongBo")),
                    sync_error=m.text(raw.get("LoiDongBo")),
                    synced_at_raw=m.text(raw.get("NgayDongBo")),
                    updated_at_raw=m.text(raw.get("NgayCapNhat")),
                )
                items.append((key, record))
            return Page(items, total, last, warnings)

        return await self.read_listing(PAYMENT_INFO, 1, fetch)

    async def list_procedure_stats(self, period: Period) -> Listing[ProcedureStat]:
        path = "/api/v1/ho-so/thong-ke-tthc"
        window = {
            "TuNgay": format_local_time(local_day_start(period.start)),
            "DenNgay": format_local_time(local_day_end(period.end)),
        }

        async def fetch(index: int) -> Page[ProcedureStat]:
            result, total, last = await self._page(path, index, window)
            items: list[tuple[str, ProcedureStat]] = []
            warnings: list[DataQualityWarning] = []
            for raw in result["data"]:
                code = m.text(raw.get("MaTTHC")) if isinstance(raw, dict) else ""
                if not code.strip():
                    warnings.append(m.missing_key_warning(PROCEDURE_STATS, raw, ("MaTTHC",)))
                    continue
                key = m.item_key(code)
                counts = [
                    _count(raw.get(f))
                    for f in ("SoHoSoDongBo", "SoHoSoCoPhi", "SoHoSoThanhToanTrucTuyen")
                ]
                if None in counts:
                    warnings.append(
                        DataQualityWarning(
                            PROCEDURE_STATS, key, "SoHoSo*", str(raw)[:200], "count is not a number"
                        )
                    )
                synced, fee, online = (c or 0 for c in counts)
                items.append((key, ProcedureStat(code, synced, fee, online)))
            return Page(items, total, last, warnings)

        return await self.read_listing(PROCEDURE_STATS, 1, fetch)

    async def stream_synced_dossiers(
        self, period: Period, sink: ListingSink[NationalDossier]
    ) -> StreamedListing:
        """Dossiers as synced to the portal, received in ``period``, streamed into ``sink``."""
        return await self._stream(
            "/api/v1/ho-so/dong-bo", SYNCED_DOSSIERS, period, dm.national_dossier, sink
        )

    async def stream_transactions(
        self, period: Period, sink: ListingSink[PaymentTransaction]
    ) -> StreamedListing:
        """Payment-platform transactions with ``ThoiGianGD`` in ``period``."""
        return await self._stream(
            "/api/v1/thanh-toan/giao-dich", TRANSACTIONS, period, dm.transaction, sink
        )

    async def _stream(
        self,
        path: str,
        name: str,
        period: Period,
        mapper: Callable[[str, Any, list[DataQualityWarning]], tuple[str, R] | None],
        sink: ListingSink[R],
    ) -> StreamedListing:
        window = {
            "TuNgay": format_local_time(local_day_start(period.start)),
            "DenNgay": format_local_time(local_day_end(period.end)),
        }

        async def fetch(index: int) -> Page[R]:
            result, total, last = await self._page(path, index, window)
            items: list[tuple[str, R]] = []
            warnings: list[DataQualityWarning] = []
            for raw in result["data"]:
                mapped = mapper(name, raw, warnings)
                if mapped is not None:
                    items.append(mapped)
            return Page(items, total, last, warnings)

        return await self.stream_listing(name, 1, fetch, sink)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None

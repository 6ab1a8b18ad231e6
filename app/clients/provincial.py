"""P: the provincial dossier system (Spring pages, 0-based; OAuth2 with form credentials)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

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
from app.clients.errors import UpstreamRequestError, UpstreamRetryableError
from app.domain.dossiers import ProvincialDossier
from app.domain.records import (
    Agency,
    DataQualityWarning,
    Listing,
    ListingName,
    Period,
    ProvincialProcedure,
)
from app.domain.values import format_local_time, local_day_end, local_day_start, parse_local_time

AGENCIES = ListingName.PROVINCIAL_AGENCIES
PROCEDURES = ListingName.PROVINCIAL_PROCEDURES
DOSSIERS = ListingName.PROVINCIAL_DOSSIERS


class ProvincialClient(UpstreamClient):
    name = "provincial"

    def _token_request(self) -> dict[str, Any]:
        return {
            "data": {
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret.get_secret_value(),
            }
        }

    def _unwrap(self, response: httpx.Response) -> Any:
        if response.status_code == 401:
            raise TokenRejected
        if response.status_code in RETRYABLE_STATUS:
            raise UpstreamRetryableError.from_response(self.name, response)
        if response.status_code != 200:
            message = ""
            with contextlib.suppress(ValueError, AttributeError):
                message = str(response.json().get("message", ""))
            raise UpstreamRequestError(self.name, f"HTTP {response.status_code} {message}".strip())
        try:
            body = response_json(response)
        except ValueError as exc:
            raise UpstreamRequestError(self.name, "response is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise UpstreamRequestError(self.name, "response is not a Spring page")
        return body

    async def _page(self, path: str, index: int, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = await self.get_json(
            path, {**params, "page": index, "size": self.settings.page_size}
        )
        return body

    @staticmethod
    def _bounds(body: dict[str, Any]) -> tuple[int, int]:
        try:
            total = int(body["totalElements"])
            total_pages = int(body["totalPages"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamRequestError("provincial", "Spring page without totals") from exc
        return total, max(total_pages - 1, 0)

    async def list_agencies(self) -> Listing[Agency]:
        async def fetch(index: int) -> Page[Agency]:
            body = await self._page("/v1/agencies", index, {})
            total, last = self._bounds(body)
            items: list[tuple[str, Agency]] = []
            warnings: list[DataQualityWarning] = []
            for raw in body["content"]:
                if not isinstance(raw, dict) or not m.text(raw.get("MaDonVi")).strip():
                    warnings.append(m.missing_key_warning(AGENCIES, raw, ("MaDonVi",)))
                    continue
                try:
                    level = int(raw.get("CapDonVi") or 0)
                except (TypeError, ValueError):
                    level = 0
                parent = m.optional_text(raw.get("MaDonViCha"))
                agency = Agency(
                    code=m.text(raw["MaDonVi"]),
                    name=m.text(raw.get("TenDonVi")),
                    level=level,
                    parent_code=parent if parent and parent.strip() else None,
                )
                items.append((m.item_key(agency.code), agency))
            return Page(items, total, last, warnings)

        return await self.read_listing(AGENCIES, 0, fetch)

    async def list_procedures(
        self, updated_since: datetime | None = None
    ) -> Listing[ProvincialProcedure]:
        params = {"updatedSince": format_local_time(updated_since)} if updated_since else {}

        async def fetch(index: int) -> Page[ProvincialProcedure]:
            body = await self._page("/v1/procedures", index, params)
            total, last = self._bounds(body)
            items: list[tuple[str, ProvincialProcedure]] = []
            warnings: list[DataQualityWarning] = []
            for raw in body["content"]:
                record = _procedure(raw)
                if record is None:
                    warnings.append(m.missing_key_warning(PROCEDURES, raw, ("MaTTHC", "MaDonVi")))
                    continue
                key = m.item_key(record.procedure_code, record.agency_code)
                warnings.extend(
                    m.time_warning(PROCEDURES, key, "NgayCapNhat", raw.get("NgayCapNhat"))
                )
                items.append((key, record))
            return Page(items, total, last, warnings)

        return await self.read_listing(PROCEDURES, 0, fetch)

    async def stream_dossiers(
        self, period: Period, sink: ListingSink[ProvincialDossier]
    ) -> StreamedListing:
        """Dossiers received in ``period`` (local days, inclusive), streamed into ``sink``."""
        window = {
            "receivedFrom": format_local_time(local_day_start(period.start)),
            "receivedTo": format_local_time(local_day_end(period.end)),
        }

        async def fetch(index: int) -> Page[ProvincialDossier]:
            body = await self._page("/v1/dossiers", index, window)
            total, last = self._bounds(body)
            items: list[tuple[str, ProvincialDossier]] = []
            warnings: list[DataQualityWarning] = []
            for raw in body["content"]:
                mapped = dm.provincial_dossier(DOSSIERS, raw, warnings)
                if mapped is not None:
                    items.append(mapped)
            return Page(items, total, last, warnings)

        return await self.stream_listing(DOSSIERS, 0, fetch, sink)


def _procedure(raw: Any) -> ProvincialProcedure | None:
    if not isinstance(raw, dict):
        return None
    code, agency = m.text(raw.get("MaTTHC")), m.text(raw.get("MaDonVi"))
    if not code.strip() or not agency.strip():
        return None
    info = raw.get("ThongTinThuHuong")
    return ProvincialProcedure(
        procedure_code=code,
        service_code=m.text(raw.get("MaDVC")),
        procedure_name=m.text(raw.get("TenTTHC")),
        agency_code=agency,
        level=m.text(raw.get("CapThucHien")),
        fees=m.fee_lines(raw.get("DanhSachLePhi")),
        payment_info=m.payment_info(info) if isinstance(info, dict) else None,
        updated_at_raw=m.text(raw.get("NgayCapNhat")),
        updated_at=parse_local_time(raw.get("NgayCapNhat")),
    )

"""One FastAPI app that plays both upstreams: P under ``/provincial``, N under ``/national``.

It follows the vendors' contract (``/work/shared/upstreams``) to the letter — Spring pages and
HTTP 401 on P; the ``error_code`` envelope, 1-based pages and HTTP Basic on the token endpoint on
N — and adds the faults of real upstreams on demand (``Faults``). Test hooks live under
``/_sim``: faults (GET/PUT/PATCH), stats, truth, reset.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from app.simulator.dossiers.render import DossierSet, PagedItems
from app.simulator.faults import Credentials, Faults
from app.simulator.scenarios.plan import JsonDict, Scenario
from app.simulator.scenarios.registry import get_scenario
from app.simulator.wire_time import is_upstream_time, parse_time

PROVINCIAL = "provincial"
NATIONAL = "national"
P_MAX_SIZE = 1000
N_MAX_SIZE = 500
DEFAULT_PAGE_SIZE = 100
_PAGING_PARAMS = frozenset({"page", "size", "pageIndex", "pageSize"})


@dataclass
class _Token:
    system: str
    client_id: str
    expires_at: float
    uses: int = 0


@dataclass
class SimulatorState:
    """Everything the simulated upstreams remember between requests."""

    scenario: Scenario
    faults: Faults
    credentials: Credentials
    rng: random.Random = field(init=False)
    tokens: dict[str, _Token] = field(default_factory=dict)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    responses: dict[str, Counter[str]] = field(default_factory=dict)
    system_requests: Counter[str] = field(default_factory=Counter)  # for streaks
    concurrency_rejections: int = 0
    tokens_issued: Counter[str] = field(default_factory=Counter)
    passes: Counter[str] = field(default_factory=Counter)
    # P's procedures as edited through /_sim/procedures (None: deleted), over the scenario's own
    # (shared by every server of the scenario, so never changed in place). The ground truth
    # does not follow edits.
    procedure_edits: dict[str, JsonDict | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.faults.seed)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        # A new fault setting starts the "first K passes" count (and the streaks) afresh.
        self.passes.clear()
        self.system_requests.clear()

    def reset(self) -> None:
        self.in_flight.clear()
        self.max_in_flight.clear()
        self.requests.clear()
        self.responses.clear()
        self.concurrency_rejections = 0
        self.tokens_issued.clear()
        self.passes.clear()
        self.system_requests.clear()
        self.rng = random.Random(self.faults.seed)

    def procedures(self) -> list[JsonDict]:
        """P's ``/v1/procedures``: the scenario's items with the edits applied (an edited item
        keeps its place; a new one comes last)."""
        if not self.procedure_edits:
            return self.scenario.procedures
        items = []
        for item in self.scenario.procedures:
            key = _procedure_key(item)
            if key in self.procedure_edits:
                edited = self.procedure_edits[key]
                if edited is not None:
                    items.append(edited)
            else:
                items.append(item)
        known = {_procedure_key(item) for item in self.scenario.procedures}
        items += [item for key, item in self.procedure_edits.items() if item and key not in known]
        return items

    def stats(self) -> JsonDict:
        return {
            "requests": dict(self.requests),
            "responses": {label: dict(c) for label, c in self.responses.items()},
            "in_flight": {k: v for k, v in self.in_flight.items() if v},
            "max_in_flight": dict(self.max_in_flight),
            "max_in_flight_overall": max(self.max_in_flight.values(), default=0),
            "concurrency_rejections": self.concurrency_rejections,
            "tokens_issued": dict(self.tokens_issued),
            "passes": dict(self.passes),
        }

    # ---- bookkeeping -------------------------------------------------------------------------

    def record(self, label: str, outcome: str) -> None:
        self.responses.setdefault(label, Counter())[outcome] += 1

    def enter(self, credential: str) -> bool:
        self.in_flight[credential] += 1
        current = self.in_flight[credential]
        self.max_in_flight[credential] = max(self.max_in_flight[credential], current)
        if current > self.faults.max_in_flight:
            self.in_flight[credential] -= 1
            self.concurrency_rejections += 1
            return False
        return True

    def leave(self, credential: str) -> None:
        self.in_flight[credential] -= 1

    def issue_token(self, system: str, client_id: str) -> JsonDict:
        token = f"{system[0]}-{secrets.token_urlsafe(24)}"
        lifetime = float(self.faults.expires_in_s)
        if self.faults.token_ttl_s is not None:
            lifetime = min(lifetime, self.faults.token_ttl_s)
        self.tokens[token] = _Token(system, client_id, time.monotonic() + lifetime)
        self.tokens_issued[system] += 1
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.faults.expires_in_s,
        }

    def token_valid(self, token: str | None, system: str) -> bool:
        info = self.tokens.get(token or "")
        if info is None or info.system != system:
            return False
        info.uses += 1
        if time.monotonic() >= info.expires_at:
            return False
        limit = self.faults.token_max_uses
        return limit is None or info.uses <= limit

    def credential_of(self, token: str | None) -> str:
        info = self.tokens.get(token or "")
        return info.client_id if info else "anonymous"

    def page_order(self, listing: str, pass_key: str, first_page: bool) -> bool:
        """Count passes; True when this page belongs to a pass the fault setting disturbs."""
        if first_page:
            self.passes[pass_key] += 1
            return False
        current = self.passes[pass_key]
        return 1 <= current <= self.faults.shift_passes


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _pass_key(listing: str, request: Request) -> str:
    params = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in _PAGING_PARAMS
    )
    return listing + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")


Selection = list[JsonDict] | PagedItems


def _page_of(items: Selection, index: int, size: int, shifted: bool) -> list[JsonDict]:
    """A page of a listing held in memory, or of one rendered on demand (dossiers)."""
    if isinstance(items, list):
        return _slice(items, index, size, shifted)
    return items.page(index, size, shifted)


async def _dossiers_of(state: SimulatorState) -> DossierSet | None:
    """The scenario's dossiers; planned off the event loop the first time they are asked for."""
    source = state.scenario.dossier_source
    if source is None:
        return None
    return source.get() if source.ready else await asyncio.to_thread(source.get)


def _window(request: Request, first: str, last: str) -> tuple[int, int] | str:
    """Both bounds of a date window (``yyyyMMddHHmmss``, inclusive), or what is wrong."""
    from_ = parse_time(request.query_params.get(first, ""))
    to = parse_time(request.query_params.get(last, ""))
    if from_ is None or to is None:
        return f"{first} and {last} must be yyyyMMddHHmmss"
    if from_ > to:
        return f"{first} must be <= {last}"
    return from_, to


def _slice(items: Sequence[JsonDict], index: int, size: int, shifted: bool) -> list[JsonDict]:
    ordered = list(items)
    if shifted and index > 0 and ordered:
        # The last item moved to the front after the first page was read: the pass sees one item
        # twice and never sees another; totals do not change, so a complete read detects it.
        ordered = [ordered[-1], *ordered[:-1]]
    return ordered[index * size : (index + 1) * size]


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


async def _read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _retry_after(state: SimulatorState) -> dict[str, str]:
    return {"Retry-After": str(state.faults.retry_after_s)}


async def _latency(state: SimulatorState) -> None:
    delay = state.faults.latency_ms
    if state.faults.latency_jitter_ms:
        delay += state.rng.randint(0, state.faults.latency_jitter_ms)
    if delay:
        await asyncio.sleep(delay / 1000)


def _gateway_faults(state: SimulatorState, listing: str, page: int) -> Response | None:
    """429/503 as the load balancer in front of either system answers them (plain bodies), and
    the streaks of a bad minute: N's "99" inside its envelope, P's 502."""
    faults = state.faults
    system = listing.split(".", 1)[0]
    number = state.system_requests[system]
    state.system_requests[system] += 1
    streak = faults.in_streak(number)
    if streak is not None:
        kind = streak % 3
        if kind == 0:
            return PlainTextResponse(
                "Too Many Requests", status_code=429, headers=_retry_after(state)
            )
        if kind == 1:
            return PlainTextResponse(
                "Service Unavailable", status_code=503, headers=_retry_after(state)
            )
        if system == NATIONAL:
            return _envelope(None, "99", "Hệ thống đang bận")
        return PlainTextResponse("Bad Gateway", status_code=502)
    if faults.failing(listing, page):
        return PlainTextResponse(
            "Service Unavailable", status_code=503, headers=_retry_after(state)
        )
    if faults.rate_429 and state.rng.random() < faults.rate_429:
        return PlainTextResponse("Too Many Requests", status_code=429, headers=_retry_after(state))
    if faults.rate_503 and state.rng.random() < faults.rate_503:
        return PlainTextResponse(
            "Service Unavailable", status_code=503, headers=_retry_after(state)
        )
    return None


HUGE_TOTAL = 10**8
DEEP_NESTING = 100_000
_PAD_CHUNK = b" " * (1024 * 1024)


def _misbehaving(state: SimulatorState, listing: str, body: JsonDict) -> Response:
    """The page as a misbehaving upstream sends it: whole (``JSONResponse``) unless the
    listing's mode says otherwise. Bodies are generated as they are sent, never held whole."""
    mode = state.faults.misbehaviour(listing)
    if mode == "deep_json":
        nested = b"[" * DEEP_NESTING + b"]" * DEEP_NESTING
        return Response(nested, media_type="application/json")
    if mode == "padded":
        size = state.faults.pad_bytes

        async def padded() -> AsyncIterator[bytes]:
            yield orjson.dumps(body)
            for _ in range(size // len(_PAD_CHUNK)):
                yield _PAD_CHUNK
            yield b" " * (size % len(_PAD_CHUNK))

        return StreamingResponse(padded(), media_type="application/json")
    if mode == "trickle":
        every = state.faults.trickle_interval_s

        async def trickle() -> AsyncIterator[bytes]:
            for byte in orjson.dumps(body):
                yield bytes([byte])
                await asyncio.sleep(every)

        return StreamingResponse(trickle(), media_type="application/json")
    return JSONResponse(body)


# ------------------------------------------------------------------------------------------------
# P — provincial dossier system
# ------------------------------------------------------------------------------------------------


def _spring_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "error": error, "message": message}, status_code=status)


def _provincial_router(state: SimulatorState) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        label = "provincial.token"
        state.requests[label] += 1
        form = await _read_form(request)
        creds = state.credentials
        if form.get("grant_type") != "client_credentials":
            state.record(label, "400")
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != (
            creds.provincial_client_id,
            creds.provincial_client_secret,
        ):
            state.record(label, "401")
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        state.record(label, "200")
        return JSONResponse(state.issue_token(PROVINCIAL, creds.provincial_client_id))

    async def listing(
        request: Request, name: str, items: Callable[[Request], Selection | Response]
    ) -> Response:
        state.requests[name] += 1
        token = _bearer(request)
        credential = state.credential_of(token)
        if not state.enter(credential):
            state.record(name, "429")
            message = f"at most {state.faults.max_in_flight} concurrent requests per client"
            return JSONResponse(
                {"status": 429, "error": "Too Many Requests", "message": message},
                status_code=429,
                headers=_retry_after(state),
            )
        try:
            response = await _serve_provincial(state, request, name, token, items)
        finally:
            state.leave(credential)
        state.record(name, str(response.status_code))
        return response

    @router.get("/v1/agencies")
    async def agencies(request: Request) -> Response:
        return await listing(request, "provincial.agencies", lambda _: state.scenario.agencies)

    @router.get("/v1/procedures")
    async def procedures(request: Request) -> Response:
        return await listing(request, "provincial.procedures", _procedures_since)

    def _procedures_since(request: Request) -> list[JsonDict] | Response:
        since = request.query_params.get("updatedSince", "").strip()
        if not since:
            return state.procedures()
        if not is_upstream_time(since):
            return _spring_error(400, "Bad Request", "updatedSince must be yyyyMMddHHmmss")
        # An item whose NgayCapNhat does not parse cannot be compared: better sent than lost.
        return [
            item
            for item in state.procedures()
            if not is_upstream_time(item["NgayCapNhat"])
            or str(item["NgayCapNhat"]).strip() >= since
        ]

    # --- DOSSIERS: GET /v1/dossiers?receivedFrom&receivedTo[&updatedSince] ----------------------
    # Rendered page by page from the scenario's compact plan (app.simulator.dossiers.render); a
    # scenario without dossiers answers 501 rather than an empty listing.
    @router.get("/v1/dossiers")
    async def dossiers(request: Request) -> Response:
        planned = await _dossiers_of(state)
        if planned is None:
            state.requests["provincial.dossiers"] += 1
            return _spring_error(501, "Not Implemented", "dossiers are not simulated")

        def received(request: Request) -> Selection | Response:
            window = _window(request, "receivedFrom", "receivedTo")
            if isinstance(window, str):
                return _spring_error(400, "Bad Request", window)
            raw_since = request.query_params.get("updatedSince", "").strip()
            since = parse_time(raw_since) if raw_since else None
            if raw_since and since is None:
                return _spring_error(400, "Bad Request", "updatedSince must be yyyyMMddHHmmss")
            assert planned is not None
            return planned.provincial(window[0], window[1], since)

        return await listing(request, "provincial.dossiers", received)

    return router


async def _serve_provincial(
    state: SimulatorState,
    request: Request,
    name: str,
    token: str | None,
    items: Callable[[Request], Selection | Response],
) -> Response:
    if not state.token_valid(token, PROVINCIAL):
        return JSONResponse({"error": "invalid_token"}, status_code=401)
    page = _int_param(request, "page", 0)
    size = _int_param(request, "size", DEFAULT_PAGE_SIZE)
    if page is None or page < 0:
        return _spring_error(400, "Bad Request", "page must be >= 0")
    if size is None or size < 1:
        return _spring_error(400, "Bad Request", "size must be >= 1")
    if size > P_MAX_SIZE:
        return _spring_error(400, "Bad Request", f"size must be <= {P_MAX_SIZE}")
    selected = items(request)
    if isinstance(selected, Response):
        return selected
    await _latency(state)
    fault = _gateway_faults(state, name, page)
    if fault is not None:
        return fault
    shifted = state.page_order(name, _pass_key(name, request), first_page=page == 0)
    total = len(selected)
    content = _page_of(selected, page, size, shifted)
    mode = state.faults.misbehaviour(name)
    if mode == "endless":
        # Always one more page, filled with items already served (the listing never adds up).
        total = (page + 2) * size
        content = content or _page_of(
            selected, page % max(math.ceil(len(selected) / size), 1), size, False
        )
    elif mode == "huge_total":
        total = HUGE_TOTAL
    total_pages = math.ceil(total / size)
    return _misbehaving(
        state,
        name,
        {
            "content": content,
            "number": page,
            "size": size,
            "totalElements": total,
            "totalPages": total_pages,
            "last": page >= total_pages - 1,
        },
    )


# ------------------------------------------------------------------------------------------------
# N — national portal, through the integration gateway
# ------------------------------------------------------------------------------------------------


def _envelope(result: Any, error_code: str = "0", message: str = "") -> JSONResponse:
    return JSONResponse({"error_code": error_code, "message": message, "result": result})


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


_N_WINDOW_ERRORS: Final = {
    "TuNgay and DenNgay must be yyyyMMddHHmmss": "TuNgay và DenNgay phải có dạng yyyyMMddHHmmss",
    "TuNgay must be <= DenNgay": "TuNgay phải nhỏ hơn hoặc bằng DenNgay",
}


def _national_router(state: SimulatorState) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        label = "national.token"
        state.requests[label] += 1
        form = await _read_form(request)
        creds = state.credentials
        if form.get("grant_type") != "client_credentials":
            state.record(label, "400")
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if _basic_auth(request) != (creds.national_client_id, creds.national_client_secret):
            state.record(label, "401")
            return JSONResponse(
                {"error": "invalid_client"},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="gateway"'},
            )
        state.record(label, "200")
        return JSONResponse(state.issue_token(NATIONAL, creds.national_client_id))

    async def listing(
        request: Request, name: str, items: Callable[[Request], Selection | str]
    ) -> Response:
        state.requests[name] += 1
        token = _bearer(request)
        credential = state.credential_of(token)
        if not state.enter(credential):
            state.record(name, "429")
            return PlainTextResponse(
                "Too Many Requests", status_code=429, headers=_retry_after(state)
            )
        try:
            response, outcome = await _serve_national(state, request, name, token, items)
        finally:
            state.leave(credential)
        state.record(name, outcome)
        return response

    @router.get("/api/v1/thanh-toan/thong-tin-thu-huong")
    async def payment_info(request: Request) -> Response:
        return await listing(
            request, "national.thong-tin-thu-huong", lambda _: state.scenario.payment_infos
        )

    @router.get("/api/v1/ho-so/thong-ke-tthc")
    async def procedure_stats(request: Request) -> Response:
        return await listing(request, "national.thong-ke-tthc", _stats_window)

    def _stats_window(request: Request) -> list[JsonDict] | str:
        from_ = request.query_params.get("TuNgay", "").strip()
        to = request.query_params.get("DenNgay", "").strip()
        if not is_upstream_time(from_) or not is_upstream_time(to):
            return "TuNgay và DenNgay phải có dạng yyyyMMddHHmmss"
        if from_ > to:
            return "TuNgay phải nhỏ hơn hoặc bằng DenNgay"
        return state.scenario.procedure_stats(from_, to)

    # --- DOSSIERS: GET /api/v1/ho-so/dong-bo and /api/v1/thanh-toan/giao-dich ------------------
    # TuNgay/DenNgay filter NgayTiepNhan (dong-bo) or ThoiGianGD (giao-dich), both inclusive.
    # A scenario without dossiers: the gateway's plain 501, as before.
    async def dossier_listing(
        request: Request, name: str, pick: Callable[[DossierSet, int, int], PagedItems]
    ) -> Response:
        planned = await _dossiers_of(state)
        if planned is None:
            state.requests[name] += 1
            return PlainTextResponse("Not Implemented", status_code=501)

        def windowed(request: Request) -> Selection | str:
            window = _window(request, "TuNgay", "DenNgay")
            if isinstance(window, str):
                return _N_WINDOW_ERRORS.get(window, window)
            assert planned is not None
            return pick(planned, window[0], window[1])

        return await listing(request, name, windowed)

    @router.get("/api/v1/ho-so/dong-bo")
    async def synced_dossiers(request: Request) -> Response:
        return await dossier_listing(request, "national.dong-bo", DossierSet.national)

    @router.get("/api/v1/thanh-toan/giao-dich")
    async def transactions(request: Request) -> Response:
        return await dossier_listing(request, "national.giao-dich", DossierSet.transactions)

    return router


async def _serve_national(
    state: SimulatorState,
    request: Request,
    name: str,
    token: str | None,
    items: Callable[[Request], Selection | str],
) -> tuple[Response, str]:
    if token is None:
        # No bearer at all: the gateway refuses before the portal sees the call.
        return PlainTextResponse("Unauthorized", status_code=401), "401"
    if not state.token_valid(token, NATIONAL):
        return _envelope(None, "401", "Token không hợp lệ hoặc đã hết hạn"), "200:401"
    province = request.query_params.get("MaTinh", "").strip().upper()
    if province != state.scenario.province_code.upper():
        return _envelope(None, "1", "MaTinh không hợp lệ"), "200:1"
    page = _int_param(request, "pageIndex", 1)
    size = _int_param(request, "pageSize", DEFAULT_PAGE_SIZE)
    if page is None or page < 1:
        return _envelope(None, "1", "pageIndex phải lớn hơn hoặc bằng 1"), "200:1"
    if size is None or size < 1 or size > N_MAX_SIZE:
        return _envelope(None, "1", f"pageSize phải từ 1 đến {N_MAX_SIZE}"), "200:1"
    selected = items(request)
    if isinstance(selected, str):
        return _envelope(None, "1", selected), "200:1"
    await _latency(state)
    fault = _gateway_faults(state, name, page)
    if fault is not None:
        outcome = str(fault.status_code)
        return fault, "200:99" if outcome == "200" else outcome
    if state.faults.rate_n_busy and state.rng.random() < state.faults.rate_n_busy:
        code = state.rng.choice(("99", "-1"))
        message = "Hệ thống đang bận" if code == "99" else "Lỗi hệ thống"
        return _envelope(None, code, message), f"200:{code}"
    shifted = state.page_order(name, _pass_key(name, request), first_page=page == 1)
    total = len(selected)
    data = _page_of(selected, page - 1, size, shifted)
    mode = state.faults.misbehaviour(name)
    if mode == "endless":
        total = page * size + 1  # one item, hence one page, more than this one
        pages = max(math.ceil(len(selected) / size), 1)
        data = data or _page_of(selected, (page - 1) % pages, size, False)
    elif mode == "huge_total":
        total = HUGE_TOTAL
    result = {"total": total, "pageIndex": page, "pageSize": size, "data": data}
    body = {"error_code": "0", "message": "", "result": result}
    return _misbehaving(state, name, body), "200:0"


# ------------------------------------------------------------------------------------------------
# The app
# ------------------------------------------------------------------------------------------------


def _procedure_key(item: JsonDict) -> str:
    codes = (item.get("MaTTHC"), item.get("MaDonVi"))
    return "|".join(str(code or "").strip().upper() for code in codes)


def create_simulator_app(
    scenario: Scenario | str = "tay-ninh-2023",
    faults: Faults | None = None,
    *,
    credentials: Credentials | None = None,
    seed: int | None = None,
    dossier_scale: float = 1.0,
    prebuild_dossiers: bool = False,
) -> FastAPI:
    """Both upstreams in one app: base URLs ``…/provincial`` and ``…/national``.

    ``dossier_scale`` applies when ``scenario`` is a name (``get_scenario``); dossiers are
    planned on the first dossier request (off the event loop), or now with
    ``prebuild_dossiers`` (benchmarks: the first page should not wait for the plan).
    """
    if isinstance(scenario, str):
        scenario = get_scenario(scenario, seed, dossier_scale=dossier_scale)
    if prebuild_dossiers:
        _ = scenario.dossiers
    state = SimulatorState(
        scenario=scenario, faults=faults or Faults(), credentials=credentials or Credentials()
    )
    app = FastAPI(title=f"Upstream simulator ({scenario.name})", docs_url="/_sim/docs")
    app.state.simulator = state
    app.include_router(_provincial_router(state), prefix="/provincial")
    app.include_router(_national_router(state), prefix="/national")

    @app.get("/_sim/faults")
    async def get_faults() -> JsonDict:
        return state.faults.model_dump()

    @app.put("/_sim/faults")
    async def put_faults(new: Faults) -> JsonDict:
        state.set_faults(new)
        return state.faults.model_dump()

    @app.patch("/_sim/faults")
    async def patch_faults(request: Request) -> Response:
        changes = await request.json()
        if not isinstance(changes, dict):
            return JSONResponse({"detail": "expected a JSON object"}, status_code=422)
        try:
            merged = Faults.model_validate({**state.faults.model_dump(), **changes})
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, status_code=422)
        state.set_faults(merged)
        return JSONResponse(state.faults.model_dump())

    @app.get("/_sim/stats")
    async def get_stats() -> JsonDict:
        return state.stats()

    @app.post("/_sim/reset")
    async def reset() -> JsonDict:
        state.reset()
        return state.stats()

    @app.put("/_sim/procedures")
    async def put_procedure(request: Request) -> Response:
        """Add or replace one of P's procedures (matched on MaTTHC and MaDonVi); the body is
        the item as P serves it, ``NgayCapNhat`` included."""
        item = await request.json()
        if not isinstance(item, dict) or not item.get("MaTTHC") or not item.get("MaDonVi"):
            return JSONResponse({"detail": "expected a P item with MaTTHC and MaDonVi"}, 422)
        state.procedure_edits[_procedure_key(item)] = item
        return JSONResponse({"procedures": len(state.procedures())})

    @app.delete("/_sim/procedures")
    async def delete_procedure(request: Request) -> Response:
        """Delete one of P's procedures (``?MaTTHC=&MaDonVi=``); ``?all=true`` undoes every
        edit."""
        params = request.query_params
        if params.get("all") == "true":
            state.procedure_edits.clear()
        else:
            key = _procedure_key({"MaTTHC": params.get("MaTTHC"), "MaDonVi": params.get("MaDonVi")})
            state.procedure_edits[key] = None
        return JSONResponse({"procedures": len(state.procedures())})

    @app.post("/_sim/revoke-tokens")
    async def revoke_tokens() -> JsonDict:
        revoked = len(state.tokens)
        state.tokens.clear()
        return {"revoked": revoked}

    @app.get("/_sim/truth")
    async def truth() -> JsonDict:
        return state.scenario.truth.model_dump(mode="json")

    @app.get("/_sim/dossier-truth")
    async def dossier_truth() -> Response:
        planned = await _dossiers_of(state)
        if planned is None:
            return JSONResponse({"detail": "dossiers are not simulated"}, status_code=404)
        truth = await asyncio.to_thread(lambda: planned.truth)
        return JSONResponse(truth.summary())

    @app.get("/_sim/scenario")
    async def scenario_info() -> JsonDict:
        sc = state.scenario
        return {
            "name": sc.name,
            "seed": sc.seed,
            "province_code": sc.province_code,
            "period_start": sc.period_start.isoformat(),
            "period_end": sc.period_end.isoformat(),
            "counts": {
                "agencies": len(sc.agencies),
                "procedures": len(sc.procedures),
                "payment_infos": len(sc.payment_infos),
                "procedure_stats_in_period": len(sc.period_stats()),
            },
            "credentials": state.credentials.model_dump(),
        }

    return app

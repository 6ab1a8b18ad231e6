"""Annotated dependency aliases, defined once and used by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal, Role, authenticate, require_role
from app.db import SessionFactory, create_read_session_factory
from app.domain.reasons import Lang
from app.errors import BadRequest, Forbidden, NotFound
from app.exports.negotiate import negotiate_lang
from app.read.kpi import hierarchy
from app.reconcile.executor import RunExecutor
from app.settings import Settings
from app.validation import ProvinceCode


# Every dependency is ``async`` though most await nothing: FastAPI runs a plain ``def`` one in its
# thread pool, a thread hop per request for an attribute lookup (bench/api.py measured it).
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _request_factory(request: Request) -> SessionFactory:
    """The sessions of requests: the service's engine and pool, with the statement timeout
    (``DATABASE_STATEMENT_TIMEOUT_S``) on each transaction. Made once per app, on first use;
    ``app.state.session_factory`` stays timeout-free for runs, the dispatcher and migrations."""
    state = request.app.state
    factory: SessionFactory | None = getattr(state, "request_session_factory", None)
    if factory is None:
        settings: Settings = state.settings
        factory = create_read_session_factory(state.engine, settings.database_statement_timeout_s)
        state.request_session_factory = factory
    return factory


async def get_session_factory(request: Request) -> SessionFactory:
    return _request_factory(request)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _request_factory(request)() as session:
        yield session


async def get_executor(request: Request) -> RunExecutor:
    executor: RunExecutor = request.app.state.executor
    return executor


async def get_province(
    request: Request,
    province: Annotated[
        ProvinceCode | None,
        Query(
            description="MaTinh of the province (e.g. H53); needed when the deployment serves "
            "several.",
        ),
    ] = None,
) -> str:
    codes = (await get_settings_dep(request)).province_codes()
    if province is None:
        if len(codes) == 1:
            return codes[0]
        raise BadRequest(
            "This deployment serves several provinces: say which with province=…", provinces=codes
        )
    code = province.strip().upper()
    if code not in codes:
        raise NotFound(f"Province {province!r} is not served here.", provinces=codes)
    return code


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ProvinceDep = Annotated[str, Depends(get_province)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]
ExecutorDep = Annotated[RunExecutor, Depends(get_executor)]


# auto_error=False: a missing key is answered by our own 401 problem, not FastAPI's error.
_bearer = HTTPBearer(auto_error=False, description="An API key: `recon keys create --role …`")


def _role_dependency(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        admin_key = (
            settings.recon_admin_key.get_secret_value() if settings.recon_admin_key else None
        )
        header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        principal = await authenticate(session, header, admin_key, request.app.state.key_cache)
        return require_role(principal, role)

    return dependency


ReaderDep = Annotated[Principal, Depends(_role_dependency(Role.READER))]
OperatorDep = Annotated[Principal, Depends(_role_dependency(Role.OPERATOR))]
AdminDep = Annotated[Principal, Depends(_role_dependency(Role.ADMIN))]


async def get_visible(
    principal: ReaderDep, session: SessionDep, province: ProvinceDep
) -> frozenset[str] | None:
    """The agencies the key may see: its agency and every unit below it, or ``None`` (all)."""
    if principal.agency_code is None:
        return None
    tree = await hierarchy(session, province)
    return frozenset(tree.descendants(principal.agency_code))


async def get_lang(
    lang: Annotated[
        Literal["vi", "en"] | None,
        Query(description="Language of titles, fixes and headers; else Accept-Language; else vi."),
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Lang:
    return negotiate_lang(lang, accept_language)


async def _province_wide(principal: ReaderDep) -> Principal:
    if principal.agency_code is not None:
        raise Forbidden(
            "This answer covers the whole province; the key "
            f"'{principal.name}' sees only agency {principal.agency_code}."
        )
    return principal


VisibleDep = Annotated[frozenset[str] | None, Depends(get_visible)]
LangDep = Annotated[Lang, Depends(get_lang)]
# Runs, schedules and the other province-wide answers hold every agency's counts.
ProvinceReaderDep = Annotated[Principal, Depends(_province_wide)]

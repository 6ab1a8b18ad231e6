"""Sign-in with an API key, sign-out, and the language switch."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import authenticate
from app.console.deps import FormPageDep, admin_key_of
from app.console.security import CONSOLE_HEADERS
from app.console.sessions import COOKIE, close_session, open_session, same_token, set_language
from app.console.templating import TEMPLATES, base_context
from app.dependencies import get_session
from app.domain.reasons import Lang
from app.errors import Forbidden, Unauthorized
from app.models.types import utcnow
from app.settings import Settings

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "recon_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path of this service: never another site (``//host``, ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    # Behind a TLS-terminating proxy uvicorn's --proxy-headers makes the scheme https.
    return request.url.scheme == "https"


def _lang(value: str | None) -> Lang:
    return "en" if value == "en" else "vi"


def _login_page(
    request: Request,
    *,
    lang: Lang,
    next_path: str,
    error: str | None = None,
    expired: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            **base_context(lang),
            "login_csrf": token,
            "next_path": next_path,
            "error": error,
            "expired": expired,
        },
        status_code=status_code,
        headers=CONSOLE_HEADERS,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next: str | None = None, lang: str | None = None, expired: str | None = None
) -> HTMLResponse:
    return _login_page(request, lang=_lang(lang), next_path=safe_next(next), expired=bool(expired))


@router.post("/login")
async def login(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    api_key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    lang: Annotated[str, Form()] = "vi",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if expected is None or not same_token(csrf_token, expected):
        raise Forbidden("The sign-in form's security token is missing or out of date.")
    settings: Settings = request.app.state.settings
    chosen = _lang(lang)
    try:
        principal = await authenticate(session, f"Bearer {api_key.strip()}", admin_key_of(settings))
    except Unauthorized:
        error = (
            "Khoá API không hợp lệ hoặc đã bị thu hồi."
            if chosen == "vi"
            else "The API key is not valid or has been revoked."
        )
        return _login_page(
            request, lang=chosen, next_path=safe_next(next), error=error, status_code=401
        )
    lifetime = timedelta(hours=settings.console_session_hours)
    token, _expires_at = await open_session(
        session,
        principal,
        admin_key=admin_key_of(settings),
        lang=chosen,
        now=utcnow(),
        lifetime=lifetime,
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(page: FormPageDep) -> Response:
    await close_session(page.session, page.user.token_hash)
    response = RedirectResponse(f"/login?lang={page.lang}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/console/language")
async def language(
    page: FormPageDep, lang: Annotated[str, Form()] = "vi", next: Annotated[str, Form()] = "/"
) -> Response:
    await set_language(page.session, page.user.token_hash, _lang(lang))
    return RedirectResponse(safe_next(next), status_code=303)

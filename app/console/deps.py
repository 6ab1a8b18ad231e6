"""What a console page is given: who is signed in, which province, what they may see, and a
``render`` that fills the layout. Pages of someone not signed in redirect to ``/login``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Role, require_role
from app.console.security import CONSOLE_HEADERS
from app.console.sessions import COOKIE, SignedIn, resolve_session, same_token
from app.console.templating import TEMPLATES, base_context
from app.dependencies import get_session
from app.domain.reasons import Lang
from app.errors import Forbidden, NotFound
from app.models.types import utcnow
from app.read.kpi import hierarchy
from app.settings import Settings

_RANK = {Role.READER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class SignInRequired(Exception):
    """Answered by a redirect to the sign-in page, which comes back to ``next_path``."""

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


def admin_key_of(settings: Settings) -> str | None:
    return settings.recon_admin_key.get_secret_value() if settings.recon_admin_key else None


def login_url(next_path: str, *, expired: bool = False) -> str:
    url = "/login?next=" + quote(next_path, safe="/")
    return url + "&expired=1" if expired else url


@dataclass
class Page:
    request: Request
    session: AsyncSession
    user: SignedIn
    province: str
    provinces: list[str]
    visible: frozenset[str] | None
    nav: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lang(self) -> Lang:
        return self.user.lang

    def can(self, role: str) -> bool:
        return _RANK[self.user.principal.role] >= _RANK[Role(role)]

    def require(self, role: Role) -> None:
        require_role(self.user.principal, role)

    def province_wide(self) -> None:
        """Runs, schedules, webhooks and reports carry every agency's counts."""
        if self.user.principal.agency_code is not None:
            raise Forbidden(
                "This page covers the whole province; this key sees only agency "
                f"{self.user.principal.agency_code}."
            )

    def may_see(self, agency_code: str | None) -> bool:
        return self.visible is None or (agency_code is not None and agency_code in self.visible)

    def see_agency(self, agency_code: str) -> None:
        if not self.may_see(agency_code):
            raise NotFound(f"No agency {agency_code!r} is visible to this key.")

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        values = {
            **base_context(self.lang),
            "page": self,
            "principal": self.user.principal,
            "csrf_token": self.user.csrf_token,
            **context,
        }
        return TEMPLATES.TemplateResponse(
            self.request, template, values, status_code=status_code, headers=CONSOLE_HEADERS
        )


async def _signed_in(request: Request, session: AsyncSession) -> SignedIn:
    settings: Settings = request.app.state.settings
    token = request.cookies.get(COOKIE)
    user = await resolve_session(session, token, admin_key=admin_key_of(settings), now=utcnow())
    if user is None:
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(next_path, expired=token is not None)
    return user


async def get_page(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> AsyncIterator[Page]:
    user = await _signed_in(request, session)
    settings: Settings = request.app.state.settings
    provinces = settings.province_codes()
    asked = (request.query_params.get("province") or "").strip().upper()
    if asked and asked not in provinces:
        raise NotFound(f"Province {asked!r} is not served here.", provinces=provinces)
    province = asked or provinces[0]
    visible: frozenset[str] | None = None
    agency = user.principal.agency_code
    if agency is not None:
        visible = frozenset((await hierarchy(session, province)).descendants(agency))
    yield Page(request, session, user, province, provinces, visible)


PageDep = Annotated[Page, Depends(get_page)]


async def check_csrf(page: PageDep, csrf_token: Annotated[str, Form()] = "") -> Page:
    """Every form of a signed-in page posts the session's CSRF token back."""
    if not same_token(csrf_token, page.user.csrf_token):
        raise Forbidden("The form's security token is missing or out of date; reload the page.")
    return page


FormPageDep = Annotated[Page, Depends(check_csrf)]

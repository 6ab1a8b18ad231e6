"""The web console: server-rendered pages in Vietnamese (English on request) for the IT
department, the agencies' officers and the chairman's office.

Pages live at ``/`` and under ``/console/``; sign-in at ``/login``. They render the same read
models as the JSON API (``app/read``), so a figure on a page is the figure of the API. Every asset
is served from ``app/console/static``: the pages need no network beyond the service.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.console.deps import SignInRequired, login_url
from app.console.pages import (
    agencies,
    dossiers,
    figures,
    overview,
    procedures,
    runs,
    signin,
    webhooks,
)
from app.console.security import CONSOLE_HEADERS, is_console_path
from app.console.templating import TEMPLATES, base_context
from app.domain.reasons import Lang
from app.errors import ProblemError

PAGE_MODULES = (signin, overview, agencies, procedures, dossiers, figures, runs, webhooks)
STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/console/static"


def _problem_page(request: Request, exc: ProblemError) -> Response | None:
    if not is_console_path(request.url.path):
        return None
    lang: Lang = "en" if request.query_params.get("lang") == "en" else "vi"
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {**base_context(lang), "problem": exc},
        status_code=exc.status,
        headers=CONSOLE_HEADERS,
    )


def install_console(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
    for module in PAGE_MODULES:
        app.include_router(module.router)
    app.state.html_problem = _problem_page

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("HX-Request"):
            # htmx follows redirects inside the fragment; make it load the sign-in page whole.
            return HTMLResponse("", headers={"HX-Redirect": login_url(exc.next_path)})
        return RedirectResponse(login_url(exc.next_path, expired=exc.expired), status_code=303)

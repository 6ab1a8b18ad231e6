"""The OpenAPI document and its two viewers, Swagger UI at /docs and ReDoc at /redoc, served from
the package's own copies of their assets (app/static: swagger-ui-dist 5.35.0 and redoc 2.5.4
from the npm registry, with their licences), so the docs work in a data centre with no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.schemas.problems import install_problem_schema

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static/docs"


def install_docs(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=TAGS,
            )
            app.openapi_schema = install_problem_schema(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{STATIC_URL}/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/swagger/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{STATIC_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_URL}/swagger/favicon-32x32.png",
            with_google_fonts=False,
        )


TAGS: list[dict[str, Any]] = [
    {"name": "runs", "description": "Start reconciliation runs, follow them, see the schedule."},
    {"name": "procedures", "description": "Unsynced fee-bearing configurations and orphans."},
    {"name": "dossiers", "description": "Dossier payments: findings, offline, orphans."},
    {"name": "figures", "description": "The province's online-payment and overdue figures."},
    {"name": "keys", "description": "API keys (admin)."},
    {"name": "webhooks", "description": "Subscriber endpoints and their deliveries (admin)."},
    {"name": "health", "description": "Liveness, readiness, Prometheus metrics (no key)."},
]

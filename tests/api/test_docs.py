"""/docs and /redoc work with no network: the pages name no other host, every asset they name is
served by the service itself, and the document declares problem+json for its errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import make_settings


@pytest.fixture
async def service(service_factory: Any, sqlite_url: str) -> Any:
    return await service_factory(make_settings(sqlite_url))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_are_served_from_the_service_itself(service: Any, page: str) -> None:
    response = await service.http.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html), html
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assets += re.findall(r"""url:\s*'([^']+)'""", html) + re.findall(r"spec-url=\"([^\"]+)\"", html)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        answer = await service.http.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content, asset


async def test_document_declares_problems_and_models(service: Any) -> None:
    document = (await service.http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas
    assert "HTTPValidationError" not in schemas
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("description"), where
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path not in ("/health/ready",):
                    assert list(answer["content"]) == ["application/problem+json"], where
                elif status.startswith("2") and status != "204":
                    # JSON first; the lists that export also declare their file types.
                    for media in answer["content"].values():
                        assert media.get("schema"), where
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in metrics

"""One-page answers in the upstreams' shapes, for respx-mocked runs (contracts in
../shared/upstreams): a token, P's Spring page and N's envelope."""

from __future__ import annotations

from typing import Any

TOKEN = {"access_token": "t", "token_type": "Bearer", "expires_in": 3600}


def spring(items: list[Any]) -> dict[str, Any]:
    return {"content": items, "totalElements": len(items), "totalPages": 1, "number": 0}


def envelope(items: list[Any]) -> dict[str, Any]:
    return {"error_code": "0", "result": {"total": len(items), "data": items}}

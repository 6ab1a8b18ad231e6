"""What the read routers share: the replica's answer cache and a JSON body answered as is."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from app.read.answer_cache import AnswerCache
from app.read.data_versions import versions_for


async def get_answer_cache(request: Request) -> AnswerCache:
    """One cache per app (so two apps in one process, as in tests, never share answers),
    made on first use. ``async`` although it awaits nothing: FastAPI runs a plain ``def``
    dependency in its thread pool, a thread hop per request for a dictionary lookup."""
    cache: AnswerCache | None = getattr(request.app.state, "answer_cache", None)
    if cache is None:
        cache = request.app.state.answer_cache = AnswerCache(
            versions=versions_for(request.app.state.engine)
        )
    return cache


AnswerCacheDep = Annotated[AnswerCache, Depends(get_answer_cache)]


def json_body(body: bytes) -> Response:
    # Already serialized (orjson, from the cache or just computed): FastAPI's encoder walking
    # every item again would cost more than the query did.
    return Response(content=body, media_type="application/json")

"""Every item of a paged list, read page after page, for an export to stream.

Each list's read function (``app.read``) takes ``(session, province_code, query)`` and answers
a page: ``{items, next_cursor}`` as a dict or as a pydantic model, its items dicts or models.
The pager asks it for page after page of the same query (``limit`` and ``cursor`` replaced) in a
session of its own, so that a CSV goes on streaming after the request's session closed, and
turns every item into a plain dict (JSON values: ISO moments, which the writers read back as
dates and moments).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Final, Protocol, TypeVar

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.domain.reasons import Lang

__all__ = ["PAGE", "ListQuery", "Read", "every_item", "per_agency"]

PAGE: Final = 1000  # items per read: the largest page the JSON lists serve


class ListQuery(Protocol):
    """A list's query: a frozen dataclass with the page's size and position, and the language
    of its fixes (the file's headers follow it); hashable, as the JSON answer's cache key."""

    # What makes it a dataclass, for ``dataclasses.replace``.
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def __hash__(self) -> int: ...

    @property
    def lang(self) -> Lang: ...
    @property
    def limit(self) -> int: ...
    @property
    def cursor(self) -> str | None: ...


Q = TypeVar("Q", bound=ListQuery)
Read = Callable[[AsyncSession, str, Q], Awaitable[Any]]


def _field(page: Any, name: str) -> Any:
    return page[name] if isinstance(page, Mapping) else getattr(page, name)


def _plain(item: Any) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    # A dict item may hold models (its ``fix``): those as dicts too, so columns read keys.
    return {
        key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for key, value in item.items()
    }


def _without_summary(query: ListQuery) -> dict[str, bool]:
    """A list whose query can leave out its whole-list counts (``with_summary``) counts them on
    the first page only: the file's summary sheet has them, the rows do not need them again."""
    return {"with_summary": False} if "with_summary" in query.__dataclass_fields__ else {}


async def every_item(
    factory: SessionFactory, province_code: str, read: Read[Q], query: Q
) -> AsyncIterator[dict[str, Any]]:
    """Every item of ``query``'s list, in the list's order, ``PAGE`` items a read."""
    page_query = replace(query, limit=PAGE, cursor=None)
    async with factory() as session:
        while True:
            page = await read(session, province_code, page_query)
            for item in _field(page, "items"):
                yield _plain(item)
            cursor = _field(page, "next_cursor")
            if not cursor:
                return
            page_query = replace(page_query, cursor=cursor, **_without_summary(page_query))


async def per_agency(
    factory: SessionFactory, province_code: str, read: Read[Q], query: Q, agencies: Iterable[str]
) -> AsyncIterator[dict[str, Any]]:
    """Every item of each agency in turn (that agency alone, not its units; ``query`` has
    ``agency`` and ``include_descendants``): the ZIP writes one agency's workbook whole before
    the next, so its rows must come grouped by agency."""
    for agency in agencies:
        one = replace(query, agency=agency, include_descendants=False)
        async for item in every_item(factory, province_code, read, one):
            yield item

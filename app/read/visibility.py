"""Which agencies a read may show: the query's agency filter within what the key may see.

An agency-scoped API key sees its agency and every unit below it; a province-wide key sees
everything. Every read narrows its rows with ``agency_set`` so that a row outside the key's
agencies is absent from lists and sums alike, and a detail of one is not found.
"""

from __future__ import annotations

from app.domain.normalize import normalize_code
from app.read.kpi import Hierarchy


def agency_set(
    tree: Hierarchy | None,
    agency: str | None,
    include_descendants: bool,
    visible: frozenset[str] | None,
) -> frozenset[str] | None:
    """The agency codes a read keeps (``None``: every one). ``tree`` is needed only when
    ``include_descendants`` is asked for."""
    if agency is None:
        return visible
    code = normalize_code(agency)
    if include_descendants:
        if tree is None:
            raise ValueError("include_descendants needs the hierarchy")
        chosen = frozenset(tree.descendants(code))
    else:
        chosen = frozenset({code})
    return chosen if visible is None else chosen & visible


def may_see(visible: frozenset[str] | None, agency_code: str | None) -> bool:
    return visible is None or (agency_code is not None and agency_code in visible)

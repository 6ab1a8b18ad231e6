"""What a worklist shows beside a reason code: its title, who acts, and the fix, in one language.

The catalogue (``app.domain.reasons``) holds the texts; this turns one finding (its code and
evidence) into the fields every list, export and page renders, so they all say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.domain.reasons import ACTORS, PLACES, Lang, reason, render_fix
from app.schemas.common import Fix


def fix_of(code: str, evidence: Mapping[str, Any] | None, lang: Lang) -> Fix:
    entry = reason(code)
    return Fix(
        reason=code,
        title=entry.title.get(lang),
        who_acts=ACTORS[entry.actor].get(lang),
        provincial_place=PLACES[entry.provincial_place].get(lang)
        if entry.provincial_place
        else None,
        national_place=PLACES[entry.national_place].get(lang) if entry.national_place else None,
        fix=render_fix(code, evidence, lang),
    )


def fixes_of(
    codes: Iterable[str], evidence: Mapping[str, Mapping[str, Any] | None], lang: Lang
) -> list[Fix]:
    """One fix per reason, in the reasons' order, each from that reason's evidence."""
    return [fix_of(code, evidence.get(code), lang) for code in codes]

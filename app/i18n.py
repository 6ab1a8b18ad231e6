"""The language of what people read: ``?lang=`` first, then ``Accept-Language``, else Vietnamese.

Field names and codes stay English and stable; titles, fixes, headers and sheet names follow
the language chosen here.
"""

from __future__ import annotations

from typing import Final, get_args

from app.domain.reasons import Lang

LANGS: Final[tuple[Lang, ...]] = get_args(Lang)
DEFAULT_LANG: Final[Lang] = "vi"


def negotiate_lang(
    lang_param: str | None, accept_language: str | None, default: Lang = DEFAULT_LANG
) -> Lang:
    if lang_param in LANGS:
        return lang_param
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        # Highest quality wins; among equals, the one listed first.
        candidate = (quality, -position, primary)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else default

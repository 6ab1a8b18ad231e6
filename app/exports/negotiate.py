"""Which format and which language a list is answered in.

Format: ``?format=`` wins (a link an officer can bookmark or paste into a mail); otherwise the
``Accept`` header's media types, by their q-values (ties: the more specific, then the first
listed); ``*/*``, ``application/*``, no header or nothing recognised give JSON. JSON is always
allowed (every list answers it); the export formats only where the endpoint offers them
(``allowed``: a ZIP per agency makes sense only on some lists). A ``format`` the endpoint does not
offer is a 400 problem naming the ones it does; an ``Accept`` naming only formats it does not
offer is answered in JSON (RFC 9110 lets a server disregard Accept rather than answer 406, and
an API client that sends one always reads JSON).

Language: ``?lang=vi|en`` wins, then ``Accept-Language`` by q-values (primary subtag: ``vi-VN``
is ``vi``; ``*`` is the default), anything else the default (Vietnamese). A ``lang`` that is
neither is passed over like an absent one (endpoints that declare it as ``Lang`` reject it first).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Final, get_args

from app.errors import BadRequest
from app.exports.model import Lang

__all__ = ["FORMATS", "MEDIA_TYPES", "negotiate_format", "negotiate_lang"]

XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: Final[Mapping[str, str]] = {
    "json": "application/json",
    "xlsx": XLSX_MEDIA_TYPE,
    "csv": "text/csv",
    "zip": "application/zip",
}
FORMATS: Final = tuple(MEDIA_TYPES)
_FORMAT_OF_MEDIA_TYPE: Final[Mapping[str, str]] = {
    **{media_type: fmt for fmt, media_type in MEDIA_TYPES.items()},
    "application/x-zip-compressed": "zip",  # what Windows calls a ZIP
    "application/zip-compressed": "zip",
    "*/*": "json",
    "application/*": "json",
}
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)


def _weighted(header: str) -> Iterator[tuple[float, int, str]]:
    """(q, position, value) of each element of a comma-separated header with q-values; an
    element whose q is not a number from 0 to 1 is skipped (RFC 9110 §12.4.2)."""
    for position, element in enumerate(header.split(",")):
        value, *parameters = (part.strip() for part in element.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, raw = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = -1.0
        if value and 0.0 <= q <= 1.0:
            yield q, position, value.lower()


def _from_accept(accept: str, allowed: Collection[str]) -> str:
    candidates: list[tuple[float, bool, int, str]] = []
    for q, position, media_type in _weighted(accept):
        fmt = _FORMAT_OF_MEDIA_TYPE.get(media_type)
        if q > 0 and fmt is not None and (fmt == "json" or fmt in allowed):
            wildcard = media_type.endswith("/*")
            candidates.append((-q, wildcard, position, fmt))
    return min(candidates)[3] if candidates else "json"


def negotiate_format(format_param: str | None, accept: str | None, allowed: Collection[str]) -> str:
    """``json``, or one of ``allowed`` (among ``FORMATS``), as the module's docstring says."""
    offered = ["json", *(fmt for fmt in FORMATS if fmt in allowed and fmt != "json")]
    if format_param is not None and format_param.strip():
        fmt = format_param.strip().lower()
        if fmt not in offered:
            raise BadRequest(
                f"format {format_param!r} is not offered here; use one of: {', '.join(offered)}",
                allowed=offered,
            )
        return fmt
    return _from_accept(accept, offered) if accept else "json"


def negotiate_lang(
    lang_param: str | None, accept_language: str | None, default: Lang = "vi"
) -> Lang:
    """The language of an export's headers and labels, as the module's docstring says."""
    if lang_param is not None:
        wanted = lang_param.strip().lower()
        for lang in LANGS:
            if wanted == lang:
                return lang
    if accept_language:
        candidates: list[tuple[float, int, Lang]] = []
        for q, position, tag in _weighted(accept_language):
            primary = tag.split("-")[0]
            for lang in LANGS:
                if q > 0 and primary in (lang, "*"):
                    candidates.append((-q, position, default if primary == "*" else lang))
                    break
        if candidates:
            return min(candidates)[2]
    return default

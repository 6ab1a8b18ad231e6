"""Logging: one root handler, structlog's ProcessorFormatter, for stdlib and structlog alike.

``configure_logging("INFO", "json")`` makes every record — ``logging.getLogger(...)`` ones with
their ``extra=`` fields, structlog ones, uvicorn's — one JSON object per line on stderr
(``timestamp`` ISO-8601 UTC, ``level``, ``logger``, ``event``, then the fields); ``"console"``
renders them with structlog's ConsoleRenderer (colours only on a TTY). Secrets never reach a
line: ``redact`` masks sensitive keys and credentials inside any text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("json", "console")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# httpx announces every request at INFO: a dossier run would write a line per upstream page.
# Upstream retries and errors are logged by the clients themselves, with listing and page.
QUIET_LOGGERS = ("httpx", "httpcore")
MASK = "***"

# Keys whose values are never logged (compared lower-cased, "-" as "_").
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "key",
        "x_api_key",
    }
)
_SENSITIVE_SUFFIXES = ("_token", "_secret", "_password", "_api_key")

_CREDENTIAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {MASK}"),
    # Standard Webhooks signing secrets.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]*"), f"whsec_{MASK}"),
    # user:password@ in URLs (DATABASE_URL and the like).
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]+@"), rf"\g<scheme>:{MASK}@"),
)

# Added to records by uvicorn (a coloured copy of the message), noise in a structured line.
_DROPPED_KEYS = ("color_message", "message")  # "message": stdlib's copy of the event

_HANDLER_MARK = "_recon_handler"


def _not_alembic_chatter(record: logging.LogRecord) -> bool:
    """Alembic announces its dialect every time a context opens — at every readiness probe
    (pending migrations are checked there). Its "Running upgrade …" lines are kept."""
    return not (
        record.name == "alembic.runtime.migration"
        and str(record.msg).startswith(("Context impl", "Will assume"))
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def is_sensitive_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def scrub_text(text: str) -> str:
    """``text`` with bearer/basic credentials, ``whsec_`` secrets and URL passwords masked."""
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 5:
        return value
    if isinstance(value, Mapping):
        return {
            key: MASK if isinstance(key, str) and is_sensitive_key(key) else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item, depth + 1) for item in value)
    return value


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: sensitive keys' values masked (nested too), and credentials
    masked inside every string — the event text, the fields, a formatted exception."""
    for key in _DROPPED_KEYS:
        event_dict.pop(key, None)
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue  # structlog's own (_record, _from_structlog), removed before rendering
        if is_sensitive_key(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _scrub(value)
    return event_dict


def _shared_processors() -> list[Processor]:
    """Run for every record before rendering (stdlib ones through ``foreign_pre_chain``)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


_LEADING_KEYS = ("timestamp", "level", "logger", "event")


def _leading_keys_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """timestamp, level, logger, event, then the fields: lines read the same way every time."""
    leading = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    return {**leading, **event_dict}


def _renderers(fmt: str) -> list[Processor]:
    if fmt == "json":
        return [_leading_keys_first, structlog.processors.JSONRenderer(default=str)]
    # Exceptions arrive formatted (and redacted) as text, so no rich traceback is drawn.
    return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]


def level_number(level: str) -> int:
    """``"info"``/``"INFO"``/``"20"`` as logging's number; ``ValueError`` otherwise."""
    text = level.strip().upper()
    if text.isdigit():
        return int(text)
    number = logging.getLevelNamesMapping().get(text)
    if number is None:
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return number


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Route all logging through one root handler rendering ``fmt`` at ``level``.

    Idempotent: calling it again replaces the handler it installed before (and leaves other
    handlers, e.g. pytest's, alone)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    number = level_number(level)
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            redact,  # here too, so no other handler on the root (pytest's, say) sees a secret
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            *_renderers(fmt),
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_not_alembic_chatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(number)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))
    # aiosqlite's DEBUG records carry every statement's parameters (an API key's prefix and
    # hash, a webhook secret): never below INFO, whatever LOG_LEVEL says.
    logging.getLogger("aiosqlite").setLevel(max(number, logging.INFO))
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True

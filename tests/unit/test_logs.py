"""app/logs.py: redaction, and one handler rendering stdlib and structlog records alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from app.logs import MASK, configure_logging, redact, scrub_text
from app.settings import Settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, access_level = list(root.handlers), root.level, access.level
    # uvicorn servers started by earlier tests set their loggers' levels (configure_logging
    # leaves a level uvicorn was given alone); here they follow the root's.
    access.setLevel(logging.NOTSET)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access.setLevel(access_level)


def test_redact_masks_sensitive_keys_case_insensitively_and_nested() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "calling P",
            "Authorization": "Bearer abc.def",
            "TOKEN": "t0k3n",
            "access_token": "a",
            "Client-Secret": "s",
            "password": "p",
            "api_key": "k",
            "key": "rk_live_123",
            "refresh_token": "r",
            "headers": {"authorization": "Basic dXNlcjpwdw==", "accept": "application/json"},
            "run_id": "run-1",
            "count": 3,
        },
    )
    for key in ("Authorization", "TOKEN", "access_token", "Client-Secret", "password"):
        assert event[key] == MASK, key
    assert (event["api_key"], event["key"], event["refresh_token"]) == (MASK, MASK, MASK)
    assert event["headers"] == {"authorization": MASK, "accept": "application/json"}
    assert (event["event"], event["run_id"], event["count"]) == ("calling P", "run-1", 3)


def test_redact_masks_credentials_inside_text() -> None:
    event = redact(
        None,
        "warning",
        {
            "event": "401 with Authorization: Bearer eyJhbGciOi.J9x-_y and bearer abc",
            "note": "signed with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, basic dXNlcjpw",
            "url": "postgresql+asyncpg://recon:hunter2@db/recon",
            "items": ["Bearer zzz", 1],
        },
    )
    text = json.dumps(event)
    for secret in ("eyJhbGciOi", "J9x-_y", "abc", "MfKQ9r8", "dXNlcjpw", "hunter2", "zzz"):
        assert secret not in text, secret
    assert event["event"] == f"401 with Authorization: Bearer {MASK} and bearer {MASK}"
    assert event["url"] == f"postgresql+asyncpg://recon:{MASK}@db/recon"
    assert scrub_text("nothing to hide here") == "nothing to hide here"


def test_one_handler_renders_stdlib_and_structlog_records_as_json(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO", "json")
    configure_logging("info", "json")  # idempotent: still one handler of ours
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_recon_handler", False)]
    assert len(ours) == 1
    logging.getLogger("app.test").info(
        "run %s finished", "r1", extra={"run_id": "r1", "client_secret": "shh"}
    )
    logging.getLogger("app.test").debug("below the level")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    structlog.get_logger("app.structured").warning("token refreshed", token="Bearer xyz")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s"', "127.0.0.1:5000", "GET /health/live", extra={"color_message": "x"}
    )
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "run r1 finished",
        "token refreshed",
        '127.0.0.1:5000 - "GET /health/live"',
    ]
    first, second, access = lines
    assert list(first)[:4] == ["timestamp", "level", "logger", "event"]
    assert first["timestamp"].endswith("Z")  # ISO-8601, UTC
    assert (first["level"], first["logger"], first["run_id"]) == ("info", "app.test", "r1")
    assert first["client_secret"] == MASK
    assert (second["level"], second["logger"], second["token"]) == (
        "warning",
        "app.structured",
        MASK,
    )
    assert access["logger"] == "uvicorn.access"
    assert "color_message" not in access


def test_console_format_has_no_colours_off_a_tty(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("WARNING", "console")
    logging.getLogger("app.test").info("not shown")
    logging.getLogger("app.test").warning("shown", extra={"password": "pw", "attempt": 2})
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert "shown" in err
    assert "attempt=2" in err
    assert f"password={MASK}" in err
    assert "\x1b[" not in err


def test_log_settings_are_validated() -> None:
    settings = Settings(_env_file=None, log_level="debug", log_format="json")  # type: ignore[call-arg]
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    with pytest.raises(ValueError, match="log level"):
        Settings(_env_file=None, log_level="chatty")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="log_format"):
        Settings(_env_file=None, log_format="xml")  # type: ignore[call-arg]

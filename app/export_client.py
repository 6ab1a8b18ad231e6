"""The client side of the service's files: ``recon export``, ``recon report monthly`` and the demo
download a file answer the same way.

The body is streamed into a temporary file beside its target and renamed once complete, so an
interrupted or refused download never leaves a half file under the real name. The name comes from
``Content-Disposition`` (``filename*`` first: the Vietnamese name the service gives; then the ASCII
``filename``) unless the caller names the file, and is always reduced to one path component: a
name the service sends cannot write outside the chosen directory.

The key travels in the ``Authorization`` header only; no message here ever includes a header.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from app.exports.negotiate import MEDIA_TYPES

__all__ = [
    "DEFAULT_URL",
    "DownloadError",
    "Downloaded",
    "Target",
    "download",
    "filename_from_disposition",
    "output_target",
    "problem_message",
    "reaching",
    "safe_filename",
    "service_client",
    "split_path",
]

DEFAULT_URL: Final = "http://127.0.0.1:8000"
# A workbook is written whole before its first byte is sent: the wait for the answer can be long.
TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0, read=300.0)
# Control characters, path separators and what Windows refuses in a name.
_UNSAFE_IN_NAME: Final = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_MAX_NAME_BYTES: Final = 255  # most file systems' limit on one name
_BINARY: Final = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_PARAMETER: Final = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class DownloadError(Exception):
    """A download that did not happen, said for a person. ``exit_code`` 1: the service answered
    with an error (or the file could not be written); 2: the service could not be reached."""

    def __init__(self, message: str, exit_code: int, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where a file goes: ``directory``, under ``filename`` or, when None, the service's name."""

    directory: Path
    filename: str | None = None


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    media_type: str


def output_target(out: str) -> Target:
    """``--out`` as a directory (one that exists, or any path written with a trailing separator:
    created if needed) or as the file's own name."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        return Target(path)
    return Target(path.parent, path.name)


def split_path(path: str) -> tuple[str, list[tuple[str, str]]]:
    """A path on the service (``procedures/unsynced``, with or without its leading slash or a
    query) as the request path and its query's pairs. A full URL is refused: the key must go to
    the service given by ``--url`` and nowhere else."""
    if "://" in path or path.startswith("//"):
        raise ValueError(
            f"{path!r} is a URL; give the path on the service (procedures/unsynced) and the "
            "service with --url or RECON_URL"
        )
    route, _, query = path.partition("?")
    return "/" + route.lstrip("/"), parse_qsl(query, keep_blank_values=True)


def safe_filename(name: str) -> str | None:
    """``name`` as one harmless path component (NFC, no separators or control characters, no
    leading or trailing dots, at most 255 bytes keeping its extension), or None if nothing is
    left."""
    name = _UNSAFE_IN_NAME.sub("_", unicodedata.normalize("NFC", name)).strip().strip(".")
    if not name.strip("_ "):
        return None
    if len(name.encode()) > _MAX_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 10:
            stem, dot, extension = name, "", ""
        room = _MAX_NAME_BYTES - len(f"{dot}{extension}".encode())
        stem = stem.encode()[:room].decode(errors="ignore").rstrip(". ")
        name = f"{stem}{dot}{extension}"
    return name


def _parameters(header: str) -> dict[str, str]:
    _, _, rest = header.partition(";")
    found: dict[str, str] = {}
    for match in _PARAMETER.finditer(";" + rest):
        value = match.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.setdefault(match.group(1).lower(), value)
    return found


def _extended(value: str) -> str | None:
    """An RFC 8187 value (``UTF-8''Th%E1%BB%A7%20t%E1%BB%A5c.xlsx``) decoded, or None."""
    charset, quote, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not (quote and quote2):
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def filename_from_disposition(header: str | None) -> str | None:
    """The safe file name ``Content-Disposition`` gives: ``filename*`` decoded when it can be,
    else ``filename``; None without a usable one."""
    if not header:
        return None
    parameters = _parameters(header)
    candidates = []
    if "filename*" in parameters:
        candidates.append(_extended(parameters["filename*"]))
    candidates.append(parameters.get("filename"))
    for candidate in candidates:
        if candidate and (name := safe_filename(candidate)):
            return name
    return None


def problem_message(response: httpx.Response) -> str:
    """An error answer as one line, "title: detail" for a problem+json (with the invalid fields of
    a 422 after it), else its status and the start of its text."""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if isinstance(body, Mapping) and ("title" in body or "detail" in body):
        message = ": ".join(
            str(body[part]) for part in ("title", "detail") if body.get(part) not in (None, "")
        )
        for error in body.get("errors") or []:
            if isinstance(error, Mapping):
                where = ".".join(str(part) for part in error.get("location") or [])
                line = f"{where}: {error.get('message', '')}"
                if line not in message:  # the detail often is the first error already
                    message += f"\n  {line}"
        return message
    text = response.text.strip()[:200]
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")


def service_client(url: str, key: str | None) -> httpx.AsyncClient:
    """A client of the service at ``url`` sending ``key`` as a Bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT)


@contextlib.contextmanager
def reaching(base_url: str) -> Iterator[None]:
    """Transport failures as a ``DownloadError`` with exit code 2 (no traceback, no headers)."""
    try:
        yield
    except httpx.ConnectError as exc:
        raise DownloadError(
            f"cannot connect to {base_url} ({exc}); is the service running? "
            "Give its address with --url or RECON_URL.",
            2,
        ) from None
    except httpx.TimeoutException:
        raise DownloadError(f"{base_url} did not answer in time", 2) from None
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        raise DownloadError(f"the exchange with {base_url} failed: {exc}", 2) from None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


async def download(
    http: httpx.AsyncClient,
    path: str,
    params: Sequence[tuple[str, str]],
    target: Target,
    *,
    fallback_name: str,
    expect: str | None = None,
    console: Console | None = None,
) -> Downloaded:
    """GET ``path`` and write its body into ``target``, with a progress bar on ``console`` (bytes
    against ``Content-Length`` when the answer has one, indeterminate for a streamed CSV).
    ``fallback_name``: the name when neither the target nor the answer gives one; ``expect``:
    the format asked for (``xlsx``, ``csv``, ``zip``, ``json``), an answer of another media type
    is refused (an endpoint without files ignores ``format`` and answers JSON). Raises
    ``DownloadError``; nothing is left behind then."""
    with reaching(str(http.base_url).rstrip("/")):
        async with http.stream("GET", path, params=list(params)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise DownloadError(problem_message(response), 1, response.status_code)
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if expect and media_type and media_type != MEDIA_TYPES[expect]:
                raise DownloadError(
                    f"{path} answered {media_type}, not {expect}: does it offer {expect} files?",
                    1,
                    response.status_code,
                )
            name = (
                target.filename
                or filename_from_disposition(response.headers.get("content-disposition"))
                or safe_filename(fallback_name)
                or "export"
            )
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            final = target.directory / name
            try:
                target.directory.mkdir(parents=True, exist_ok=True)
                descriptor, temporary = _create_temporary(target.directory)
            except OSError as exc:
                raise DownloadError(f"cannot write into {target.directory}: {exc}", 1) from None
            try:
                size = 0
                with os.fdopen(descriptor, "wb") as file, _maybe_progress(console) as progress:
                    task = progress.add_task(name, total=total) if progress else None
                    async for chunk in response.aiter_bytes():
                        file.write(chunk)
                        size += len(chunk)
                        if progress and task is not None:
                            # Bytes on the wire: what Content-Length counts.
                            progress.update(task, completed=response.num_bytes_downloaded)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, final)
            except OSError as exc:
                _remove(temporary)
                raise DownloadError(f"cannot write {final}: {exc}", 1) from None
            except BaseException:
                _remove(temporary)
                raise
    return Downloaded(final, size, media_type)


@contextlib.contextmanager
def _maybe_progress(console: Console | None) -> Iterator[Progress | None]:
    if console is None:
        yield None
        return
    with _progress(console) as progress:
        yield progress


def _create_temporary(directory: Path) -> tuple[int, str]:
    """A new hidden file in ``directory`` (the same file system, so the rename is atomic), created
    with the mode the umask gives like any file the user writes (``mkstemp``'s 0600 would keep
    a shared export directory's readers out)."""
    while True:
        path = directory / f".recon-{secrets.token_hex(6)}.part"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666), str(path)
        except FileExistsError:
            continue


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

"""Headers every console page carries, and which paths are the console's."""

from __future__ import annotations

from typing import Final

# Nothing but the service itself: a page that tried a CDN would fail loudly in the browser
# (and in the browser tests), not quietly on a network with no internet.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CONSOLE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_console_path(path: str) -> bool:
    return path == "/" or path.startswith("/console/") or path in ("/console", "/login", "/logout")

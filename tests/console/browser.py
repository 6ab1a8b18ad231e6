"""Debian's chromium under Playwright for the console's tests: one browser per test session,
a page that records every console error, failed request and error status it meets."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright

from tests.conftest import IN_CI

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if IN_CI:
        pytest.fail("CI=true but chromium is not installed (.ci/run installs Debian's chromium)")
    pytest.skip("Debian's chromium is not installed: apt-get install chromium")


# Package-wide, not session-wide: Playwright's sync API holds an event loop in this thread while
# it runs, and every async test outside tests/console needs the thread free of one.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Watched:
    """A browser tab and what went wrong in it since it opened."""

    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Response:
        response = self.page.goto(self.base_url + path, wait_until="networkidle")
        assert response is not None, path
        return response

    def shoot(self, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self, key: str) -> None:
        self.goto("/login")
        self.page.fill("#api_key", key)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_load_state("networkidle")


def watched_page(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP) -> Watched:
    context = browser.new_context(viewport=viewport, accept_downloads=True, locale="vi-VN")
    page = context.new_page()
    watched = Watched(page, base_url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.problems.append(f"console error: {message.text}")

    def on_failed(request: Request) -> None:
        watched.problems.append(f"request failed: {request.url} {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            watched.problems.append(f"{response.status} {response.url}")
        if not response.url.startswith(base_url):
            watched.problems.append(f"left the service: {response.url}")

    page.on("console", on_console)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    return watched

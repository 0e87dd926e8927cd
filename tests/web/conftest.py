"""Real headless Chromium (Debian's `chromium`, driven by Playwright) against a real stack."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from image2model.config import REPO_WEB_VENDOR_DIR

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL without a GPU: ANGLE on SwiftShader, so the 3D viewer really renders
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
VIEWER = REPO_WEB_VENDOR_DIR / "model-viewer.min.js"
TIMEOUT_MS = 30_000

expect.set_options(timeout=TIMEOUT_MS)  # models take seconds, not Playwright's default 5


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module; a missing Chromium or viewer fails, never skips."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(bash .ci/run does) or set CHROMIUM_PATH"
        )
    if not VIEWER.is_file():
        pytest.fail("The 3D viewer is not installed: run `npm ci --prefix web` (make test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageErrors:
    """Console errors and uncaught exceptions of a page; CSP violations among them."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(message.text)

    @staticmethod
    def is_serious(message: str) -> bool:
        """CSP violations and exceptions; failed requests (a 401 before the key) are expected."""
        return "Content Security Policy" in message or message.startswith("pageerror")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (empty local storage) per test; no page may break the CSP or throw."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    seen: list[PageErrors] = []
    ctx.on("page", lambda page: seen.append(PageErrors(page)))
    yield ctx
    ctx.close()
    problems = [m for errors in seen for m in errors.messages if errors.is_serious(m)]
    assert problems == [], f"the page reported: {problems}"


def wait_until(check: Callable[[], bool], timeout: float = 30, message: str = "") -> None:
    """Poll `check` (Playwright's wait_for_function would need `unsafe-eval` under our CSP)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message or "condition not met in time"
        time.sleep(0.1)

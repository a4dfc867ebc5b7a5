"""Browser fixtures: the real app under `streamlit run`, headless Chromium, one fresh browser context per test.

`app_server` starts Streamlit once per session on a free port of 127.0.0.1 (killed with its process group at
the end); `browser` launches Debian's Chromium; `app` opens the page in a new context (a new Streamlit
session) and hands the test an `AppPage` with the waits and readers every test needs.

Without /usr/bin/chromium (or GRU_VIZ_CHROMIUM) or Playwright the tests are skipped, unless
GRU_VIZ_REQUIRE_E2E=1, which turns that into a failure (set it in CI, so the suite cannot silently vanish).
Screenshots, the server log and the measured latencies go to artifacts/e2e/ (gitignored).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

# tests/e2e is on the path (pytest put conftest's folder there)
from browser_page import (
    ARTIFACTS,
    INIT_JS,
    ROOT,
    TIMEOUT_MS,
    VIEWPORT,
    AppPage,
)

SERVER_START_S = 90
UNSEEN_GRACE_S = 20  # the e2e server's watchdog grace (the app's default is 180 s)


def _need(reason: str) -> None:
    """Skip, or fail under GRU_VIZ_REQUIRE_E2E=1."""
    if os.environ.get("GRU_VIZ_REQUIRE_E2E") == "1":
        pytest.fail(f"GRU_VIZ_REQUIRE_E2E=1 but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


# --- the server -----------------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "tools"))
import chromium  # noqa: E402 (tools/ is not a package): Chromium's path and launch settings, shared with the tools
from app_server import AppServer, ServerError  # noqa: E402


class Server:
    """One `streamlit run streamlit_app.py` on a free port of 127.0.0.1, in its own process group
    (tools/app_server.py starts, polls and stops it).

    `ensure()` restarts it (and says so) when it is gone between tests: on a shared machine something outside
    the suite may stop it, and one lost server should cost one test, not all that follow.
    """

    def __init__(self, cache_dir: Path):
        self.cache_dir = cache_dir
        self.log_path = ARTIFACTS / "streamlit.log"
        # a short watchdog grace, so that a test can show a watched run is never stopped by it
        self._app = AppServer(self.log_path, env={"GRU_VIZ_CACHE_DIR": str(cache_dir), "GRU_VIZ_LIVE_FORCE": "1",
                                                  "GRU_VIZ_UNSEEN_GRACE": str(UNSEEN_GRACE_S)})

    @property
    def proc(self):
        return self._app.proc

    @property
    def url(self) -> str:
        return self._app.url

    @property
    def starts(self) -> int:
        return self._app.starts

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            self._app.start(timeout=SERVER_START_S)
        except ServerError as exc:
            pytest.fail(str(exc), pytrace=False)

    def alive(self) -> bool:
        return self._app.alive()

    def ensure(self) -> None:
        if not self.alive():
            print(f"[server] streamlit had exited (code {self.proc.returncode}); starting it again")
            self.start()

    def stop(self) -> None:
        self._app.stop()

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n: int = 3000) -> str:
        return self._app.log_tail(n)


@pytest.fixture(scope="session")
def app_server(_cache_dir) -> Iterator[Server]:
    """The app under `streamlit run`, healthy (GET /_stcore/health == "ok"); stopped at the end of the session."""
    server = Server(Path(_cache_dir))
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not chromium.CHROMIUM.exists():
        _need(f"{chromium.CHROMIUM} not found (apt-get install chromium, or set GRU_VIZ_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = chromium.launch(p)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the `app` fixture can screenshot a failing test."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class OfflineFile(NamedTuple):
    """A saved page opened from file:// in a context with the network off, and what it asked for or threw."""

    page: object
    requests: list[str]
    errors: list[str]


def open_offline(browser, path, width: int = 1280, height: int = 720) -> OfflineFile:
    """Open an exported HTML file as a student would at home with no network: every request and page error kept."""
    context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return OfflineFile(page, requests, errors)


def assert_nothing_fetched(opened: OfflineFile) -> None:
    """No page error, and every request the file made stayed inside it (its own data, blobs and workers)."""
    assert not opened.errors, opened.errors
    assert all(u.startswith(("file:", "blob:", "data:")) for u in opened.requests), opened.requests
    opened.page.context.close()


@pytest.fixture()
def app(request, browser, app_server) -> Iterator[AppPage]:
    """A fresh browser context (so a fresh Streamlit session) on the loaded app."""
    app_server.ensure()
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(INIT_JS)
    page = context.new_page()
    messages: list[str] = []
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    ui = AppPage(page, app_server, re.sub(r"\W+", "_", request.node.name).strip("_"))
    try:
        try:
            ui.open()
        except AssertionError:
            if app_server.alive():
                raise
            app_server.ensure()  # stopped from outside while the page loaded: once more on a fresh server
            ui = AppPage(page, app_server, ui.test_name)
            ui.open()
        yield ui
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                ui.shot("FAILED")
            except Exception as exc:  # noqa: BLE001 (best effort: the test already failed)
                print(f"could not take a failure screenshot: {exc}")
            if messages:
                print("\n".join(messages))
            if not app_server.alive():
                print(f"[server] streamlit exited during this test (code {app_server.proc.returncode}); "
                      f"log tail:\n{app_server.log_tail(1500)}")
        context.close()

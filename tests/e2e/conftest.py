"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server
and a real embedded KurrentDB node (a fresh one per test).

No browser is downloaded: Chromium is launched by path. Without it the tests skip
with the reason shown, except when CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from kurrent.connection.manager import connections
from tests.conftest import PASSWORD, point_env_at

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing_browser(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("playwright is not installed (pip install -e '.[dev]')")
    # Playwright's sync API runs an asyncio loop in this thread; Django would then
    # refuse ORM calls from the test body. The ORM calls here are plain sync ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            try:
                chromium = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
            except Exception as exc:  # a broken install: same rule as a missing one
                _missing_browser(f"Chromium at {CHROMIUM} did not start: {exc}")
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def node(settings: Any) -> Iterator[Any]:
    """A fresh in-memory node serving `dev`, and a 1 s status/sync interval."""
    from kurrent.embedded import EmbeddedNode

    settings.KURRENTDB_SYNC_INTERVAL_MS = 1000
    settings.KURRENTDB_TIMEOUT_MS = 2000
    settings.KURRENTDB_ENABLED = True
    settings.KURRENTDB_ENVIRONMENT = "dev"
    server = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    point_env_at(settings, "dev", server.url)
    try:
        yield server
    finally:
        connections.reset()
        server.stop()


@pytest.fixture
def app(live_server: Any, node: Any) -> str:
    """The live server's base URL, with the node running."""
    return live_server.url


@pytest.fixture
def new_page(browser: Any, app: str) -> Iterator[Any]:
    """new_page(width=1280, scheme="light", user=None) -> a page in its own context,
    signed in as `user` (through the sign-in form) when given."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(width: int = 1280, scheme: str = "light", user: Any = None, **options: Any) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": 900},
            color_scheme=scheme,
            base_url=app,
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        # The Content-Security-Policy is on: whatever it refuses (an inline script or
        # style, eval) Chromium reports on the console; every test ends with none.
        page.csp_violations = []
        page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text
                and page.csp_violations.append(message.text)
            ),
        )
        pages.append(page)
        if user is not None:
            sign_in(page, user.username)
        return page

    yield make
    violations = [text for page in pages for text in page.csp_violations]
    for context in contexts:
        context.close()
    assert not violations, f"the Content-Security-Policy refused: {violations}"


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/kurrent-db-demo/")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

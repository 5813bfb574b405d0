"""Browser fixtures: Debian's Chromium driven by Playwright (sync API) against pytest-django's live server.

Every page a test opens collects console errors, uncaught exceptions and CSP violations; a test calls
``page.assert_clean()`` after each page to prove the page ran without any (the CSP allows no inline
script or style, so a template that slips one in fails here).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings

from socialapp.models import Post

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make next to it are
# still plain synchronous calls, so Django's async-safety guard would only get in the way.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Injected before any page script: Chromium logs most CSP refusals to the console, and this makes
# sure every one of them (including ones from attributes and styles) reaches it as an error.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class BrowserPage:
    """A Playwright page plus what went wrong on it since the last ``assert_clean``."""

    page: Any  # playwright.sync_api.Page
    base_url: str
    screenshot_dir: Path
    problems: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def url_path(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def assert_clean(self, *, allow_statuses: tuple[int, ...] = ()) -> None:
        """No console error, page error or CSP violation since the last call.

        ``allow_statuses``: a page that is *meant* to answer e.g. 400 (a form with errors) makes
        Chromium log "Failed to load resource … 400"; that one line is expected, nothing else is.
        """
        problems = [
            p for p in self.problems if not ((m := _FAILED_LOAD.search(p)) and int(m.group(1)) in allow_statuses)
        ]
        self.problems.clear()
        assert problems == [], f"browser reported problems on {self.page.url}: {problems}"

    def screenshot(self, name: str) -> Path:
        path = self.screenshot_dir / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium (/usr/bin/chromium) is not installed: run `make browsers`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir() -> Path:
    # `make test` points this at var/screenshots/ (its own VAR_DIR is var/test/).
    folder = Path(os.environ.get("SCREENSHOT_DIR") or Path(settings.VAR_DIR) / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def open_page(chromium: Any, live_server: Any, screenshot_dir: Path) -> Iterator[Callable[..., BrowserPage]]:
    """Open a page in a fresh browser context (its own cookies: one context per person)."""
    contexts: list[Any] = []

    def open_(*, viewport: tuple[int, int] = (1280, 900), javascript: bool = True) -> BrowserPage:
        context = chromium.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, java_script_enabled=javascript
        )
        context.set_default_timeout(10_000)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        browser_page = BrowserPage(page=page, base_url=live_server.url, screenshot_dir=screenshot_dir)
        page.on(
            "console",
            lambda msg: (
                browser_page.problems.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda exc: browser_page.problems.append(f"page error: {exc}"))
        # Accept the data-confirm dialogs; a test that wants to refuse one registers its own handler.
        page.on("dialog", lambda dialog: dialog.accept())
        return browser_page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def sample_video(tmp_path: Path) -> Path:
    """A real two-second H.264 MP4, drawn frame by frame (nothing downloaded)."""
    from socialapp.demo_media import make_video

    return make_video(tmp_path / "sunset.mp4", seconds=2, size=(320, 180))


@pytest.fixture(autouse=True, scope="session")
def _media_served_by_the_app() -> Iterator[None]:
    """Django's live server answers /media/ itself (no byte ranges, none of our headers); hand those
    requests to the app's own media view instead, so the browser sees what users get."""
    from django.test import testcases

    original = testcases._MediaFilesHandler._should_handle
    testcases._MediaFilesHandler._should_handle = lambda self, path: False  # type: ignore[method-assign]
    yield
    testcases._MediaFilesHandler._should_handle = original  # type: ignore[method-assign]


FACTORY_PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


def log_in(browser: BrowserPage, username: str) -> None:
    """Log in through the login page as a user made by UserFactory."""
    from playwright.sync_api import expect

    browser.goto("/login/")
    page = browser.page
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(FACTORY_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    browser.assert_clean()


PASSWORD = "violet-harbour-lantern-42"  # of accounts the browser tests sign up


def make_post(**fields: Any) -> Post:
    """A photo post made through the real upload validation (factory_boy's types say otherwise)."""
    from tests.factories import PostFactory

    return cast(Post, PostFactory(**fields))


def sign_up(browser: BrowserPage, username: str, *, screenshot: str | None = None) -> None:
    """Create an account through the sign-up page (and land on the feed, logged in)."""
    from playwright.sync_api import expect

    browser.goto("/signup/")
    page = browser.page
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    browser.assert_clean()
    if screenshot:
        browser.screenshot(screenshot)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text(f"Welcome, @{username}!")).to_be_visible()
    assert browser.url_path() == "/"
    browser.assert_clean()


def snap(browser: BrowserPage, name: str) -> None:
    """A full-page screenshot from the top (the sticky header would otherwise sit mid-page)."""
    browser.page.evaluate("window.scrollTo(0, 0)")
    browser.screenshot(name)


def image_width(browser: BrowserPage, selector: str) -> int:
    """Wait until the image has loaded and return its natural width (0 means it failed)."""
    from playwright.sync_api import expect

    image = browser.page.locator(selector).first
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()
    browser.page.wait_for_function("img => img.complete", arg=image.element_handle())
    return int(image.evaluate("img => img.naturalWidth"))

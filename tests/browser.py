"""A real browser for the tests of the web pages: Debian's Chromium, headless, driven by selenium through Debian's
ChromeDriver (both installed by scripts/browser.sh; pip's playwright cannot download its browsers on our machines).

What an HTTP client cannot tell: how the page lays out on a phone and on a desktop, whether it scrolls sideways,
whether the answer is large enough to read. The fixture (``browser`` in tests/conftest.py) starts one Chromium per
test module — a start costs about a second, a page a few hundredths. Selenium blocks: a test whose server runs on
its own event loop calls the browser from a thread (``asyncio.to_thread``), or the page never arrives.

Without Chromium the fixture skips on a developer's machine, and fails in CI (``CI`` set), where scripts/test.sh
installs it: a browser test must never pass in CI by not running.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# No sandbox: CI runs as root, where Chromium refuses to start with it. No background networking, component
# updates, sync or QUIC: the machines' network is closed, and Chromium's own connections to Google would be
# refused (many at a time) or wait on lookups that never answer. /dev/shm is small in containers.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync")

PHONE, DESKTOP = 390, 1280
HEIGHTS = {PHONE: 844, DESKTOP: 800}  # a common phone's and a laptop's screen


def in_ci() -> bool:
    """Whether the suite runs in CI (``CI=true`` there), where a missing browser is a failure, not a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing() -> str | None:
    """Why no browser test can run here, or None when Chromium, ChromeDriver and selenium are all there."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver, or scripts/browser.sh as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium with a profile of its own (a fresh ``--user-data-dir``, removed afterwards): nothing
    a developer's own Chromium keeps (cookies, cache, a running instance's lock) leaks into a test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="qyzmet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={DESKTOP},{HEIGHTS[DESKTOP]}"):
        options.add_argument(flag)
    # An explicit driver path: selenium then never runs Selenium Manager, which would try to download one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_width(driver: WebDriver, width: int, height: int | None = None) -> None:
    """Lay pages out ``width`` CSS pixels wide, from the next page on (the setting outlives navigations).

    The window's size is not the viewport's: the window's frame takes its share, and differently per platform
    and headless mode. The DevTools override sets the viewport itself, exactly; below 600 px it also emulates a
    phone (``mobile``), so that the page's ``<meta name="viewport">`` is obeyed as on a real phone — a page
    without one is laid out 980 px wide there, which ``viewport_width`` then shows."""
    height = height or HEIGHTS.get(width, 800)
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def viewport_width(driver: WebDriver) -> int:
    """The width the current page is laid out in, in CSS pixels (the layout viewport's)."""
    return int(driver.execute_script("return window.innerWidth"))


def no_horizontal_scroll(driver: WebDriver) -> bool:
    """Whether the current page fits its width: nothing sticks out to the right, so there is nothing to scroll
    sideways to (the page's full width is no more than what is shown)."""
    return bool(driver.execute_script(
        "const e = document.documentElement; return e.scrollWidth <= e.clientWidth"))


def screenshot(driver: WebDriver, path: Path | str) -> Path:
    """Save the whole current page as a PNG at ``path`` (its directory made when missing), at the width set,
    down to its end: a phone's page is longer than its screen, and the answer is below the form."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = driver.execute_script(
        "return [window.innerWidth, Math.ceil(document.documentElement.scrollHeight)]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


__all__ = ["CHROMEDRIVER", "CHROMIUM", "DESKTOP", "FLAGS", "PHONE", "chromium", "in_ci", "missing",
           "no_horizontal_scroll", "screenshot", "set_width", "viewport_width"]

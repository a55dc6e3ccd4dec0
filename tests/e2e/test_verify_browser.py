"""The public pages in a real browser (headless Chromium, tests/browser.py), on a phone (390 px) and a desktop
(1280 px), in Kazakh and Russian: an employer opens /verify, types the number and the code of a certificate the
bot really issued, and reads the verdict; a checker opens the QR code's link and a holder's share link and reads
the whole form. What the HTTP tests of the pages (test_certificate_checks.py) cannot see: that they fit the
screen without sideways scrolling, name their issuer, and put the verdict on screen, large enough to read.

The page is the same on both engines, and test_certificates.py already checks it over HTTP on both: these
tests run on SQLite only (scripts/test.sh runs the PostgreSQL suite beside them).

Screenshots of every step go to a temporary directory, or to ``QYZMET_SCREENSHOTS`` when set:
scripts/screenshots.py uses that to refresh the README's pictures in docs/.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests import engines
from tests.browser import DESKTOP, PHONE, no_horizontal_scroll, screenshot, set_width, viewport_width
from tests.e2e.test_certificate_checks import make_share
from tests.e2e.test_certificates import LANGS, own_certificate, says

pytestmark = pytest.mark.skipif(engines.on_postgres(), reason="the page does not depend on the engine; "
                                "test_certificates.py checks it over HTTP on PostgreSQL")

WIDTHS = (PHONE, DESKTOP)
MIN_FONT_PX = 14.0  # below this, a verdict read on a phone at arm's length is hard to read
# The word for "valid" (ru: действителен, -льна, -льно, -льны; kk: жарамды), as a whole word: «недействительна»
# and «жарамсыз» (invalid) do not count.
VALID_WORD = {"ru": re.compile(r"\bдействител(ен|ьн[аоы]?)\b", re.IGNORECASE),
              "kk": re.compile(r"\bжарамды\b", re.IGNORECASE)}

# The smallest font size of any text in an element (the element's own, and its descendants' that hold text).
MIN_FONT_SIZE_JS = """
const sizes = [];
for (const e of [arguments[0], ...arguments[0].querySelectorAll('*')]) {
  const own = [...e.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  if (own || e === arguments[0]) sizes.push(parseFloat(getComputedStyle(e).fontSize));
}
return Math.min(...sizes);
"""
BOX_JS = """
const r = arguments[0].getBoundingClientRect();
return [r.left, r.right, document.documentElement.clientWidth, arguments[0].scrollWidth, arguments[0].clientWidth];
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: ``QYZMET_SCREENSHOTS`` (scripts/screenshots.py) or a temporary directory."""
    asked = os.environ.get("QYZMET_SCREENSHOTS")
    return Path(asked) if asked else tmp_path_factory.mktemp("screenshots")


def open_page(driver: WebDriver, base: str, lang: str, width: int) -> None:
    set_width(driver, width)
    driver.get(f"{base}/verify?lang={lang}")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    # The page is laid out at the device's width (on a phone that takes its <meta name="viewport">)…
    assert viewport_width(driver) == width
    # …and fits it.
    assert no_horizontal_scroll(driver), f"/verify?lang={lang} scrolls sideways at {width} px"


def submit(driver: WebDriver, number: str, code: str) -> WebElement:
    """Type the number and the code, send the form, and return the verdict of the page that answers."""
    for field, value in (("number", number), ("code", code)):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    assert not driver.find_elements(By.CSS_SELECTOR, 'input[name="status"]')  # the mark is never asked for
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, 'form [type="submit"]').click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(old))
    return verdict_of(driver)


def verdict_of(driver: WebDriver) -> WebElement:
    found = driver.find_elements(By.CSS_SELECTOR, "#verdict")
    assert found, f"no verdict (#verdict) on the page:\n{driver.page_source[:3000]}"
    return found[0]


def issuer_shown(driver: WebDriver) -> None:
    headers = driver.find_elements(By.CSS_SELECTOR, "header.issuer")
    assert headers and headers[0].is_displayed(), "the page does not name its issuer"
    assert "1414" in headers[0].text, headers[0].text


def assert_readable(driver: WebDriver, verdict: WebElement, width: int) -> None:
    """On screen, large enough, inside the screen's width, and the page still does not scroll sideways."""
    assert verdict.is_displayed(), "the verdict is hidden"
    smallest = float(driver.execute_script(MIN_FONT_SIZE_JS, verdict))
    assert smallest >= MIN_FONT_PX, f"text of {smallest} px in the verdict at {width} px"
    left, right, page, inner_scroll, inner = driver.execute_script(BOX_JS, verdict)
    assert left >= 0 and right <= page, f"the verdict spans {left}–{right} px of {page} px"
    assert inner_scroll <= inner, f"the verdict's text overflows its box at {width} px"
    assert no_horizontal_scroll(driver), f"the answer scrolls sideways at {width} px"


def employer_checks(driver: WebDriver, base: str, lang: str, number: str, code: str, wrong: str,
                    valid_text: str, shots: Path) -> None:
    """At each width: the page as opened, the verdict on the right code, and on a wrong one."""
    valid = VALID_WORD[lang]
    for width in WIDTHS:
        open_page(driver, base, lang, width)
        issuer_shown(driver)
        screenshot(driver, shots / f"verify-{lang}-{width}.png")
        verdict = submit(driver, number, code)
        assert_readable(driver, verdict, width)
        assert number in verdict.text, verdict.text
        screenshot(driver, shots / f"verify-{lang}-{width}-verdict.png")

        open_page(driver, base, lang, width)
        refused = submit(driver, number, wrong)
        assert_readable(driver, refused, width)
        assert not valid.search(refused.text) and valid_text not in refused.text, refused.text
        assert "Сергей" not in refused.text, refused.text  # nor whose certificate it is


@pytest.mark.parametrize("lang", LANGS)
async def test_an_employer_checks_a_certificate_in_a_real_browser(sh, browser, shots, lang):
    _, _, number, code = await own_certificate(sh, 6201, lang)
    wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
    # Selenium blocks while the page is served by the bot on this event loop: the browser works from a thread.
    await asyncio.to_thread(employer_checks, browser, sh.base, lang, number, code, wrong,
                            says(sh, lang, "verify.valid", number=number), shots)
    # Every submission reached the bot: a right and a wrong code at each width.
    rows = await sh.services.db.fetchall("SELECT channel, outcome FROM certificate_checks")
    assert sorted(tuple(r) for r in rows) == sorted([("web", "valid"), ("web", "no_match")] * len(WIDTHS))


def reads_the_form(driver: WebDriver, url: str, lang: str, name: str, mark: str, shots: Path, shot: str) -> None:
    """A page showing the whole form (the QR code's link, a share link): at each width it fits, names its issuer,
    and its verdict holds the person's full name and the mark, readable."""
    for width in WIDTHS:
        set_width(driver, width)
        driver.get(url)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
        assert viewport_width(driver) == width and no_horizontal_scroll(driver), f"{shot} scrolls at {width} px"
        issuer_shown(driver)
        verdict = verdict_of(driver)
        assert_readable(driver, verdict, width)
        assert name in verdict.text and mark in verdict.text, verdict.text
        screenshot(driver, shots / f"{shot}-{lang}-{width}.png")


def reads_only_closed(driver: WebDriver, url: str, closed_text: str, name: str) -> None:
    for width in WIDTHS:
        set_width(driver, width)
        driver.get(url)
        verdict = verdict_of(driver)
        assert_readable(driver, verdict, width)
        assert closed_text in verdict.text and name not in driver.page_source


@pytest.mark.parametrize("lang", LANGS)
async def test_the_qr_link_and_a_share_link_show_the_form_in_a_real_browser(sh, browser, shots, lang):
    holder, _, number, _ = await own_certificate(sh, 6211, lang)
    certificate = await sh.services.results.certificate_for(number)
    assert certificate is not None
    name, mark = "Иванов Сергей Петрович", says(sh, lang, "form.observed_yes")
    await asyncio.to_thread(reads_the_form, browser, f"{certificate.seal_url}&lang={lang}", lang, name, mark,
                            shots, "seal")
    link = await make_share(sh, holder, "share.btn.1h")
    await asyncio.to_thread(reads_the_form, browser, f"{link}?lang={lang}", lang, name, mark, shots, "share")
    assert await sh.services.shares.revoke(await holder_identity(sh, holder.user_id), link.rsplit("/", 1)[1]
                                           .split(".")[0])
    await asyncio.to_thread(reads_only_closed, browser, f"{link}?lang={lang}", says(sh, lang, "share.page.revoked"),
                            "Иванов")


async def holder_identity(sh, user_id: int):
    identity = await sh.services.identity.current(user_id)
    assert identity is not None
    return identity

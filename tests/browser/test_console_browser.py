"""HR works in the console in headless Chromium, on a phone (390 px) and a desktop: signs in with the link,
chooses a password, reads the dashboard, the people list and a person's page by keyboard alone, and the risk
map; axe-core finds no accessibility violation on any console page, and nothing scrolls sideways."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.helpers.programme import two_organisations

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "a long and unusual phrase"


def _axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs it (npm ci in tests/browser)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]]


def _check(page, name: str, width: int) -> None:
    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
    violations = _axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}px"


def _tab_to(page, text: str, limit: int = 60) -> None:
    """Presses Tab until the focused element's text is `text` (keyboard-only use)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.innerText.trim()") == text:
            return
    raise AssertionError(f"Tab never reached {text!r}")


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 900)])
def test_hr_uses_the_console_by_keyboard_and_every_page_passes_axe(app, live_server, browser, width, height):
    ARTIFACTS.mkdir(exist_ok=True)
    links, ids = two_organisations(app.extensions["db_factory"])
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()

    page.goto(live_server + "/console/signin")
    _check(page, "signin", width)
    page.goto(f"{live_server}/console/signin/link#{links['hr@acme.example']}")
    assert "#" not in page.url  # the secret left the address bar
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/console/password")
    _check(page, "password", width)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/console/acme/")
    assert page.locator("h1").inner_text() == "Acme Ltd"
    _check(page, "dashboard", width)

    _tab_to(page, "People")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/console/acme/people" in page.url
    rows = page.locator("table.people tbody tr")
    assert rows.count() == 3 and "Zed" not in page.content()
    _check(page, "people", width)

    _tab_to(page, "Bo Chen")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/people/{ids['bo']}")
    assert "Failed" in page.locator("main").inner_text()
    _check(page, "person", width)

    page.goto(f"{live_server}/console/acme/risks")
    assert page.locator("table.people tbody tr").count() == 10  # the ten risk areas
    _check(page, "risks", width)

    page.goto(f"{live_server}/console/acme/people?status=passed")
    assert page.locator("table.people tbody tr").count() == 1
    context.close()


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 900)])
def test_the_public_exam_page_a_certificate_names_passes_axe(live_server, browser, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)  # to inject axe
    page = context.new_page()
    page.goto(f"{live_server}/exams/social-media-frontline")
    assert page.locator("h1").inner_text() == "Social Media Risk & Compliance — Front-line"
    _check(page, "exam-page", width)
    context.close()

"""A learner sits a whole exam in headless Chromium on a phone-sized screen."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from storage import Item
from storage.db import transaction
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


PASSWORD = "correct horse battery staple"


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def register(page, base: str, name: str, email: str) -> None:
    page.goto(base + "/")
    with page.expect_navigation():
        page.click("a.button >> text=Create an account")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    # Registering never signs in (it must not tell whether the address had an account): on to the
    # sign-in page, the address filled in.
    assert "/signin" in page.url and page.input_value("input[name=email]") == email
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_phone_learner_sits_whole_exam_resumes_and_sees_result(app, live_server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    register(page, live_server, "Grace Hopper", "grace@example.com")
    assert "Time limit 60 minutes" in page.locator("ul.exams").inner_text()
    with page.expect_navigation():
        page.click("button[data-exam=social-media-frontline]")
    page.wait_for_selector(".question")
    # The exam's time limit counts down on the page (timer.js) from what the server says is left.
    assert page.locator("#timer").inner_text().startswith("Time left 59:") or \
        page.locator("#timer").inner_text().startswith("Time left 60:")
    first_reading = page.locator("#timer").inner_text()
    expect(page.locator("#timer")).not_to_have_text(first_reading, timeout=5000)  # it ticks
    page.screenshot(path=str(ARTIFACTS / "phone-item.png"), full_page=True)
    sitting_url = page.url

    # Nothing on the page scrolls sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    answered = 0
    while page.locator(".question").count():
        item_ref = page.locator("input[name=item_id]").input_value()
        with transaction(app.extensions["db_factory"]) as db:
            options, key = db.execute(
                select(Item.options, Item.key_index).where(Item.external_id == item_ref, Item.is_current.is_(True))
            ).one()
        html = page.content()
        assert "rationale" not in html and "key_index" not in html
        shown = page.locator("label.option span").all_inner_texts()  # in the order this sitting shows them
        page.locator("input[name=choice]").nth(shown.index(options[key]["text"])).check()
        with page.expect_navigation():  # POST, then a redirect to the next item or the result
            page.click("button.primary")
        answered += 1
        if answered == 3:
            # Close the browser tab and come back: the exam resumes where it was.
            url = page.url
            page.close()
            page = context.new_page()
            page.goto(live_server + "/")
            with page.expect_navigation():
                page.click("text=Resume")
            assert page.url == url or page.locator(".question").count() == 1
        assert answered <= 42  # at most 40 scored items plus 2 unscored pretest items

    assert "You passed" in page.locator("h1").first.inner_text()
    assert page.locator("ul.areas li").count() >= 5
    page.screenshot(path=str(ARTIFACTS / "phone-result.png"), full_page=True)
    assert 15 <= answered <= 42
    assert "valid until" in page.locator(".verdict").inner_text()

    page.click("text=My certificates")
    page.screenshot(path=str(ARTIFACTS / "phone-certificates.png"), full_page=True)
    assert page.locator("ul.certs li").count() == 1
    page.click("ul.certs >> text=Verify")
    assert page.locator("[data-status=valid]").count() == 1
    assert "Grace Hopper" in page.content()
    page.screenshot(path=str(ARTIFACTS / "phone-verified.png"), full_page=True)
    pdf_url = page.locator("text=Download the certificate PDF").get_attribute("href")
    pdf = page.request.get(live_server + pdf_url)
    pdf_bytes = pdf.body()
    assert pdf.ok and pdf_bytes.startswith(b"%PDF")

    # Signing out ends the session on the server; signing back in shows the same learner's record.
    page.goto(live_server + "/")
    with page.expect_navigation():
        page.click("text=Sign out")
    page.goto(sitting_url + "/result")
    assert "/signin" in page.url
    page.fill("input[name=email]", "grace@example.com")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Hello, Grace Hopper" in page.content() and "Passed" in page.locator("ul.sittings").inner_text()
    context.close()

    # Another learner, signed in on another phone, cannot open Grace's sitting or result.
    other = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    register(other, live_server, "Mallory", "mallory@example.com")
    for url in (sitting_url, sitting_url + "/result"):
        response = other.goto(url)
        assert response.status == 404 and "Grace" not in other.content()
    other.context.close()

    # HR, on a desktop: upload the PDF on the public verification page.
    hr = browser.new_page(viewport={"width": 1280, "height": 900})
    pdf_file = ARTIFACTS / "certificate.pdf"
    pdf_file.write_bytes(pdf_bytes)
    hr.goto(live_server + "/verify")
    hr.set_input_files("input[name=file]", str(pdf_file))
    hr.click("button.primary")
    assert hr.locator("[data-status=valid]").count() == 1
    hr.screenshot(path=str(ARTIFACTS / "hr-verify-pdf.png"), full_page=True)
    hr.goto(live_server + "/verify")
    hr.fill("textarea[name=credential]", '{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": "nothing"}')
    hr.click("button.primary")
    assert hr.locator("[data-status=not_a_credential]").count() == 1


def test_submitting_without_choice_shows_a_message(app, live_server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    register(page, live_server, "Alan Turing", "alan@example.com")
    page.click("button[data-exam=social-media-frontline]")
    page.wait_for_selector(".question")
    # Bypass the browser's own `required` check to exercise the server's.
    page.evaluate("document.querySelectorAll('input[name=choice]').forEach(e => e.removeAttribute('required'))")
    page.click("button.primary")
    assert "Choose one answer" in page.locator(".error").inner_text()

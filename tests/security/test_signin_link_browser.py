"""Sign-in links in headless Chromium: the page takes the secret from the fragment, the server never
sees it in a URL or header (see test_signin_links.py for the attack)."""
from __future__ import annotations

import os
import shutil
import threading

import pytest
from test_signin_links import AccessLog, _link, _register

pytestmark = pytest.mark.browser


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def test_a_real_browser_signs_in_from_the_fragment_and_the_server_never_sees_it(app, role_token, tmp_path):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing; `make test` installs it")
        pytest.skip("Debian chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    _register(app)
    log = AccessLog(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        client = app.test_client()
        secret = _link(client, role_token).split("#", 1)[1]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
            page = browser.new_page()
            page.goto(f"{base}/signin/link#{secret}")
            assert "#" not in page.url  # the script took the secret out of the address bar and history
            assert not page.is_visible("#link-code")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.url.endswith("/account/password")
            page.fill("input[name=password]", "a brand new passphrase for Ada")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert "Hello, Ada Lovelace" in page.content()
            browser.close()
    finally:
        server.shutdown()
    assert any(line.startswith("POST") and "/signin/link" in line for line in log.lines)
    assert log.mentions(secret) == [], "the link's secret reached the server in a URL or a header"

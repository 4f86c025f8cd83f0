"""Passwords that an attacker tries first are refused (NIST SP 800-63B 5.1.1.2).

Attack: guess the few passwords that most people choose -- "1234567890" was accepted -- or the
ones made of what the attacker knows about the learner (name, e-mail, the service's name). Each
attack is tried as written and spelled differently (case, spaces, symbols for letters, digits and
punctuation added, full-width digits), on every way a password is set.
"""
from __future__ import annotations

import pytest

from errors import Kind
from item_bank import accounts, passwords
from storage.db import transaction

NAME, EMAIL = "Ada Lovelace", "ada.lovelace@example.com"

COMMON = ["1234567890", "１２３４５６７８９０", " 1234567890 ", "1234567890!", "12345 67890", "qwertyuiop",
          "QWERTYUIOP", "password123", "Password123!", "P@ssw0rd2024", "p a s s w o r d 1", "iloveyou12",
          "1q2w3e4r5t", "basketball", "Basketball99", "trustno1trustno1", "passwordpassword", "monkey1234!",
          "0987654321"]
SIMPLE = ["aaaaaaaaaa", "zzzzzzzzzzzzzzzzzz", "abababababab", "abcabcabcabc", "abcdefghijkl", "9876543210",
          "          "]
PERSONAL = ["adalovelace1815", "Ada Lovelace 2024", "4d4 l0v3l4c3!", "lovelace2024!", "ada.lovelace@example.com",
            "AdaLovelace@Example.com", "example2024!!", "certamen2024", "Certamen-2024!", "certamen password",
            "lovelace password"]
FINE = ["correct horse battery staple", "Ada's seven noisy parrots", "lovelace 93847561029384",
        "zebra crossing at dawn", "a brand new passphrase", "my certamen exam is next tuesday at nine"]


@pytest.mark.parametrize("password", COMMON)
def test_common_passwords_and_their_variations_are_refused(password):
    assert passwords.problem(password, name=NAME, email=EMAIL) == passwords.TOO_COMMON


@pytest.mark.parametrize("password", SIMPLE)
def test_repeated_and_sequential_characters_are_refused(password):
    assert passwords.problem(password, name=NAME, email=EMAIL) == passwords.TOO_SIMPLE


@pytest.mark.parametrize("password", PERSONAL)
def test_passwords_made_of_the_learners_own_words_are_refused(password):
    assert passwords.problem(password, name=NAME, email=EMAIL) in (passwords.TOO_PERSONAL, passwords.TOO_COMMON)


@pytest.mark.parametrize("password", FINE)
def test_ordinary_passphrases_are_accepted(password):
    assert passwords.problem(password, name=NAME, email=EMAIL) is None


def test_the_list_is_the_shipped_one_and_ten_thousands_long():
    common = passwords.common_passwords()
    assert len(common) > 19_000 and {"123456", "password", "1234567890", "qwertyuiop"} <= common
    assert all(word == word.casefold() for word in common)


def test_a_very_long_password_is_checked_quickly():
    import time

    started = time.perf_counter()
    assert passwords.problem("x7Yq" * 256, name=NAME, email=EMAIL) == passwords.TOO_SIMPLE
    ideographs = "".join(chr(0x4e00 + i * 7919 % 20000) for i in range(1024))
    assert passwords.problem(ideographs, name=NAME, email=EMAIL) is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("password, message", [("1234567890", "too common"), ("adalovelace1815", "your name"),
                                               ("aaaaaaaaaa", "repeated")])
def test_registration_refuses_with_a_clear_message_and_creates_nothing(app, client, password, message):
    r = client.post("/api/v1/learners", json={"name": NAME, "email": EMAIL, "password": password})
    assert r.status_code == 422 and message in r.get_json()["error"]
    browser = app.test_client()
    browser.get("/register")
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    page = browser.post("/register", data={"name": NAME, "email": EMAIL, "password": password, "csrf_token": csrf})
    assert page.status_code == 422 and message.encode() in page.data
    assert client.post("/api/v1/signin", json={"email": EMAIL, "password": password}).status_code == 401


def test_a_new_password_is_checked_too(app):
    with transaction(app.extensions["db_factory"]) as db:
        candidate = accounts.register(db, name=NAME, email=EMAIL, password="correct horse battery staple")
        for password in ("1234567890", "Lovelace!2024", "P@ssw0rd2024"):
            with pytest.raises(accounts.AccountError) as refused:
                accounts.set_password(db, candidate, password)
            assert refused.value.kind is Kind.INVALID
        accounts.set_password(db, candidate, "zebra crossing at dawn")

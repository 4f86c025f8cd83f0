"""Mail reaches a real SMTP server on loopback, or the outbox folder when none is configured."""
from __future__ import annotations

import pytest
from smtp_server import smtp_server

from cli.main import main
from notifications.mail import Mail, MailError, OutboxMailer, SmtpMailer, mailer_for
from settings import Settings, SettingsError

SENDER = "Certamen <no-reply@certs.example.com>"
NOTICE = Mail(to="ada@example.com", subject="Your exam is due Friday", text="Plain words.\n",
              html="<p>Plain words.</p>", key="reminder:ada:frontline:2026-12-11:7")


def test_a_message_reaches_the_smtp_server_with_login_text_and_html():
    with smtp_server(login=("certamen", "s3cret pass")) as (address, received):
        where = SmtpMailer(f"smtp://certamen:s3cret%20pass@{address}", SENDER).send(NOTICE)
    assert where == f"smtp server {address}"
    (message,) = received.messages
    assert received.recipients == [["ada@example.com"]]
    assert (message["To"], message["From"], message["Subject"]) == ("ada@example.com", SENDER, NOTICE.subject)
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Plain words.\n"
    assert message.get_body(("html",)).get_content().strip() == "<p>Plain words.</p>"
    assert message["Message-ID"].endswith("@certs.example.com>")


def test_the_same_notice_always_has_the_same_message_id_and_another_notice_another():
    first, again = NOTICE.message(SENDER), NOTICE.message(SENDER)
    other = Mail(to=NOTICE.to, subject=NOTICE.subject, text=NOTICE.text, key="reminder:ada:frontline:2026-12-11:1")
    assert first["Message-ID"] == again["Message-ID"] != other.message(SENDER)["Message-ID"]


def test_a_refused_login_says_so_without_the_password():
    with smtp_server(login=("certamen", "right")) as (address, received):
        with pytest.raises(MailError) as caught:
            SmtpMailer(f"smtp://certamen:wrong-password@{address}", SENDER).send(NOTICE)
    assert "refused the login for 'certamen'" in str(caught.value) and "wrong-password" not in str(caught.value)
    assert received.messages == []


def test_no_server_listening_is_a_mail_error():
    with smtp_server() as (address, _):
        pass  # stopped: nothing listens there now
    with pytest.raises(MailError, match="ConnectionRefusedError"):
        SmtpMailer(f"smtp://{address}", SENDER).send(NOTICE)


def test_without_a_server_mail_goes_to_the_outbox_once_per_notice(tmp_path):
    mailer = mailer_for(Settings(instance_dir=tmp_path, mail_from=SENDER))
    assert isinstance(mailer, OutboxMailer)
    first = mailer.send(NOTICE)
    assert mailer.send(NOTICE) == first  # the same notice replaces its file
    files = sorted((tmp_path / "outbox").iterdir())
    assert [str(f) for f in files] == [first] and b"Subject: Your exam is due Friday" in files[0].read_bytes()


@pytest.mark.parametrize("url, message", [
    ("http://mail.example.com", "must look like smtp://"),
    ("smtp://", "must look like smtp://"),
    ("smtp://user:hunter2@mail.example.com:port", "is not a URL"),
    ("smtp://user:hunter2@mail.example.com:587?tls=yes", "the only option is starttls"),
])
def test_a_bad_smtp_url_is_refused_without_repeating_it(url, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CERTAMEN_SMTP_URL": url})
    assert message in str(caught.value) and "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(Settings(smtp_url="smtp://u:hunter2@h"))


def test_certamen_mail_test_sends_through_the_configured_server(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CERTAMEN_INSTANCE", str(tmp_path))
    monkeypatch.setenv("CERTAMEN_MAIL_FROM", SENDER)
    with smtp_server() as (address, received):
        monkeypatch.setenv("CERTAMEN_SMTP_URL", f"smtp://{address}")
        assert main(["mail", "test", "ops@example.com"]) == 0
    assert [m["To"] for m in received.messages] == ["ops@example.com"]
    assert f"via smtp server {address}" in capsys.readouterr().out
    monkeypatch.delenv("CERTAMEN_SMTP_URL")
    assert main(["mail", "test", "ops@example.com"]) == 0
    assert "no SMTP server is configured" in capsys.readouterr().out and list((tmp_path / "outbox").glob("*.eml"))
    assert main(["mail", "test", "not an address"]) == 1

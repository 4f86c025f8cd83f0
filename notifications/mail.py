"""Sending mail: to an SMTP server when one is configured, else into a local outbox folder.

`CERTAMEN_SMTP_URL` (settings) picks the server: ``smtp://user:password@host:587?starttls=1`` or
``smtps://host:465``. Without it, each message is written to ``<instance>/outbox/`` as an ``.eml`` file a
mail program opens, so a ``make run`` user sees what would have been sent. Each message carries a
Message-ID derived from its idempotency key (the notice it is), so a receiver can tell a resend from a new
message; deciding *whether* to send exactly once is the caller's job (the notices table).
"""
from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from errors import CertamenError, Kind
from settings import Settings

SMTP_TIMEOUT = 30  # seconds for each SMTP command; a server that hangs must not hold a worker forever


class MailError(CertamenError):
    """The message could not be handed over; the text says why without repeating credentials."""

    kind = Kind.UNAVAILABLE


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    key: str = ""  # idempotency key: the same notice always gets the same Message-ID
    headers: dict[str, str] = field(default_factory=dict)

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, self.to, self.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(self.key or f"{self.to}\n{self.subject}\n{self.text}", sender)
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        return message


def message_id(key: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1].rstrip(">").strip() or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class Mailer(Protocol):
    def send(self, mail: Mail) -> str:
        """Hands `mail` over; says where it went (for the operator, never with a password)."""
        ...


class SmtpMailer:
    def __init__(self, url: str, sender: str):
        parts = urlsplit(url)
        self.host, self.sender = parts.hostname or "", sender
        self.tls_from_start = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.tls_from_start else 587)
        self.starttls = "starttls=1" in parts.query.split("&")
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None

    def send(self, mail: Mail) -> str:
        where = f"smtp server {self.host}:{self.port}"
        try:
            context = ssl.create_default_context()
            with (smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
                  if self.tls_from_start else smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)) as server:
                if self.starttls:
                    server.starttls(context=context)
                if self.username is not None:
                    server.login(self.username, self._password or "")
                server.send_message(mail.message(self.sender))
        except smtplib.SMTPAuthenticationError:
            raise MailError(f"{where} refused the login for {self.username!r}") from None
        except smtplib.SMTPRecipientsRefused:
            raise MailError(f"{where} refused the recipient {mail.to!r}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{where}: {type(exc).__name__}: {exc}") from None
        return where


class OutboxMailer:
    def __init__(self, folder: Path, sender: str):
        self.folder, self.sender = folder, sender

    def send(self, mail: Mail) -> str:
        """Written whole or not at all (a temporary file renamed), named after the Message-ID: writing the same
        notice again replaces its file instead of adding one."""
        message = mail.message(self.sender)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{message['Message-ID'].strip('<>').split('@')[0]}.eml"
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(message.as_bytes())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(path)


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(settings.outbox_dir, settings.mail_from)

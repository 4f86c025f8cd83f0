"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, for the mail tests."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """What the server accepted: each message as parsed, with its envelope recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    # With `stall_at` n: the n-th message is taken, then its "250 accepted" reply waits `stall_for` seconds
    # (`stalled` is set meanwhile): a sender can be killed between the server's taking it and knowing it did.
    stall_at: int | None = None
    stall_for: float = 0.0
    stalled: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        if len(self.messages) == self.stall_at:
            self.stalled.set()
            await asyncio.sleep(self.stall_for)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(*, login: tuple[str, str] | None = None, stall_at: int | None = None,
                stall_for: float = 0.0) -> Iterator[tuple[str, Received]]:
    """(host:port, what it received). With `login`, AUTH is required and only that user and password pass
    (over plain SMTP: loopback only, which aiosmtpd warns about). `stall_at`: see Received."""
    received = Received(stall_at=stall_at, stall_for=stall_for)

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and login is not None and \
            (auth_data.login.decode(), auth_data.password.decode()) == login
        return AuthResult(success=ok, handled=False)

    port = _free_port()
    options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False} if login else {}
    controller = Controller(received, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", received
    finally:
        controller.stop()

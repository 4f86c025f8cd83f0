"""What every command group shares: the settings, the database, output, and reading the user's input."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from errors import CertamenError
from item_bank.pdf_fonts import use_font_dir
from settings import Settings
from storage.db import database_url as _normalised_url
from storage.db import make_engine, make_session_factory


class CommandError(CertamenError):
    """A failure of the command itself, reported as one clear line; `code` overrides the exit status."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


_SETTINGS: Settings | None = None  # built from the environment once, by main()


def load_settings() -> Settings:
    """Read the environment afresh, so a bad variable fails every command alike, before it does anything."""
    global _SETTINGS
    _SETTINGS = Settings.from_env()
    use_font_dir(_SETTINGS.font_dir)
    return _SETTINGS


def settings() -> Settings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = Settings.from_env()
    return _SETTINGS


def database_url() -> str:
    return _normalised_url(settings().database_url)


def session_factory():
    return make_session_factory(make_engine(database_url()))


def issuer_settings():
    """The issuer as the web app sees it (api.create_app builds the same from the same settings)."""
    from certs.keys import KeyStore
    from certs.service import IssuerSettings

    current = settings()
    keys = KeyStore(current.key_dir, host=current.public_url, passphrase=current.key_passphrase)
    return IssuerSettings(public_url=current.public_url, name=current.issuer_name, keys=keys)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def emit(args: argparse.Namespace, payload: Any, text: Callable[[Any], str]) -> None:
    """One payload, two readers: --json for scripts, the text for people."""
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text(payload))


def read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except ValueError as exc:
        raise CommandError(f"{path}: not a {what} (invalid JSON: {exc})") from None


def parse_when(text: str) -> datetime:
    """An ISO date or date-time from the command line (UTC unless it says otherwise)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not an ISO date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)

"""One error root: every error the project raises to a person has a kind, and only api/ and cli/ turn kinds
into HTTP statuses and exit codes."""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from api.errors import HTTP_STATUS
from cli.main import CommandError, exit_status
from errors import CertamenError, Kind

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_PACKAGES = ("engine", "storage", "item_bank", "calibration", "certs", "organisations", "settings")


def _all_error_classes() -> set[type[BaseException]]:
    for package in (*DOMAIN_PACKAGES, "api", "cli"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            importlib.import_module(info.name)
    found, todo = set(), [Exception]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.split(".")[0] in (*DOMAIN_PACKAGES, "api", "cli") and sub not in found:
                found.add(sub)
                todo.append(sub)
            elif sub not in found:
                todo.append(sub)
    return found


def test_every_kind_has_an_http_status_and_an_exit_status():
    assert set(HTTP_STATUS) == set(Kind)
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())
    assert {exit_status(CertamenError("x", kind=kind)) for kind in Kind} == {1, 2}


def test_every_project_error_shares_the_root():
    """Private control-flow signals (a leading underscore) are not errors anyone is told about."""
    strays = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in _all_error_classes()
                    if not issubclass(cls, (CertamenError, Warning)) and not cls.__name__.startswith("_"))
    assert strays == []


def test_domain_code_names_no_http_status():
    """Domain packages say what went wrong; api/ decides the HTTP status."""
    pattern = re.compile(r"\bstatus\s*=\s*[1-5]\d\d\b|\bstatus_code\b")
    hits = [f"{path.relative_to(ROOT)}:{n}" for package in DOMAIN_PACKAGES for path in (ROOT / package).rglob("*.py")
            for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


@pytest.mark.parametrize("kind, status", [(Kind.NOT_FOUND, 404), (Kind.THROTTLED, 429), (Kind.UNAVAILABLE, 503)])
def test_the_app_answers_a_domain_error_with_its_kinds_status(kind, status):
    from flask import Flask

    from api.errors import register_error_handlers

    app = Flask(__name__)
    register_error_handlers(app)
    error = CertamenError("the thing went wrong", kind=kind)
    error.retry_after = 7 if kind is Kind.THROTTLED else None

    @app.get("/api/v1/boom")
    def boom():
        raise error

    response = app.test_client().get("/api/v1/boom")
    assert response.status_code == status and response.get_json() == {"error": "the thing went wrong"}
    assert response.headers.get("Retry-After") == ("7" if kind is Kind.THROTTLED else None)


def test_a_command_error_may_set_its_own_exit_status():
    assert exit_status(CommandError("not valid")) == 1
    assert exit_status(CommandError("not a PDF", code=2)) == 2

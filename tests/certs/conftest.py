"""Fixtures for the certs/ tests: a throw-away issuer (keys in a tmp dir), status lists, and the
independent Node verifier (vcv), installed once per session."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the helpers module sits next to this file (tests/ is not a package)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from certs_testlib import HOST, IssuerEnv

from certs.keys import KeyStore


@pytest.fixture
def issuer(tmp_path) -> IssuerEnv:
    env = IssuerEnv(KeyStore(tmp_path / "keys", host=HOST))
    env.publish_lists()
    return env

"""Fixtures for the certs/ tests: a throw-away issuer (keys in a tmp dir), status lists, and the
independent Node verifier (vcv), installed once per session."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# the helpers module sits next to this file (tests/ is not a package)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from certs_testlib import HOST, VCV, IssuerEnv, Vcv
from certs.keys import KeyStore


@pytest.fixture
def issuer(tmp_path) -> IssuerEnv:
    env = IssuerEnv(KeyStore(tmp_path / "keys", host=HOST))
    env.publish_lists()
    return env


@pytest.fixture(scope="session")
def vcv(tmp_path_factory) -> Vcv:
    """The conformance oracle ../shared/vc-verifier/vcv (installs its npm packages on first use)."""
    if not VCV.exists():
        pytest.skip(f"independent verifier not found at {VCV}")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed (needed by {VCV})")
    workdir = tmp_path_factory.mktemp("vcv")
    probe = workdir / "probe.json"
    probe.write_text("{}")
    # first call runs `npm ci` into ~/.cache/vc-verifier; give it time, once per session
    proc = subprocess.run([str(VCV), "verify", str(probe)], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
        pytest.fail(f"vcv does not run: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return Vcv(VCV, workdir)

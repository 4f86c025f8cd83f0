"""tests/security: the helper modules next to this file and the certs tests' issuer helpers."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "certs"):  # respelling.py; certs_testlib.py (IssuerEnv)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

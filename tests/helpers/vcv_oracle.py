"""The independent verifier ../shared/vc-verifier/vcv as a test oracle."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

VCV = Path(__file__).resolve().parents[3] / "shared" / "vc-verifier" / "vcv"


@dataclass
class Vcv:
    path: Path
    workdir: Path

    def write(self, name: str, doc: dict) -> Path:
        p = self.workdir / name
        p.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        return p

    def verify(self, credential: dict, *, docs: list[dict] = (), trusted: str | None = None,
               now: str | None = None, require_status: bool = True) -> tuple[int, dict]:
        cred_path = self.write(f"cred-{os.urandom(4).hex()}.json", credential)
        cmd = [str(self.path), "verify", str(cred_path)]
        for i, d in enumerate(docs):
            cmd += ["--doc", str(self.write(f"doc-{os.urandom(4).hex()}-{i}.json", d))]
        if trusted:
            cmd += ["--trusted-issuer", trusted]
        if now:
            cmd += ["--now", now]
        if require_status:
            cmd.append("--require-status")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        out = proc.stdout.strip().splitlines()
        report = json.loads(out[-1]) if out else {}
        return proc.returncode, report

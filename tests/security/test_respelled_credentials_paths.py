"""A revoked certificate, re-spelled, is not valid on any of the four ways to verify it.

The verifier core is tested in test_respelled_credentials.py; this module checks the places a
holder would actually take a re-spelled certificate: the web page (POST /verify), the JSON API
(POST /api/v1/verify), `certamen verify` with the issuer's own key store, and the offline
`certamen verify --did-doc ... --status-list ...`. The certificate is earned and revoked through
the app itself, on each database backend.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlparse

from learners import sit
from respelling import TRICKS_BY_NAME

EXAM = "social-media-frontline"  # its certificates are signed with eddsa-rdfc-2022
# the reported exploit and two more spellings of the same graph
TRICKS = [TRICKS_BY_NAME[name] for name in ("full_iri_keys", "alias_terms", "included_node")]
REJECTIONS = {"not_a_credential", "signature_invalid", "unsupported_cryptosuite"}
ACCEPTABLE = {"revoked"} | REJECTIONS  # what a revoked certificate may be called, however spelled


def earn_certificate(client, app) -> dict:
    """Pass the exam through the public API (answering with the key) and fetch the credential."""
    result = sit(client, app, exam=EXAM)
    assert result["passed"], result
    credential = client.get(result["certificate"]["credential_url"]).get_json()
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    return credential


def revoke(client, role_token, credential: dict) -> None:
    cert_id = credential["id"].rsplit("/", 1)[-1]
    r = client.post(f"/api/v1/admin/certificates/{cert_id}/revoke", json={"reason": "cheating proven"},
                    headers={"Authorization": f"Bearer {role_token('admin')}"})
    assert r.status_code == 200, r.get_json()


def status_list_urls(credential: dict) -> list[str]:
    entries = credential["credentialStatus"]
    return [e["statusListCredential"] for e in (entries if isinstance(entries, list) else [entries])]


def web_verdict(client, text: str) -> str:
    """The status the verdict page shows for a pasted certificate."""
    page = client.post("/verify", data={"credential": text})
    assert page.status_code == 200, page.data[:500]
    html = page.get_data(as_text=True)
    shown = re.search(r'data-status="([a-z_]+)"', html)
    assert shown, "no verdict on the page"
    if shown.group(1) != "valid":
        assert "Valid certificate" not in html
    return shown.group(1)


def api_verdict(client, text: str) -> str:
    r = client.post("/api/v1/verify", data=text, content_type="application/json")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_json()["status"]


def cli_verdicts(files: dict[str, str], tmp_path, env_local: dict, lists: list[str], did_doc: str) -> dict:
    """`certamen verify` for each file, with the issuer's key store and offline with its DID
    document: {(name, "local" | "offline"): (exit status, first word of the output)}."""
    status_args = [arg for path in lists for arg in ("--status-list", path)]
    runs = {}
    for name, text in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        base = [sys.executable, "-m", "cli.main", "verify", str(path), *status_args]
        runs[name, "local"] = subprocess.Popen(base, env=env_local, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True)
        runs[name, "offline"] = subprocess.Popen(base + ["--did-doc", did_doc], stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True)
    out = {}
    for key, proc in runs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert stdout.strip(), f"{key}: no verdict printed (exit {proc.returncode}): {stderr[-1000:]}"
        out[key] = (proc.returncode, stdout.split(":", 1)[0].strip().lower())
    return out


def test_a_respelled_revoked_certificate_is_not_valid_anywhere(client, app, role_token, tmp_path):
    credential = earn_certificate(client, app)
    revoke(client, role_token, credential)

    published = tmp_path / "published"
    published.mkdir()
    did_doc = published / "issuer.json"
    did_doc.write_text(json.dumps(client.get("/.well-known/did.json").get_json()))
    lists = []
    for i, url in enumerate(status_list_urls(credential)):
        doc = client.get(urlparse(url).path).get_json()
        assert doc["id"] == url
        lists.append(published / f"status-{i}.json")
        lists[-1].write_text(json.dumps(doc))

    files = {"as issued": json.dumps(credential, ensure_ascii=False)}
    for trick in TRICKS:
        rewritten = trick.rewrite(credential)
        files[trick.name] = rewritten if isinstance(rewritten, str) else json.dumps(rewritten, ensure_ascii=False)

    env_local = {**os.environ, "CERTAMEN_KEY_DIR": app.config["CERTAMEN_KEY_DIR"],
                 "CERTAMEN_PUBLIC_URL": app.config["PUBLIC_URL"]}
    cli = cli_verdicts(files, tmp_path, env_local, [str(p) for p in lists], str(did_doc))

    verdicts = {}
    for name, text in files.items():
        verdicts[name, "web"] = web_verdict(client, text)
        verdicts[name, "api"] = api_verdict(client, text)
        for mode in ("local", "offline"):
            code, word = cli[name, mode]
            assert (code == 0) == (word == "valid"), f"{name}, certamen verify ({mode}): exit {code}, {word}"
            verdicts[name, f"cli {mode}"] = word

    paths = ("web", "api", "cli local", "cli offline")
    # the certificate as issued is revoked everywhere (so the paths do check the status lists)
    assert {path: verdicts["as issued", path] for path in paths} == dict.fromkeys(paths, "revoked")
    wrong = {f"{name} via {path}": verdicts[name, path]
             for name in files for path in paths if verdicts[name, path] not in ACCEPTABLE}
    assert not wrong, f"a re-spelled revoked certificate got a better verdict: {wrong}"

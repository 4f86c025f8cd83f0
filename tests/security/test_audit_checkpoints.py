"""Rewriting or truncating the audit trail shows against any signed checkpoint someone kept.

The attack (issue 25, 1): an insider with write access to the database edits history and recomputes
every hash after the edit (or deletes the newest events, or un-revokes a certificate and deletes its
revocation event); `certamen audit verify` used to say "intact". A checkpoint -- the global chain's
RFC 9162 tree head signed with the issuer key, which is not in the database -- is recorded on the
trail, published at /audit/checkpoint and kept elsewhere; verifying against it recomputes the tree.
Every spelling of the rewrite below is caught by a kept checkpoint, most also by the recorded ones,
and a checkpoint the insider forges (no key) is named as not genuine.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from insider import (
    FRONTLINE,
    admin_post,
    certificate_of,
    cli,
    db_of,
    delete_events,
    edit_event_data,
    events_of,
    rehash_everything,
    sit,
)
from sqlalchemy import select, update

from certs import checkpoints
from certs.records import audit_report
from item_bank import audit, merkle
from storage import AuditEvent, Certificate

# ---------------------------------------------------------------- the tree (no database)

# RFC 6962 / certificate-transparency reference data: leaf inputs, roots, consistency proofs.
LEAF_INPUTS = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58)),
               bytes(range(0x60, 0x70))]
ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
PROOFS = {(1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
          (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
          (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]}
LEAVES = [hashlib.sha256(b"\x00" + data).digest() for data in LEAF_INPUTS]


def test_tree_heads_and_consistency_proofs_match_the_rfc_reference_data():
    frontier = merkle.MerkleFrontier()
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root() == merkle.merkle_root(LEAVES[:n]) == ROOTS[n - 1]
    for (first, second), proof in PROOFS.items():
        assert merkle.consistency_proof(LEAVES[:second], first) == proof
        assert merkle.verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)


def test_a_consistency_proof_fails_for_any_other_history():
    for first in range(0, 33):
        for second in range(first, 33):
            leaves = [hashlib.sha256(b"\x00" + bytes([n])).digest() for n in range(second)]
            other = leaves[:first - 1] + [hashlib.sha256(b"other").digest()] + leaves[first:] if first else leaves
            proof = merkle.consistency_proof(leaves, first)
            old, new = merkle.merkle_root(leaves[:first]), merkle.merkle_root(leaves)
            assert merkle.verify_consistency(first, second, old, new, proof)
            if 0 < first < second:  # the prefix changed: its old head is not a prefix of the new tree
                assert not merkle.verify_consistency(first, second, merkle.merkle_root(other[:first]), new, proof)
                assert not merkle.verify_consistency(first, second, old, merkle.merkle_root(other), proof)
                for n in range(len(proof)):
                    bent = [*proof[:n], hashlib.sha256(proof[n].encode()).hexdigest(), *proof[n + 1:]]
                    assert not merkle.verify_consistency(first, second, old, new, bent)


# ---------------------------------------------------------------- a trail, a checkpoint, an insider


def trust(app):
    return app.extensions["issuer"].keys.trust_store()


def _revoked_certificate(client, app, role_token) -> str:
    sid = sit(client, app, email="holder@example.com", correct=True)
    cert_id = certificate_of(client, sid)
    revoked = admin_post(client, role_token, f"/certificates/{cert_id}/revoke", {"reason": "cheating proven"})
    assert revoked.status_code == 200
    return cert_id


def _checkpoint(app) -> dict:
    settings = app.extensions["issuer"]
    with db_of(app) as db:
        return checkpoints.create_checkpoint(db, settings.keys, log_url=f"{settings.public_url}/audit", actor="test")


def _revocation(db, cert_id) -> AuditEvent:
    return events_of(db, kind="certificate.revoke", subject=f"certificate:{cert_id}")[0]


def _edit_and_rehash(db, cert_id):
    edit_event_data(db, _revocation(db, cert_id).id, reason="clerical error")
    rehash_everything(db)


def _edit_rehash_and_drop_recorded_checkpoints(db, cert_id):
    delete_events(db, [e.id for e in events_of(db, kind=audit.CHECKPOINT_KIND)])
    _edit_and_rehash(db, cert_id)


def _unrevoke_and_truncate(db, cert_id):
    """Delete the newest events (the revocation and what came after it) and un-revoke the row."""
    revocation = _revocation(db, cert_id)
    newer = db.execute(select(AuditEvent.id).where(AuditEvent.chain == audit.GLOBAL,
                                                   AuditEvent.chain_seq >= revocation.chain_seq)).scalars().all()
    delete_events(db, list(newer))
    db.execute(update(Certificate).where(Certificate.id == cert_id).values(revoked_at=None, status_reason=None))


def _unrevoke_and_pad(db, cert_id):
    """Replace the revocation by a harmless event, so that the count stays the same, and rehash."""
    revocation = _revocation(db, cert_id)
    db.execute(update(AuditEvent).where(AuditEvent.id == revocation.id)
               .values(kind="certificate.policy_change", subject="exam:" + FRONTLINE, data={"note": "routine"}))
    delete_events(db, [e.id for e in events_of(db, kind=audit.CHECKPOINT_KIND)])
    rehash_everything(db)
    db.execute(update(Certificate).where(Certificate.id == cert_id).values(revoked_at=None, status_reason=None))


def _forge_the_recorded_checkpoint(db, cert_id):
    """Rewrite history, then make the recorded checkpoint name the new root (no key to sign it with)."""
    _edit_and_rehash(db, cert_id)
    recorded = events_of(db, kind=audit.CHECKPOINT_KIND)[-1]
    head, _problems = audit.global_tree(db)
    leaves = audit.global_leaves(db, recorded.data["treeSize"])
    edit_event_data(db, recorded.id, rootHash=merkle.merkle_root(leaves))
    rehash_everything(db)
    assert head.size >= recorded.data["treeSize"]


REWRITES = {
    "edit-and-rehash": _edit_and_rehash,
    "edit-rehash-and-drop-recorded-checkpoints": _edit_rehash_and_drop_recorded_checkpoints,
    "unrevoke-and-truncate": _unrevoke_and_truncate,
    "unrevoke-and-pad": _unrevoke_and_pad,
    "forge-the-recorded-checkpoint": _forge_the_recorded_checkpoint,
}


@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_a_rewritten_trail_contradicts_a_kept_checkpoint(client, app, role_token, rewrite):
    cert_id = _revoked_certificate(client, app, role_token)
    kept = _checkpoint(app)
    with db_of(app) as db:
        assert audit_report(db, trust(app), [kept]).ok

        REWRITES[rewrite](db, cert_id)
        chains_alone = audit.verify_chain(db)
        report = audit_report(db, trust(app), [kept])
    assert not report.ok
    name = f"checkpoint of {kept['treeSize']} events at {kept['timestamp']}"
    assert any(p.startswith(name) for p in report.problems), report.problems
    if rewrite != "edit-and-rehash":
        assert chains_alone.ok, "the hash chains alone cannot see a rewrite with recomputed hashes"
    if rewrite == "edit-and-rehash":
        assert any("checkpoint root does not match the first" in p for p in report.problems)
    if rewrite == "forge-the-recorded-checkpoint":
        assert any("recorded checkpoint is not genuine: signature invalid" in p for p in report.problems)


def test_the_cli_writes_checkpoints_and_verifies_against_a_kept_one(client, app, role_token, tmp_path):
    cert_id = _revoked_certificate(client, app, role_token)
    kept = tmp_path / "checkpoint.json"
    assert "written to" in cli(["audit", "checkpoint", "--out", str(kept), "--by", "ops"], app).stdout
    checkpoint = json.loads(kept.read_text())
    assert checkpoint["treeSize"] > 0 and checkpoint["eventsCovered"] > checkpoint["treeSize"]
    assert "intact" in cli(["audit", "verify", "--checkpoint", str(kept)], app).stdout
    did_doc = tmp_path / "issuer.json"  # checked against the published keys instead of the local key store
    did_doc.write_text(json.dumps(client.get("/.well-known/did.json").get_json()))
    assert "intact" in cli(["audit", "verify", "--checkpoint", str(kept), "--did-doc", str(did_doc)], app).stdout
    with db_of(app) as db:
        _unrevoke_and_truncate(db, cert_id)
    assert "intact" in cli(["audit", "verify"], app).stdout  # nothing inside the database contradicts it
    proc = cli(["audit", "verify", "--checkpoint", str(kept)], app, check=False)
    assert proc.returncode == 1 and "BROKEN" in proc.stdout
    assert f"checkpoint of {checkpoint['treeSize']} events" in proc.stdout and "truncated" in proc.stdout


def test_a_kept_checkpoint_altered_or_signed_by_someone_else_is_not_genuine(client, app, role_token):
    _revoked_certificate(client, app, role_token)
    kept = _checkpoint(app)
    altered = {**kept, "treeSize": kept["treeSize"] - 1}
    from certs.keys import SigningKey
    forged = checkpoints.sign_checkpoint({k: v for k, v in kept.items() if k != "signature"},
                                         SigningKey.generate(did=kept["issuer"], kid="k9"))
    with db_of(app) as db:
        report = audit_report(db, trust(app), [altered, forged])
    assert report.problems == ["kept checkpoint is not genuine: signature invalid (altered or forged)",
                               f"kept checkpoint is not genuine: signed with a key this issuer does not have "
                               f"({kept['issuer']}#k9)"]


def test_no_checkpoint_is_signed_over_a_trail_that_does_not_verify(client, app, role_token):
    cert_id = _revoked_certificate(client, app, role_token)
    _checkpoint(app)
    with db_of(app) as db:
        edit_event_data(db, _revocation(db, cert_id).id, reason="clerical error")
    with pytest.raises(checkpoints.CheckpointError, match="content does not match its hash"):
        _checkpoint(app)
    with db_of(app) as db:
        rehash_everything(db)  # the recorded checkpoint now contradicts the rewritten history
    with pytest.raises(checkpoints.CheckpointError, match="checkpoint root does not match"):
        _checkpoint(app)


def test_an_auditor_holding_an_old_checkpoint_catches_a_rewrite_behind_a_new_one(client, app, role_token):
    """The Certificate Transparency model: heads are public, and any later head must extend a kept one."""
    cert_id = _revoked_certificate(client, app, role_token)
    assert client.get("/audit/checkpoint").status_code == 404  # none signed yet
    assert admin_post(client, role_token, "/audit/checkpoints", {}).status_code == 201
    old = client.get("/audit/checkpoint").get_json()
    sit(client, app, email="later@example.com", correct=True)
    new = admin_post(client, role_token, "/audit/checkpoints", {}).get_json()
    assert client.get("/audit/checkpoint").get_json() == new

    def extends(first: dict, second: dict) -> bool:
        proof = client.get(f"/audit/consistency?first={first['treeSize']}&second={second['treeSize']}").get_json()
        return merkle.verify_consistency(first["treeSize"], second["treeSize"], first["rootHash"],
                                        second["rootHash"], proof["proof"])

    assert new["treeSize"] > old["treeSize"] and extends(old, new)
    export = client.get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {role_token('admin')}"})
    assert export.get_json()["checkpoint"] == new  # an export of the events carries the newest head
    assert client.get("/audit/consistency?first=1").status_code == 400
    assert client.get(f"/audit/consistency?first=1&second={new['treeSize'] + 5}").status_code == 404
    with db_of(app) as db:  # the insider rewrites history and removes the heads recorded on the trail...
        _edit_rehash_and_drop_recorded_checkpoints(db, cert_id)
    # ... after which the operator (or the insider, through the admin route) signs a head over it:
    rewritten = admin_post(client, role_token, "/audit/checkpoints", {}).get_json()
    assert checkpoints.signature_problem(rewritten, trust(app)) is None  # genuinely signed
    assert not extends(old, rewritten) and not extends(new, rewritten)


def test_a_withdrawn_key_voids_kept_checkpoints_it_signed_but_not_the_trail(client, app, role_token):
    """After `certamen keys compromise`, whoever stole the key could sign any head: a kept checkpoint signed
    with it is no longer evidence. The heads recorded on the trail are compared with the trail itself, so
    they stay fine, and new checkpoints are signed with the new key."""
    _revoked_certificate(client, app, role_token)
    kept = _checkpoint(app)
    keys = app.extensions["issuer"].keys
    keys.mark_compromised(kept["signature"]["verificationMethod"].rsplit("#", 1)[1])
    with db_of(app) as db:
        assert audit_report(db, trust(app)).ok
        report = audit_report(db, trust(app), [kept])
    assert report.problems == [f"kept checkpoint is not genuine: signed with a withdrawn key "
                               f"({kept['signature']['verificationMethod']})"]
    fresh = _checkpoint(app)
    assert fresh["signature"]["verificationMethod"] != kept["signature"]["verificationMethod"]
    with db_of(app) as db:
        assert audit_report(db, trust(app), [fresh]).ok

"""certs.rdfc, the RDFC-1.0 canonicalizer, against the W3C RDF Dataset Canonicalization test suite.

Source: W3C RDFC-1.0 test suite (w3c/rdf-canon, commit 15619df), in
../shared/data/conformance/rdf-canon (W3C test suite licence, LICENCE.md there). Every entry
of manifest.jsonld is a test here, named by its id: eval tests compare the canonical N-Quads
byte for byte, map tests the issued blank node identifier map, and the negative test (a poison
graph) must be refused quickly instead of computed. The suite's SHA-384 variants are skipped:
eddsa-rdfc-2022 uses RDFC-1.0 with SHA-256, the only hash certs.rdfc implements.
"""
from __future__ import annotations

import json

import nquads
import pytest
from conformance_data import RDF_CANON

from certs import rdfc
from certs.jsonld_errors import UnsafeJsonLd

EVAL = "rdfc:RDFC10EvalTest"
MAP = "rdfc:RDFC10MapTest"
NEGATIVE = "rdfc:RDFC10NegativeEvalTest"


def _entries() -> list:
    manifest = json.loads((RDF_CANON / "manifest.jsonld").read_text(encoding="utf-8"))
    params = []
    for entry in manifest["entries"]:
        marks = []
        algorithm = entry.get("hashAlgorithm", "SHA256")
        if algorithm != "SHA256":
            marks.append(pytest.mark.skip(
                reason=f"{entry['id']} uses {algorithm}; certs.rdfc implements RDFC-1.0 with "
                       "SHA-256 only (the hash eddsa-rdfc-2022 specifies)"))
        params.append(pytest.param(entry, id=entry["id"].lstrip("#"), marks=marks))
    return params


ENTRIES = _entries()


def _read(name: str) -> str:
    return (RDF_CANON / name).read_text(encoding="utf-8")


def test_the_whole_manifest_is_here():
    """The suite is not silently truncated: 86 entries of the three known types."""
    types = [p.values[0]["type"] for p in ENTRIES]
    assert len(types) == 86
    assert set(types) == {EVAL, MAP, NEGATIVE}


@pytest.mark.timeout(20)  # the negative test must be refused, not computed for minutes
@pytest.mark.parametrize("entry", ENTRIES)
def test_rdfc10(entry):
    quads = nquads.parse(_read(entry["action"]))
    if entry["type"] == NEGATIVE:
        with pytest.raises(UnsafeJsonLd):
            rdfc.canonicalize_quads(quads)
        return
    canonical, issued = rdfc.canonicalize_quads_with_map(quads)
    if entry["type"] == EVAL:
        assert canonical == _read(entry["result"])
        assert rdfc.canonicalize_quads(quads) == canonical  # the usual entry point agrees
    elif entry["type"] == MAP:
        assert issued == json.loads(_read(entry["result"]))
    else:
        pytest.fail(f"unknown test type {entry['type']!r}")


# ----------------------------------------------------------------- the N-Quads test parser


def test_parser_unescapes_and_reescapes_like_canonical_n_quads():
    quad = nquads.parse_line(
        r'_:b0 <urn:ex:\u0070> "\u0022\t\U0001F303\'"^^<http://www.w3.org/2001/XMLSchema#string>'
        r' <urn:g> . # comment')
    assert quad == ("_:b0", "<urn:ex:p>", '"\\"\\t\U0001F303\'"', "<urn:g>")
    assert nquads.parse_line('<urn:s> <urn:p> "x"@en-GB .') == (
        "<urn:s>", "<urn:p>", '"x"@en-GB', "")
    assert nquads.parse_line("   # only a comment") is None


@pytest.mark.parametrize("line", [
    "<urn:s> <urn:p> <urn:o>",                      # no final dot
    "<urn:s> <urn:p> <urn:o> . <urn:x>",            # trailing junk
    "<s> <urn:p> <urn:o> .",                        # relative IRI
    "<urn:s> _:p <urn:o> .",                        # blank node predicate
    '<urn:s> <urn:p> "unterminated .',
    r'<urn:s> <urn:p> "\uD800" .',                  # lone surrogate
    r'<urn:s> <urn:p> "\x" .',                      # not an ECHAR
    r"<urn:s> <urn:p> <urn:a\u0020b> .",            # escaped space in an IRI
    '<urn:s> <urn:p> "a" "b" .',                    # literal as graph name
])
def test_parser_is_strict(line):
    with pytest.raises(nquads.NQuadsError):
        nquads.parse_line(line)

"""A small, strict N-Quads parser for the RDFC-1.0 conformance tests.

It yields the 4-tuples :func:`certs.rdfc.canonicalize_quads` takes, each term written as
canonical N-Quads writes it (so the canonicalizer's output can be compared with the expected
files byte for byte): IRIs unescaped between ``<>``, literals unescaped and then re-escaped
with the module's own :func:`certs.nquads.escape_literal` (``xsd:string`` left implicit),
blank nodes as ``_:label``, and ``""`` for the default graph. Anything outside the N-Quads
grammar raises :class:`NQuadsError`, so a malformed input cannot pass as a canonicalizer bug.
"""
from __future__ import annotations

import re

from certs.nquads import XSD_STRING, escape_literal


class NQuadsError(ValueError):
    """The text is not N-Quads."""


_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_IRIREF = re.compile(r'<((?:[^\x00-\x20<>"{}|^`\\]|' + _UCHAR + r')*)>')
_STRING = re.compile(r'"((?:[^"\\\n\r]|\\[tbnrf"\'\\]|' + _UCHAR + r')*)"')
_LANGTAG = re.compile(r"@([a-zA-Z]+(?:-[a-zA-Z0-9]+)*)")
_PN_CHARS_U = (r"A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF"
               r"\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF"
               r"\uFDF0-\uFFFD\U00010000-\U000EFFFF_:")
_PN_CHARS = _PN_CHARS_U + r"\-0-9\u00B7\u0300-\u036F\u203F-\u2040"
_BNODE = re.compile(rf"_:[{_PN_CHARS_U}0-9](?:[{_PN_CHARS}.]*[{_PN_CHARS}])?")
_WS = re.compile(r"[ \t]*")
_END = re.compile(r"\.[ \t]*(?:#.*)?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_ESCAPE = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([tbnrf"\'\\]))')
_ECHARS = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'",
           "\\": "\\"}
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        if m.group(3):
            return _ECHARS[m.group(3)]
        cp = int(m.group(1) or m.group(2), 16)
        if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise NQuadsError(f"escape {m.group(0)} is not a Unicode scalar value")
        return chr(cp)

    return _ESCAPE.sub(one, text)


class _Line:
    def __init__(self, text: str, number: int):
        self.text, self.number, self.pos = text, number, 0

    def fail(self, what: str) -> NQuadsError:
        return NQuadsError(f"line {self.number}, column {self.pos + 1}: expected {what}")

    def take(self, pattern: re.Pattern) -> re.Match | None:
        self.pos = _WS.match(self.text, self.pos).end()
        m = pattern.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def iri(self) -> str | None:
        m = self.take(_IRIREF)
        if m is None:
            return None
        value = _unescape(m.group(1))
        # an escape may not smuggle in what an IRI cannot hold; N-Quads IRIs are absolute
        if _NOT_IN_IRI.search(value) or not _SCHEME.match(value):
            raise self.fail("an absolute IRI")
        return "<" + value + ">"

    def bnode(self) -> str | None:
        m = self.take(_BNODE)
        return m.group(0) if m else None

    def literal(self) -> str | None:
        m = self.take(_STRING)
        if m is None:
            return None
        text = '"' + escape_literal(_unescape(m.group(1))) + '"'
        if self.text.startswith("^^", self.pos):
            self.pos += 2
            datatype = self.iri()
            if datatype is None:
                raise self.fail("a datatype IRI")
            return text if datatype == f"<{XSD_STRING}>" else text + "^^" + datatype
        lang = _LANGTAG.match(self.text, self.pos)
        if lang is None:
            return text
        self.pos = lang.end()
        return text + "@" + lang.group(1)


def parse_line(text: str, number: int = 1) -> tuple[str, str, str, str] | None:
    """One N-Quads line → (subject, predicate, object, graph); None for blank / comment lines."""
    line = _Line(text.rstrip("\r\n"), number)
    line.pos = _WS.match(line.text).end()
    if line.pos == len(line.text) or line.text[line.pos] == "#":
        return None
    subject = line.iri() or line.bnode()
    if subject is None:
        raise line.fail("a subject (IRI or blank node)")
    predicate = line.iri()
    if predicate is None:
        raise line.fail("a predicate IRI")
    obj = line.iri() or line.bnode() or line.literal()
    if obj is None:
        raise line.fail("an object (IRI, blank node or literal)")
    graph = line.iri() or line.bnode() or ""
    if line.take(_END) is None or line.pos != len(line.text):
        raise line.fail("'.' and the end of the line")
    return subject, predicate, obj, graph


def parse(text: str) -> list[tuple[str, str, str, str]]:
    """All quads of an N-Quads document, in order (duplicates kept: a dataset's job)."""
    quads = []
    for number, line in enumerate(text.split("\n"), 1):
        quad = parse_line(line, number)
        if quad is not None:
            quads.append(quad)
    return quads

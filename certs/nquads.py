"""RDF terms written as N-Quads writes them: the form both JSON-LD routes produce and RDFC-1.0
hashes and sorts.

Literals are escaped as RDFC-1.0 requires (``\\b \\t \\n \\f \\r \\" \\\\`` and ``\\uXXXX`` for
other control characters — pyld 3 only escapes four of these); IRIs with characters N-Quads
would have to escape are refused, not escaped.
"""
from __future__ import annotations

import re
from typing import TypeGuard

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"

_LITERAL_ESCAPES = {
    "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\",
}
for _n in list(range(0x20)) + [0x7F]:
    _LITERAL_ESCAPES.setdefault(chr(_n), f"\\u{_n:04X}")
_LITERAL_ESCAPE_RE = re.compile('[\x00-\x1f\x7f"\\\\]')


def escape_literal(value: str) -> str:
    if _LITERAL_ESCAPE_RE.search(value) is None:
        return value
    return _LITERAL_ESCAPE_RE.sub(lambda m: _LITERAL_ESCAPES[m.group(0)], value)


def iri(value: str) -> str:
    return "<" + value + ">"


def literal(value: str, datatype: str | None = None, language: str | None = None) -> str:
    text = '"' + escape_literal(value) + '"'
    if language:
        return text + "@" + language
    if datatype and datatype != XSD_STRING:
        return text + "^^<" + datatype + ">"
    return text


# characters that may not appear in an IRI in N-Quads are refused altogether (reference
# implementations disagree on how to escape them)
_IRI_OK = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[^\x00-\x20<>\"{}|^`\\\x7f\s]*")


def is_absolute_iri(value: object) -> TypeGuard[str]:
    """An absolute IRI (``scheme:...``) without characters N-Quads would have to escape."""
    return type(value) is str and _IRI_OK.fullmatch(value) is not None

"""The errors of offline JSON-LD processing and RDFC-1.0, and the limits past which input is
refused (kept apart so the context loader, both JSON-LD routes and the canonicalizer share them)."""
from __future__ import annotations

from errors import CertamenError, Kind

# limits that keep hostile input from exhausting CPU / memory
MAX_DEPTH = 32
MAX_QUADS = 20_000
MAX_NDEGREE_CALLS = 5_000
MAX_REFERENCE_NODES = 5_000  # JSON values the (slow) pyld path is willing to process


class JsonLdError(CertamenError, ValueError):
    """The document cannot be processed as JSON-LD (bad syntax, unknown context...)."""

    kind = Kind.MALFORMED


class UnsafeJsonLd(JsonLdError):
    """The document contains data that JSON-LD processing would silently drop or leave
    relative (an undefined term, a relative IRI, a null, an empty object...). Such data would
    not be covered by an RDF-canonicalized signature, so it is rejected ("safe mode")."""


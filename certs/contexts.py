"""The JSON-LD context documents bundled in ``certs/contexts/`` (VC 2.0, Open Badges 3.0.x, Data
Integrity, Multikey, Bitstring Status List) and the pyld options that load only them.

Nothing is ever fetched over the network: a signature must not depend on what a remote server
answers today, and any other URL raises.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from pyld import jsonld as _pyld
from pyld.context_resolver import ContextResolver

from .jsonld_errors import JsonLdError

CONTEXT_DIR = Path(__file__).with_name("contexts")

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"


@lru_cache(maxsize=1)
def _context_index() -> dict[str, str]:
    with open(CONTEXT_DIR / "index.json", encoding="utf-8") as fh:
        index: dict[str, str] = json.load(fh)
    return index


@lru_cache(maxsize=32)
def _context_text(url: str) -> str:
    name = _context_index()[url]
    return (CONTEXT_DIR / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def known_context_urls() -> frozenset[str]:
    return frozenset(_context_index())


def require_bundled(url: str) -> None:
    """Raise :class:`JsonLdError` unless ``url`` names a bundled context."""
    if url not in _context_index():
        raise JsonLdError(f'context "{url}" is not available offline')


def load_context(url: str) -> dict[str, Any]:
    """The bundled JSON document for a context URL (a fresh copy)."""
    require_bundled(url)
    document: dict[str, Any] = json.loads(_context_text(url))
    return document


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader that serves only the bundled contexts (never the network)."""
    if not isinstance(url, str) or url not in _context_index():
        raise _pyld.JsonLdError(
            f'Refusing to load "{url}": only bundled contexts are available offline.',
            "jsonld.LoadDocumentError",
            code="loading document failed",
        )
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
    }


# our own resolved-context cache, so contexts loaded elsewhere in the process (possibly from
# the network, possibly different) are never mixed with the bundled ones
# (context key -> {tag: pyld ResolvedContext}, as pyld's ContextResolver fills it)
_RESOLVED_CONTEXTS: LRUCache[str, dict[str, Any]] = LRUCache(maxsize=64)


def pyld_options(**extra: Any) -> dict[str, Any]:
    """Options for a pyld call: bundled contexts only, no base IRI, JSON-LD 1.1."""
    opts: dict[str, Any] = {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver(_RESOLVED_CONTEXTS, document_loader),
        # no base IRI: relative IRIs must stay relative so safe mode can refuse them (pyld
        # resolves them against http://example.org/base/ when the base is "")
        "base": None,
        "processingMode": "json-ld-1.1",
    }
    opts.update(extra)
    return opts

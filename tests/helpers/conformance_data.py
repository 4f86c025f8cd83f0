"""The public conformance material in ../shared/data/conformance (see its README.md).

The W3C vc-di-eddsa vectors need two contexts that Certamen does not bundle (and must not:
the product only loads the contexts it issues and accepts). :func:`vector_contexts` makes
``certs.contexts`` serve them for the duration of a test and then forgets them again.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from certs import contexts, jsonld

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "conformance"
RDF_CANON = CONFORMANCE / "rdf-canon"
VC_DI_EDDSA = CONFORMANCE / "vc-di-eddsa"

EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
CITIZENSHIP_V4RC1 = "https://w3id.org/citizenship/v4rc1"
VECTOR_CONTEXTS = {
    EXAMPLES_V2: VC_DI_EDDSA / "contexts" / "credentials-examples-v2.jsonld",
    CITIZENSHIP_V4RC1: VC_DI_EDDSA / "contexts" / "citizenship-v4rc1.jsonld",
}


def _forget_vector_contexts() -> None:
    """Drop everything certs.jsonld and certs.contexts cached while the extra contexts were loadable."""
    for key in [k for k in jsonld._ROOTS if any(u in VECTOR_CONTEXTS for u in k)]:
        del jsonld._ROOTS[key]
    contexts._RESOLVED_CONTEXTS.clear()


@contextmanager
def vector_contexts() -> Iterator[None]:
    """certs.contexts can load the vectors' contexts (from ../shared) inside this block only."""
    index = {**contexts._context_index(), **{u: str(p) for u, p in VECTOR_CONTEXTS.items()}}
    bundled_text = contexts._context_text

    def context_text(url: str) -> str:
        path = VECTOR_CONTEXTS.get(url)
        return path.read_text(encoding="utf-8") if path else bundled_text(url)

    _forget_vector_contexts()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(contexts, "_context_index", lambda: index)
            mp.setattr(contexts, "_context_text", context_text)
            mp.setattr(contexts, "known_context_urls", lambda: frozenset(index))
            yield
    finally:
        _forget_vector_contexts()

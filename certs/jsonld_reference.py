"""The reference route from JSON-LD to RDF quads: pyld's expansion and RDF conversion, in safe
mode. It handles every document the fast path in :mod:`certs.jsonld` declines, and alone decides
whether such input is unsafe.

pyld drops what JSON-LD cannot express instead of refusing it, so the compact input is checked
before expansion (nulls, empty objects, size and depth) and the expanded form after it (relative
IRIs), and a property the contexts do not define stops the expansion.
"""
from __future__ import annotations

import copy
from typing import Any

from pyld import jsonld as _pyld

from .contexts import pyld_options
from .jsonld_errors import MAX_DEPTH, MAX_REFERENCE_NODES, JsonLdError, UnsafeJsonLd
from .nquads import RDF_LANGSTRING, iri, is_absolute_iri, literal


def _precheck(value: Any, depth: int = 0, in_context: bool = False,
              budget: list[int] | None = None) -> None:
    """Structural safe-mode checks on the compact input (things JSON-LD silently drops)."""
    if budget is None:
        budget = [MAX_REFERENCE_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise UnsafeJsonLd("document too large")
    if depth > MAX_DEPTH:
        raise UnsafeJsonLd("document nested too deeply")
    if isinstance(value, dict):
        if not value and not in_context:
            raise UnsafeJsonLd("empty object")
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnsafeJsonLd("non-string key")
            if k == "@context":
                continue
            if v is None:
                raise UnsafeJsonLd("null value")
            _precheck(v, depth + 1, budget=budget)
    elif isinstance(value, list):
        for v in value:
            if v is None:
                raise UnsafeJsonLd("null value")
            _precheck(v, depth + 1, budget=budget)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnsafeJsonLd("non-finite number")
        if value.is_integer():
            # JSON-LD in JavaScript cannot tell 5.0 from 5; pyld can: avoid the ambiguity
            raise UnsafeJsonLd("integral floating point number")


def _postcheck_expanded(value: Any) -> None:
    """Relative IRIs left in the expanded form would be dropped from the RDF."""
    if isinstance(value, list):
        for v in value:
            _postcheck_expanded(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "@id":
                if not (isinstance(v, str) and (v.startswith("_:") or is_absolute_iri(v))):
                    raise UnsafeJsonLd(f"relative or invalid IRI {v!r}")
            elif k == "@type":
                if "@value" in value:
                    if v != "@json" and not is_absolute_iri(v):
                        raise UnsafeJsonLd(f"relative datatype {v!r}")
                else:
                    for t in v if isinstance(v, list) else [v]:
                        if not (isinstance(t, str) and (t.startswith("_:") or is_absolute_iri(t))):
                            raise UnsafeJsonLd(f"relative type {t!r}")
            elif k in ("@value", "@language", "@direction", "@index"):
                if k == "@direction":
                    raise UnsafeJsonLd("@direction is not supported")
                continue
            elif k.startswith("@"):
                _postcheck_expanded(v)
            else:
                if not is_absolute_iri(k):
                    raise UnsafeJsonLd(f"relative property {k!r}")
                _postcheck_expanded(v)


def _term_from_pyld(term: dict[str, Any]) -> str:
    ttype = term["type"]
    if ttype == "IRI":
        if not is_absolute_iri(term["value"]):
            raise UnsafeJsonLd(f"invalid IRI {term['value']!r}")
        return iri(term["value"])
    if ttype == "blank node":
        label: str = term["value"]
        return label
    if ttype == "literal":
        dt = term.get("datatype")
        lang = term.get("language")
        if lang:
            return literal(term["value"], RDF_LANGSTRING, lang)
        return literal(term["value"], dt)
    raise UnsafeJsonLd(f"unexpected RDF term {ttype!r}")


def reference_quads(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    _precheck(doc)

    def dropped(prop: Any) -> None:
        raise UnsafeJsonLd(f"property {prop!r} is not defined by the @context")

    try:
        expanded = _pyld.JsonLdProcessor(on_property_dropped=dropped).expand(
            copy.deepcopy(doc), pyld_options()
        )
    except UnsafeJsonLd:
        raise
    except _pyld.JsonLdError as exc:
        cause = exc
        while cause is not None:
            if isinstance(cause, UnsafeJsonLd):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise JsonLdError(f"JSON-LD expansion failed: {exc}") from None
    except RecursionError:
        raise UnsafeJsonLd("document nested too deeply") from None
    _postcheck_expanded(expanded)
    try:
        dataset = _pyld.JsonLdProcessor().to_rdf(expanded, pyld_options(produceGeneralizedRdf=False))
    except _pyld.JsonLdError as exc:
        raise JsonLdError(f"JSON-LD to RDF failed: {exc}") from None
    quads = []
    for graph_name, triples in dataset.items():
        g = "" if graph_name == "@default" else (
            graph_name if graph_name.startswith("_:") else iri(graph_name))
        for t in triples:
            quads.append((_term_from_pyld(t["subject"]), _term_from_pyld(t["predicate"]),
                          _term_from_pyld(t["object"]), g))
    return quads

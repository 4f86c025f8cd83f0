"""JSON-LD document → RDF quads (:func:`to_quads`) and their RDFC-1.0 canonical N-Quads
(:func:`canonize`, as the ``eddsa-rdfc-2022`` cryptosuite signs them), offline: contexts come
only from :mod:`certs.contexts`, canonicalization is :mod:`certs.rdfc`.

There are two routes to the quads that produce the same output:

1. A **fast path** (here) that turns the compact JSON directly into RDF quads. It reuses pyld's
   context processing (so term definitions, protected terms, type-scoped and property-scoped
   contexts follow the JSON-LD 1.1 rules exactly) but memoizes every processed context and
   every term lookup per context state, so a credential of a known shape costs only dict
   lookups. It handles the subset of JSON-LD that credentials use (node objects, ``id`` /
   ``type``, plain and typed literals, ``@id``/``@vocab`` coercion, ``@set`` containers,
   type-scoped and property-scoped contexts) and declines anything else — including terms
   defined only through ``@vocab`` and blank node identifiers — without judging it.
2. A **reference path** through pyld's expansion and RDF conversion
   (:mod:`certs.jsonld_reference`), used whenever the fast path declines; it alone decides
   whether such input is unsafe.

Both routes run in "safe mode" like the reference JavaScript implementation used by
verifiers (jsonld.js ``safe: true``): a property that is not defined by the contexts, a
relative IRI, a ``null`` value or an empty object would be silently dropped by JSON-LD and so
would not be covered by the signature — such documents raise
:class:`~certs.jsonld_errors.UnsafeJsonLd` instead of being canonicalized.
"""
from __future__ import annotations

import copy
import threading
from typing import Any

from pyld import jsonld as _pyld

from . import jsonld_reference
from .contexts import pyld_options, require_bundled
from .jsonld_errors import MAX_DEPTH, MAX_QUADS, JsonLdError, UnsafeJsonLd
from .nquads import RDF_TYPE, XSD_BOOLEAN, XSD_DOUBLE, XSD_INTEGER, iri, is_absolute_iri, literal
from .rdfc import canonicalize_quads

# --------------------------------------------------------------------------- fast path


class _Unsupported(Exception):
    """Internal: the fast path does not handle this construct; use the reference path."""


def _js_double(value: float) -> str:
    """Canonical xsd:double lexical form as JSON-LD processors produce it (e.g. ``1.5E0``)."""
    mantissa, exponent = f"{value:.15e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0")
        if mantissa.endswith("."):
            mantissa += "0"
    return mantissa + "E" + str(int(exponent))


def _number_literal(value: int | float, datatype: str | None) -> str:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnsafeJsonLd("non-finite number")
        integral = value.is_integer() and abs(value) < 1e21
    else:
        integral = abs(value) < 10**21
    if integral and datatype != XSD_DOUBLE:
        return literal(str(int(value)), datatype or XSD_INTEGER)
    return literal(_js_double(float(value)), datatype or XSD_DOUBLE)


_ID, _TYPE, _PROP, _CONTEXT = 0, 1, 2, 3
_PROC = _pyld.JsonLdProcessor()
_LOCK = threading.RLock()
_MAX_TYPE_CACHE = 512


def _process(active: dict[str, Any], local: Any, **kw: Any) -> dict[str, Any]:
    try:
        processed: dict[str, Any] = _PROC._process_context(active, local, pyld_options(), **kw)
    except _pyld.JsonLdError as exc:
        raise JsonLdError(f"JSON-LD context error: {exc}") from None
    return processed


def _expand_iri(active: dict[str, Any], value: str, *, vocab: bool) -> str | None:
    expanded: str | None = _PROC._expand_iri(active, value, vocab=vocab, base=None)
    return expanded


class _Term:
    __slots__ = ("kind", "pred", "coerce", "vocab_ctx", "_child", "_key")
    _key: str  # property terms only (set by _Ctx._make_term)

    def __init__(self, kind: int, pred: str | None = None, coerce: str | None = None):
        self.kind = kind
        self.pred = pred
        self.coerce = coerce
        self._child: _Ctx | None = None
        self.vocab_ctx: dict[str, Any] | None = None


class _Ctx:
    """A pyld active context plus memoized term / type-scope lookups."""

    __slots__ = ("active", "terms", "types", "_reverted")

    def __init__(self, active: dict[str, Any]):
        self.active = active
        self.terms: dict[str, _Term] = {}
        self.types: dict[tuple[tuple[str, ...], ...], tuple[_Ctx, tuple[str, ...]]] = {}
        self._reverted: _Ctx | None = None

    # the context a nested node object starts from (type-scoped contexts do not propagate)
    def reverted(self) -> _Ctx:
        if self._reverted is None:
            prev = self.active.get("previousContext")
            self._reverted = _Ctx(prev) if prev is not None else self
        return self._reverted

    def term(self, key: str) -> _Term:
        t = self.terms.get(key)
        if t is None:
            with _LOCK:
                t = self.terms.get(key)
                if t is None:
                    t = self._make_term(key)
                    self.terms[key] = t
        return t

    def _make_term(self, key: str) -> _Term:
        if key == "@context":
            return _Term(_CONTEXT)
        mapping = self.active["mappings"].get(key)
        if key.startswith("@"):
            if key == "@id":
                return _Term(_ID)
            if key == "@type":
                return _Term(_TYPE)
            raise _Unsupported(key)
        if mapping is None:
            # not a term: a compact / absolute IRI, a term defined only by @vocab, or truly
            # undefined. The reference path tells these apart (and refuses the last).
            raise _Unsupported(key)
        if mapping.get("reverse"):
            raise _Unsupported(key)
        target = mapping.get("@id")
        if target == "@id":
            return _Term(_ID)
        if target == "@type":
            return _Term(_TYPE)
        if not isinstance(target, str) or target.startswith("@"):
            raise _Unsupported(key)
        container = mapping.get("@container") or []
        if any(c != "@set" for c in container):
            raise _Unsupported(key)  # @list, @graph, maps...
        if not is_absolute_iri(target):
            raise UnsafeJsonLd(f'property "{key}" expands to a relative IRI')
        scoped = mapping.get("@context")
        term_active = self.active
        if scoped is not None:
            term_active = _process(self.active, scoped, propagate=True, override_protected=True)
        tmap = term_active["mappings"].get(key) or mapping
        if tmap.get("@language") is not None or tmap.get("@direction") is not None:
            raise _Unsupported(key)
        if "@language" in term_active or "@direction" in term_active:
            raise _Unsupported(key)
        coerce = tmap.get("@type")
        if coerce in ("@json", "@none"):
            raise _Unsupported(key)
        if coerce is not None and coerce not in ("@id", "@vocab") and not is_absolute_iri(coerce):
            raise UnsafeJsonLd(f'property "{key}" has a relative datatype')
        term = _Term(_PROP, iri(target), coerce)
        term.vocab_ctx = term_active
        term._key = key
        return term

    def child_of(self, term: _Term) -> _Ctx:
        """Active context for a node object that is the value of ``term`` in this context."""
        child = term._child
        if child is None:
            with _LOCK:
                child = term._child
                if child is None:
                    assert term.vocab_ctx is not None, "only property terms have node-object values"
                    base = _Ctx(term.vocab_ctx).reverted()
                    scoped = self.active["mappings"][term._key].get("@context")
                    if scoped is not None:
                        child = _Ctx(_process(base.active, scoped, override_protected=True))
                    else:
                        child = base
                    term._child = child
        return child

    def is_type_key(self, key: str) -> bool:
        if key == "@type":
            return True
        m = self.active["mappings"].get(key)
        return m is not None and m.get("@id") == "@type"

    def with_types(self, type_values: tuple[tuple[str, ...], ...]) -> tuple[_Ctx, tuple[str, ...]]:
        hit = self.types.get(type_values)
        if hit is not None:
            return hit
        active = self.active
        type_iris = []
        for values in type_values:
            for v in values:
                expanded = _expand_iri(self.active, v, vocab=True)
                if isinstance(expanded, str) and expanded.startswith("_:"):
                    raise _Unsupported("blank node type")
                if not is_absolute_iri(expanded):
                    raise UnsafeJsonLd(f'type "{v}" is not defined by the @context')
                type_iris.append(iri(expanded))
            for v in sorted(values):
                m = self.active["mappings"].get(v)
                scoped = m.get("@context") if m else None
                if scoped is not None:
                    active = _process(active, scoped, propagate=False)
        result = (_Ctx(active) if active is not self.active else self, tuple(type_iris))
        with _LOCK:
            if len(self.types) < _MAX_TYPE_CACHE:
                result = self.types.setdefault(type_values, result)
        return result


_ROOTS: dict[tuple[str, ...], _Ctx] = {}


def _root_ctx(context: Any) -> _Ctx:
    urls = (context,) if isinstance(context, str) else context
    if not isinstance(urls, (list, tuple)) or not urls or not all(isinstance(u, str) for u in urls):
        raise _Unsupported("@context")  # inline contexts: reference path
    key = tuple(urls)
    ctx = _ROOTS.get(key)
    if ctx is None:
        for u in key:
            require_bundled(u)
        with _LOCK:
            ctx = _ROOTS.get(key)
            if ctx is None:
                initial = _PROC._get_initial_context(pyld_options())
                ctx = _Ctx(_process(initial, list(key)))
                if len(_ROOTS) < 64:
                    _ROOTS[key] = ctx
    return ctx


class _FastToRdf:
    __slots__ = ("quads", "counter")

    def __init__(self) -> None:
        self.quads: list[tuple[str, str, str, str]] = []
        self.counter = 0

    def node(self, obj: dict[str, Any], ctx: _Ctx, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise UnsafeJsonLd("document nested too deeply")
        if not obj:
            raise UnsafeJsonLd("empty object")
        # type-scoped contexts (keys and values in lexicographic order, as JSON-LD requires)
        type_values = []
        for key in sorted(obj):
            if ctx.is_type_key(key):
                v = obj[key]
                if isinstance(v, str):
                    type_values.append((v,))
                elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                    type_values.append(tuple(v))
                else:
                    raise UnsafeJsonLd("invalid type value")
        if type_values:
            nctx, type_iris = ctx.with_types(tuple(type_values))
        else:
            nctx, type_iris = ctx, ()
        subject = None
        props = []
        for key, value in obj.items():
            t = nctx.term(key)
            kind = t.kind
            if kind == _PROP:
                props.append((t, value))
            elif kind == _ID:
                if subject is not None:
                    raise _Unsupported("colliding @id")
                subject = self._id_value(value, nctx)
            elif kind == _CONTEXT:
                if depth:
                    raise _Unsupported("embedded @context")
        if subject is None:
            subject = f"_:b{self.counter}"
            self.counter += 1
        quads = self.quads
        for tiri in type_iris:
            quads.append((subject, "<" + RDF_TYPE + ">", tiri, ""))
        for t, value in props:
            if isinstance(value, list):
                if not value:
                    continue  # an empty array states nothing
                for v in value:
                    if isinstance(v, list):
                        raise _Unsupported("nested array")
                    self._value(subject, t, v, nctx, depth)
            else:
                self._value(subject, t, value, nctx, depth)
        if len(quads) > MAX_QUADS:
            raise UnsafeJsonLd("document too large")
        return subject

    def _id_value(self, value: Any, ctx: _Ctx) -> str:
        if not isinstance(value, str):
            raise UnsafeJsonLd("@id must be a string")
        if value.startswith("_:"):
            raise _Unsupported("blank node identifier")
        if not is_absolute_iri(value):
            raise UnsafeJsonLd(f'relative or invalid IRI "{value}"')
        prefix = value.split(":", 1)[0]
        if prefix in ctx.active["mappings"]:
            raise _Unsupported("compact IRI")
        return iri(value)

    def _value(self, subject: str, t: _Term, v: Any, ctx: _Ctx, depth: int) -> None:
        coerce = t.coerce
        if isinstance(v, str):
            if coerce is None:
                obj = literal(v)
            elif coerce == "@id":
                obj = self._id_value(v, ctx)
            elif coerce == "@vocab":
                assert t.vocab_ctx is not None, "a @vocab-coerced term is a property term"
                expanded = _expand_iri(t.vocab_ctx, v, vocab=True)
                if isinstance(expanded, str) and expanded.startswith("_:"):
                    raise _Unsupported("blank node value")
                if not is_absolute_iri(expanded):
                    raise UnsafeJsonLd(f'value "{v}" is not defined by the @context')
                obj = iri(expanded)
            else:
                obj = literal(v, coerce)
        elif isinstance(v, dict):
            for k in v:
                if k.startswith("@") and k not in ("@id", "@type"):
                    raise _Unsupported(k)  # value objects, @list, @graph...
            obj = self.node(v, ctx.child_of(t), depth + 1)
        elif isinstance(v, bool):
            if coerce in ("@id", "@vocab"):
                raise _Unsupported("boolean with @id coercion")
            obj = literal("true" if v else "false", coerce or XSD_BOOLEAN)
        elif isinstance(v, (int, float)):
            if coerce in ("@id", "@vocab"):
                raise _Unsupported("number with @id coercion")
            obj = _number_literal(v, coerce)
        elif v is None:
            raise UnsafeJsonLd("null value")
        else:
            raise UnsafeJsonLd("unsupported JSON value")
        assert t.pred is not None, "values belong to property terms"
        self.quads.append((subject, t.pred, obj, ""))


def _fast_quads(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if "@context" not in doc:
        raise UnsafeJsonLd("document has no @context")
    ctx = _root_ctx(doc["@context"])
    conv = _FastToRdf()
    conv.node(doc, ctx, 0)
    if not conv.quads:
        raise UnsafeJsonLd("document states nothing")
    return conv.quads


# --------------------------------------------------------------------------- public API


def to_quads(doc: dict[str, Any], *, fast: bool = True) -> list[tuple[str, str, str, str]]:
    """JSON-LD document → RDF quads (terms serialized as in N-Quads; graph '' = default)."""
    if not isinstance(doc, dict):
        raise JsonLdError("a JSON-LD document must be a JSON object")
    if fast:
        try:
            return _fast_quads(doc)
        except _Unsupported:
            pass
        except RecursionError:
            raise UnsafeJsonLd("document nested too deeply") from None
    return jsonld_reference.reference_quads(doc)


def canonize(doc: dict[str, Any], *, fast: bool = True) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (safe mode, offline contexts)."""
    return canonicalize_quads(to_quads(doc, fast=fast))


def pyld_canonize(doc: dict[str, Any]) -> str:
    """Plain pyld URDNA2015 canonicalization — the reference the fast path is tested against.

    (pyld escapes fewer control characters than RDFC-1.0 and does not run in safe mode;
    use :func:`canonize` for signatures.)"""
    nquads: str = _pyld.normalize(
        copy.deepcopy(doc),
        pyld_options(algorithm="URDNA2015", format="application/n-quads", base=""),
    )
    return nquads

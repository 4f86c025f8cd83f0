"""Offline JSON-LD processing and RDF Dataset Canonicalization (RDFC-1.0).

* :func:`document_loader` — a pyld document loader serving the bundled context documents in
  ``certs/contexts/`` (VC 2.0, Open Badges 3.0.x, Data Integrity, Multikey, Bitstring Status
  List). Nothing is ever fetched over the network; any other URL raises.
* :func:`canonize` — JSON-LD document → canonical N-Quads (RDFC-1.0), as used by the
  ``eddsa-rdfc-2022`` cryptosuite.

Canonicalization has two routes that produce the same output:

1. A **fast path** that turns the compact JSON directly into RDF quads. It reuses pyld's
   context processing (so term definitions, protected terms, type-scoped and property-scoped
   contexts follow the JSON-LD 1.1 rules exactly) but memoizes every processed context and
   every term lookup per context state, so a credential of a known shape costs only dict
   lookups. It handles the subset of JSON-LD that credentials use (node objects, ``id`` /
   ``type``, plain and typed literals, ``@id``/``@vocab`` coercion, ``@set`` containers,
   type-scoped and property-scoped contexts) and declines anything else — including terms
   defined only through ``@vocab`` and blank node identifiers — without judging it.
2. A **reference path** through pyld's expansion and RDF conversion, used whenever the fast
   path declines; it alone decides whether such input is unsafe. Both routes end in the same
   RDFC-1.0 implementation below.

Both routes run in "safe mode" like the reference JavaScript implementation used by
verifiers (jsonld.js ``safe: true``): a property that is not defined by the contexts, a
relative IRI, a ``null`` value or an empty object would be silently dropped by JSON-LD and so
would not be covered by the signature — such documents raise :class:`UnsafeJsonLd` instead
of being canonicalized.

RDFC-1.0 details that matter for interoperability: literals are escaped as RDFC-1.0 requires
(``\\b \\t \\n \\f \\r \\" \\\\`` and ``\\uXXXX`` for other control characters — pyld 3 only
escapes four of these), and N-Quad lines are sorted by UTF-16 code units, as the reference
JavaScript implementation does (this only differs from code-point order for lines that differ
at a character above U+FFFF versus one in U+E000–U+FFFF).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeGuard

from cachetools import LRUCache
from pyld import jsonld as _pyld
from pyld.context_resolver import ContextResolver

from errors import CertamenError, Kind

CONTEXT_DIR = Path(__file__).with_name("contexts")

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"

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


class _Unsupported(Exception):
    """Internal: the fast path does not handle this construct; use the reference path."""


# --------------------------------------------------------------------------- loader


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


def load_context(url: str) -> dict[str, Any]:
    """The bundled JSON document for a context URL (a fresh copy)."""
    if url not in _context_index():
        raise JsonLdError(f'context "{url}" is not available offline')
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


def _pyld_options(**extra: Any) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- N-Quads terms

_LITERAL_ESCAPES = {
    "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\",
}
for _n in list(range(0x20)) + [0x7F]:
    _LITERAL_ESCAPES.setdefault(chr(_n), "\\u%04X" % _n)
_LITERAL_ESCAPE_RE = re.compile('[\x00-\x1f\x7f"\\\\]')

# characters that may not appear in an IRI in N-Quads; we refuse such IRIs altogether
# (reference implementations disagree on how to escape them)
_BAD_IRI_CHARS = re.compile('[\x00-\x20<>"{}|^`\\\\\x7f]')
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")


def escape_literal(value: str) -> str:
    if _LITERAL_ESCAPE_RE.search(value) is None:
        return value
    return _LITERAL_ESCAPE_RE.sub(lambda m: _LITERAL_ESCAPES[m.group(0)], value)


def _iri(value: str) -> str:
    return "<" + value + ">"


def _literal(value: str, datatype: str | None = None, language: str | None = None) -> str:
    text = '"' + escape_literal(value) + '"'
    if language:
        return text + "@" + language
    if datatype and datatype != XSD_STRING:
        return text + "^^<" + datatype + ">"
    return text


_IRI_OK = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[^\x00-\x20<>\"{}|^`\\\x7f\s]*")


def is_absolute_iri(value: object) -> TypeGuard[str]:
    """An absolute IRI (``scheme:...``) without characters N-Quads would have to escape."""
    return type(value) is str and _IRI_OK.fullmatch(value) is not None


def _js_double(value: float) -> str:
    """Canonical xsd:double lexical form as JSON-LD processors produce it (e.g. ``1.5E0``)."""
    mantissa, exponent = ("%.15e" % value).split("e")
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
        return _literal(str(int(value)), datatype or XSD_INTEGER)
    return _literal(_js_double(float(value)), datatype or XSD_DOUBLE)


# --------------------------------------------------------------------------- fast path

_ID, _TYPE, _PROP, _CONTEXT = 0, 1, 2, 3
_PROC = _pyld.JsonLdProcessor()
_LOCK = threading.RLock()
_MAX_TYPE_CACHE = 512


def _process(active: dict[str, Any], local: Any, **kw: Any) -> dict[str, Any]:
    try:
        processed: dict[str, Any] = _PROC._process_context(active, local, _pyld_options(), **kw)
    except _pyld.JsonLdError as exc:
        raise JsonLdError(f"JSON-LD context error: {exc}") from None
    return processed


def _expand_iri(active: dict[str, Any], value: str, *, vocab: bool) -> str | None:
    iri: str | None = _PROC._expand_iri(active, value, vocab=vocab, base=None)
    return iri


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
        term = _Term(_PROP, _iri(target), coerce)
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
                iri = _expand_iri(self.active, v, vocab=True)
                if isinstance(iri, str) and iri.startswith("_:"):
                    raise _Unsupported("blank node type")
                if not is_absolute_iri(iri):
                    raise UnsafeJsonLd(f'type "{v}" is not defined by the @context')
                type_iris.append(_iri(iri))
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
            if u not in _context_index():
                raise JsonLdError(f'context "{u}" is not available offline')
        with _LOCK:
            ctx = _ROOTS.get(key)
            if ctx is None:
                initial = _PROC._get_initial_context(_pyld_options())
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
            subject = "_:b%d" % self.counter
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
        return _iri(value)

    def _value(self, subject: str, t: _Term, v: Any, ctx: _Ctx, depth: int) -> None:
        coerce = t.coerce
        if isinstance(v, str):
            if coerce is None:
                obj = _literal(v)
            elif coerce == "@id":
                obj = self._id_value(v, ctx)
            elif coerce == "@vocab":
                assert t.vocab_ctx is not None, "a @vocab-coerced term is a property term"
                iri = _expand_iri(t.vocab_ctx, v, vocab=True)
                if isinstance(iri, str) and iri.startswith("_:"):
                    raise _Unsupported("blank node value")
                if not is_absolute_iri(iri):
                    raise UnsafeJsonLd(f'value "{v}" is not defined by the @context')
                obj = _iri(iri)
            else:
                obj = _literal(v, coerce)
        elif isinstance(v, dict):
            for k in v:
                if k.startswith("@") and k not in ("@id", "@type"):
                    raise _Unsupported(k)  # value objects, @list, @graph...
            obj = self.node(v, ctx.child_of(t), depth + 1)
        elif isinstance(v, bool):
            if coerce in ("@id", "@vocab"):
                raise _Unsupported("boolean with @id coercion")
            obj = _literal("true" if v else "false", coerce or XSD_BOOLEAN)
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


# --------------------------------------------------------------------------- reference path


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
        return _iri(term["value"])
    if ttype == "blank node":
        label: str = term["value"]
        return label
    if ttype == "literal":
        dt = term.get("datatype")
        lang = term.get("language")
        if lang:
            return _literal(term["value"], RDF_LANGSTRING, lang)
        return _literal(term["value"], dt)
    raise UnsafeJsonLd(f"unexpected RDF term {ttype!r}")


def _reference_quads(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    _precheck(doc)

    def dropped(prop: Any) -> None:
        raise UnsafeJsonLd(f"property {prop!r} is not defined by the @context")

    try:
        expanded = _pyld.JsonLdProcessor(on_property_dropped=dropped).expand(
            copy.deepcopy(doc), _pyld_options()
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
        dataset = _pyld.JsonLdProcessor().to_rdf(expanded, _pyld_options(produceGeneralizedRdf=False))
    except _pyld.JsonLdError as exc:
        raise JsonLdError(f"JSON-LD to RDF failed: {exc}") from None
    quads = []
    for graph_name, triples in dataset.items():
        g = "" if graph_name == "@default" else (
            graph_name if graph_name.startswith("_:") else _iri(graph_name))
        for t in triples:
            quads.append((_term_from_pyld(t["subject"]), _term_from_pyld(t["predicate"]),
                          _term_from_pyld(t["object"]), g))
    return quads


# --------------------------------------------------------------------------- RDFC-1.0


def _line(s: str, p: str, o: str, g: str) -> str:
    if g:
        return f"{s} {p} {o} {g} .\n"
    return f"{s} {p} {o} .\n"


def _has_astral(text: str) -> bool:
    """Any character above U+FFFF? (O(1) for ASCII text.)"""
    return not text.isascii() and len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def _sort_lines(lines: list[str]) -> None:
    # UTF-16 code unit order (what the JavaScript reference implementation does); it only
    # differs from code point order when characters above U+FFFF are involved
    if _has_astral("".join(lines)):
        lines.sort(key=lambda s: s.encode("utf-16-be", "surrogatepass"))
    else:
        lines.sort()


class _Issuer:
    __slots__ = ("prefix", "counter", "issued")

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.counter = 0
        self.issued: dict[str, str] = {}

    def issue(self, old: str) -> str:
        new = self.issued.get(old)
        if new is None:
            new = f"{self.prefix}{self.counter}"
            self.counter += 1
            self.issued[old] = new
        return new

    def copy(self) -> _Issuer:
        c = _Issuer(self.prefix)
        c.counter = self.counter
        c.issued = dict(self.issued)
        return c


class _Canonicalizer:
    def __init__(self, quads: list[tuple[str, str, str, str]]):
        quads = list(dict.fromkeys(quads))  # a dataset is a set of quads
        self.quads = quads
        self.bnode_quads: dict[str, list[tuple[str, str, str, str]]] = {}
        for q in quads:
            seen = None
            for comp in (q[0], q[2], q[3]):
                if comp.startswith("_:") and comp != seen:
                    lst = self.bnode_quads.get(comp)
                    if lst is None:
                        self.bnode_quads[comp] = [q]
                    elif lst[-1] is not q:
                        lst.append(q)
                    seen = comp
        self.canonical = _Issuer("c14n")
        self.first_degree: dict[str, str] = {}
        self.ndegree_calls = 0

    def hash_first_degree(self, bnode: str) -> str:
        h = self.first_degree.get(bnode)
        if h is not None:
            return h
        lines = []
        for s, p, o, g in self.bnode_quads[bnode]:
            if s.startswith("_:"):
                s = "_:a" if s == bnode else "_:z"
            if o.startswith("_:"):
                o = "_:a" if o == bnode else "_:z"
            if g.startswith("_:"):
                g = "_:a" if g == bnode else "_:z"
            lines.append(_line(s, p, o, g))
        _sort_lines(lines)
        h = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
        self.first_degree[bnode] = h
        return h

    def hash_related(self, related: str, quad: tuple[str, str, str, str], issuer: _Issuer, position: str) -> str:
        if related in self.canonical.issued:
            ident = "_:" + self.canonical.issued[related]
        elif related in issuer.issued:
            ident = "_:" + issuer.issued[related]
        else:
            ident = self.hash_first_degree(related)
        data = position
        if position != "g":
            data += quad[1]  # predicate, already serialized as <iri>
        data += ident
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def hash_n_degree(self, bnode: str, issuer: _Issuer) -> tuple[str, _Issuer]:
        self.ndegree_calls += 1
        if self.ndegree_calls > MAX_NDEGREE_CALLS:
            raise UnsafeJsonLd("RDF dataset too complex to canonicalize (poison graph)")
        hash_to_related: dict[str, list[str]] = {}
        for q in self.bnode_quads[bnode]:
            for comp, pos in ((q[0], "s"), (q[2], "o"), (q[3], "g")):
                if comp.startswith("_:") and comp != bnode:
                    h = self.hash_related(comp, q, issuer, pos)
                    hash_to_related.setdefault(h, []).append(comp)
        data = ""
        for related_hash in sorted(hash_to_related):
            data += related_hash
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            for perm in itertools.permutations(hash_to_related[related_hash]):
                self.ndegree_calls += 1
                if self.ndegree_calls > MAX_NDEGREE_CALLS:
                    raise UnsafeJsonLd("RDF dataset too complex to canonicalize (poison graph)")
                issuer_copy = issuer.copy()
                path = ""
                recursion = []
                skip = False
                for related in perm:
                    if related in self.canonical.issued:
                        path += "_:" + self.canonical.issued[related]
                    else:
                        if related not in issuer_copy.issued:
                            recursion.append(related)
                        path += "_:" + issuer_copy.issue(related)
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                for related in recursion:
                    result_hash, result_issuer = self.hash_n_degree(related, issuer_copy)
                    path += "_:" + issuer_copy.issue(related)
                    path += "<" + result_hash + ">"
                    issuer_copy = result_issuer
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path = path
                    chosen_issuer = issuer_copy
            data += chosen_path
            if chosen_issuer is not None:
                issuer = chosen_issuer
        return hashlib.sha256(data.encode("utf-8")).hexdigest(), issuer

    def run(self) -> str:
        hash_to_bnodes: dict[str, list[str]] = {}
        for bnode in self.bnode_quads:
            hash_to_bnodes.setdefault(self.hash_first_degree(bnode), []).append(bnode)
        non_unique = []
        for h in sorted(hash_to_bnodes):
            nodes = hash_to_bnodes[h]
            if len(nodes) == 1:
                self.canonical.issue(nodes[0])
            else:
                non_unique.append(nodes)
        for nodes in non_unique:
            results = []
            for bnode in nodes:
                if bnode in self.canonical.issued:
                    continue
                temp = _Issuer("b")
                temp.issue(bnode)
                results.append(self.hash_n_degree(bnode, temp))
            results.sort(key=lambda r: r[0])
            for _h, issuer in results:
                for old in issuer.issued:
                    self.canonical.issue(old)
        ids = self.canonical.issued
        lines = []
        for s, p, o, g in self.quads:
            if s.startswith("_:"):
                s = "_:" + ids[s]
            if o.startswith("_:"):
                o = "_:" + ids[o]
            if g.startswith("_:"):
                g = "_:" + ids[g]
            lines.append(_line(s, p, o, g))
        _sort_lines(lines)
        # a dataset is a set: drop duplicate quads
        out = []
        prev = None
        for line in lines:
            if line != prev:
                out.append(line)
            prev = line
        return "".join(out)


def canonicalize_quads(quads: list[tuple[str, str, str, str]]) -> str:
    """RDFC-1.0 canonical N-Quads of a dataset given as serialized-term 4-tuples."""
    return _Canonicalizer(quads).run()


def canonicalize_quads_with_map(
    quads: list[tuple[str, str, str, str]],
) -> tuple[str, dict[str, str]]:
    """Canonical N-Quads and the issued identifiers map of RDFC-1.0 (input blank node label →
    canonical label, both without ``_:``), e.g. to relate canonical labels to the input."""
    canonicalizer = _Canonicalizer(quads)
    nquads = canonicalizer.run()
    return nquads, {old[2:]: new for old, new in canonicalizer.canonical.issued.items()}


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
    return _reference_quads(doc)


def canonize(doc: dict[str, Any], *, fast: bool = True) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (safe mode, offline contexts)."""
    return canonicalize_quads(to_quads(doc, fast=fast))


def pyld_canonize(doc: dict[str, Any]) -> str:
    """Plain pyld URDNA2015 canonicalization — the reference the fast path is tested against.

    (pyld escapes fewer control characters than RDFC-1.0 and does not run in safe mode;
    use :func:`canonize` for signatures.)"""
    nquads: str = _pyld.normalize(
        copy.deepcopy(doc),
        _pyld_options(algorithm="URDNA2015", format="application/n-quads", base=""),
    )
    return nquads

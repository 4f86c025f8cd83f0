"""Re-spellings of a signed credential: other JSON for the same RDF graph.

An eddsa-rdfc-2022 proof signs the canonical RDF graph, not the JSON text, so anyone holding a
certificate can re-spell it (full IRIs as keys, an added prefix or alias term, value objects,
``@nest`` / ``@included`` / ``@graph`` wrappers, keys in another order or repeated...) and the proof
still verifies. A verifier that reads facts such as ``validUntil`` or ``credentialStatus`` from the
JSON keys must not be fooled by that. This module holds the named tricks (pure functions of the
signed credential; the proof is left as it is) used by the tests in this directory, plus
:class:`Spellings`, which finds each key's IRI and each literal's expanded value object so that
property tests can re-spell any key of any node.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyld import jsonld as pyld

from certs.contexts import document_loader, known_context_urls, load_context

CRED = "https://www.w3.org/2018/credentials#"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
FAR_FUTURE = "2099-12-31T23:59:59Z"


def clone(value: Any) -> Any:
    return json.loads(json.dumps(value))


def unsecured(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "proof"}


def parsed(doc: dict | str) -> dict:
    return json.loads(doc) if isinstance(doc, str) else doc


def _dated(value: str) -> dict:
    return {"@value": value, "@type": XSD_DATETIME}


def _renamed(cred: dict, spell: dict[str, Callable[[Any], tuple[str, Any]]]) -> dict:
    """A copy of ``cred`` where each key in ``spell`` is replaced, in place, by spell[key](value)."""
    out = {}
    for key, value in clone(cred).items():
        if key in spell:
            key, value = spell[key](value)
        out[key] = value
    return out


def _with_context(cred: dict, extra: Any) -> dict:
    return {**cred, "@context": list(cred["@context"]) + [extra]}


def _status_entries(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- the named tricks


def full_iri_keys(cred: dict) -> dict:
    """The reported exploit: validUntil and credentialStatus under their full IRIs."""
    return _renamed(cred, {
        "validUntil": lambda v: (CRED + "validUntil", _dated(v)),
        "credentialStatus": lambda v: (CRED + "credentialStatus", v),
    })


def compact_iri_keys(cred: dict) -> dict:
    """An added inline prefix and compact IRIs (cred:validUntil, cred:credentialStatus)."""
    out = _renamed(cred, {
        "validUntil": lambda v: ("cred:validUntil", _dated(v)),
        "credentialStatus": lambda v: ("cred:credentialStatus", v),
    })
    return _with_context(out, {"cred": CRED})


def alias_terms(cred: dict) -> dict:
    """New terms for the protected IRIs, defined in an appended inline context."""
    out = _renamed(cred, {
        "validUntil": lambda v: ("until", v),
        "credentialStatus": lambda v: ("lifecycle", v),
    })
    return _with_context(out, {
        "until": {"@id": CRED + "validUntil", "@type": XSD_DATETIME},
        "lifecycle": {"@id": CRED + "credentialStatus", "@type": "@id"},
    })


def vocab_relative_keys(cred: dict) -> dict:
    """An inline @vocab, and keys that expand against it ("#validUntil")."""
    out = _renamed(cred, {
        "validUntil": lambda v: ("#validUntil", _dated(v)),
        "credentialStatus": lambda v: ("#credentialStatus", v),
    })
    return _with_context(out, {"@vocab": CRED.rstrip("#")})


def keyword_alias(cred: dict) -> dict:
    """Aliases of @type / @id in an embedded context of each status entry."""
    out = clone(cred)
    for entry in _status_entries(out["credentialStatus"]):
        entry["@context"] = {"kind": "@type", "ident": "@id"}
        entry["kind"] = entry.pop("type")
        if "id" in entry:
            entry["ident"] = entry.pop("id")
    return out


def value_objects(cred: dict) -> dict:
    """Same keys, values spelled as value objects and an @set object."""
    return _renamed(cred, {
        "validFrom": lambda v: ("validFrom", _dated(v)),
        "validUntil": lambda v: ("validUntil", _dated(v)),
        "credentialStatus": lambda v: ("credentialStatus", {"@set": _status_entries(v)}),
    })


def keyword_keys(cred: dict) -> dict:
    """@id / @type instead of their aliases id / type, in every node (the proof aside)."""
    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {{"id": "@id", "type": "@type"}.get(k, k): walk(v) for k, v in value.items()}
        return value

    return {k: (v if k in ("@context", "proof") else walk(v)) for k, v in clone(cred).items()}


def nested_properties(cred: dict) -> dict:
    """validUntil and credentialStatus moved into an @nest object (same node for JSON-LD)."""
    out = clone(cred)
    out["@nest"] = {k: out.pop(k) for k in ("validUntil", "credentialStatus") if k in cred}
    return out


def included_node(cred: dict) -> dict:
    """validUntil and credentialStatus moved to an @included node with the credential's id
    (and its type, for the type-scoped context): JSON-LD merges the two into one node."""
    out = clone(cred)
    moved = {k: out.pop(k) for k in ("validUntil", "credentialStatus") if k in cred}
    out["@included"] = [{"id": cred["id"], "type": cred["type"], **moved}]
    return out


def graph_wrapper(cred: dict) -> dict:
    """The credential as the only node of a top-level @graph (the proof stays at the top)."""
    body = {k: v for k, v in clone(cred).items() if k not in ("@context", "proof")}
    return {"@context": cred["@context"], "@graph": [body], "proof": cred["proof"]}


def fully_expanded(cred: dict) -> dict:
    """The JSON-LD expanded form (every key an IRI, every literal a value object), with the
    original @context kept for the proof configuration."""
    [node] = expand(unsecured(cred))
    return {"@context": cred["@context"], **node, "proof": cred["proof"]}


def status_entry_iris(cred: dict) -> dict:
    """Inside each status entry, every property under its full IRI (value objects as needed)."""
    sp = Spellings(cred)
    out = clone(cred)
    raw = out["credentialStatus"]
    entries = _status_entries(raw)
    for i, entry in enumerate(entries):
        node_path = (("credentialStatus", i if isinstance(raw, list) else None),)
        spelled = {}
        for key, value in entry.items():
            if key in ("id", "type"):
                spelled[key] = value
            else:
                spelled[sp.iri[(node_path, key)]] = sp.as_objects(node_path, key, value)
        entries[i] = spelled
    out["credentialStatus"] = entries if isinstance(raw, list) else entries[0]
    return out


def status_type_as_array(cred: dict) -> dict:
    """"type": "BitstringStatusListEntry" spelled as a one-element array."""
    out = clone(cred)
    for entry in _status_entries(out["credentialStatus"]):
        entry["type"] = [entry["type"]] if isinstance(entry["type"], str) else entry["type"]
    return out


def first_status_type_as_array(cred: dict) -> dict:
    """Only the first status entry's type spelled as a one-element array (on a two-entry
    certificate: the revocation entry)."""
    out = clone(cred)
    entry = _status_entries(out["credentialStatus"])[0]
    entry["type"] = [entry["type"]] if isinstance(entry["type"], str) else entry["type"]
    return out


def status_array_toggled(cred: dict) -> dict:
    """One status entry as a bare object instead of a one-element array (or the other way round;
    several entries are put in reverse order)."""
    out = clone(cred)
    raw = out["credentialStatus"]
    if not isinstance(raw, list):
        out["credentialStatus"] = [raw]
    elif len(raw) == 1:
        out["credentialStatus"] = raw[0]
    else:
        out["credentialStatus"] = raw[::-1]
    return out


def reversed_keys(cred: dict) -> dict:
    """Every object's keys in reverse order (the proof's too)."""
    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(value[k]) for k in reversed(list(value))}
        return value

    return walk(clone(cred))


def inline_context_copy(cred: dict) -> dict:
    """The Open Badges context given inline (its bundled content) instead of by URL."""
    ctx = [cred["@context"][0]] + [load_context(u)["@context"] for u in cred["@context"][1:]]
    return {**clone(cred), "@context": ctx}


def dumps_with_decoys(cred: dict, decoys: dict[str, Any], *, decoys_first: bool = True) -> str:
    """JSON text of ``cred`` where the top-level keys in ``decoys`` appear twice: once with the
    decoy value, once with the real one (the decoy first unless ``decoys_first`` is false)."""
    parts = []
    for key, value in cred.items():
        pair = [json.dumps(key, ensure_ascii=False) + ":" + json.dumps(value, ensure_ascii=False)]
        if key in decoys:
            decoy = json.dumps(key) + ":" + json.dumps(decoys[key])
            pair = [decoy] + pair if decoys_first else pair + [decoy]
        parts.extend(pair)
    return "{" + ",".join(parts) + "}"


_DECOYS = {"validUntil": FAR_FUTURE, "credentialStatus": []}


def repeated_keys_decoy_first(cred: dict) -> str:
    """validUntil and credentialStatus repeated, a harmless-looking decoy before the real value
    (a last-wins parser reads the signed document)."""
    return dumps_with_decoys(cred, _DECOYS, decoys_first=True)


def repeated_keys_decoy_last(cred: dict) -> str:
    """validUntil and credentialStatus repeated, the decoy after the real value (a last-wins
    parser reads the decoy: the graph changes, the signature must fail)."""
    return dumps_with_decoys(cred, _DECOYS, decoys_first=False)


@dataclass(frozen=True)
class Trick:
    name: str
    rewrite: Callable[[dict], dict | str]
    preserves_graph: bool = True

    def __repr__(self) -> str:
        return self.name


TRICKS = [
    Trick("full_iri_keys", full_iri_keys),
    Trick("compact_iri_keys", compact_iri_keys),
    Trick("alias_terms", alias_terms),
    Trick("vocab_relative_keys", vocab_relative_keys),
    Trick("keyword_alias", keyword_alias),
    Trick("value_objects", value_objects),
    Trick("keyword_keys", keyword_keys),
    Trick("nested_properties", nested_properties),
    Trick("included_node", included_node),
    Trick("graph_wrapper", graph_wrapper),
    Trick("fully_expanded", fully_expanded),
    Trick("status_entry_iris", status_entry_iris),
    Trick("status_type_as_array", status_type_as_array),
    Trick("first_status_type_as_array", first_status_type_as_array),
    Trick("status_array_toggled", status_array_toggled),
    Trick("reversed_keys", reversed_keys),
    Trick("inline_context_copy", inline_context_copy),
    Trick("repeated_keys_decoy_first", repeated_keys_decoy_first),
    Trick("repeated_keys_decoy_last", repeated_keys_decoy_last, preserves_graph=False),
]
TRICKS_BY_NAME = {t.name: t for t in TRICKS}


# ---------------------------------------------------------------- every key's IRI, every literal's value object


def expand(doc: dict) -> list:
    """pyld expansion with the bundled contexts only."""
    return pyld.expand(copy.deepcopy(doc), {"documentLoader": document_loader,
                                            "processingMode": "json-ld-1.1"})


NodePath = tuple  # ((key, index or None), ...) from the top node of the credential
ID_TYPE = ("id", "type")  # the issuer's aliases of @id / @type


def _scoped_terms() -> frozenset[str]:
    """Terms that carry their own (scoped) context somewhere in the bundled contexts. A node under
    such a property is read with that context: spelled under another key, it must be expanded."""
    found = set()

    def walk(ctx: Any) -> None:
        for entry in ctx if isinstance(ctx, list) else [ctx]:
            if isinstance(entry, dict):
                for term, definition in entry.items():
                    if isinstance(definition, dict) and "@context" in definition:
                        found.add(term)
                        walk(definition["@context"])

    for url in known_context_urls():
        walk(load_context(url).get("@context"))
    return frozenset(found)


SCOPED_TERMS = _scoped_terms()


class Spellings:
    """For a credential as issued: the IRI of each key of each node, and the expanded value
    object of each literal, so that a key can be re-spelled with the same meaning.

    Found by expanding the credential once as is and once with every literal and every node id
    replaced by a unique marker IRI: where a marker lands in the expanded form tells which IRI
    the key expands to, and the same place in the plain expansion holds the literal's value object.
    Node paths use the original keys and list positions: ``(("credentialSubject", None),
    ("result", 0))`` is the first result of the subject."""

    def __init__(self, cred: dict):
        doc = unsecured(cred)
        self.iri: dict[tuple[NodePath, str], str] = {}
        self.literal: dict[tuple[NodePath, str, int | None], dict] = {}
        self.expanded_node: dict[NodePath, dict] = {}
        self.nodes: list[NodePath] = []
        self.keys: list[tuple[NodePath, str]] = []          # every key but id / type
        self.id_type_keys: list[tuple[NodePath, str]] = []  # the id / type keys
        self.with_id: set[NodePath] = set()                 # nodes that have an id
        markers: dict[str, tuple] = {}
        probe = self._probe(doc, (), markers)
        original, marked = expand(doc), expand(probe)
        found: dict[str, tuple[str, Any]] = {}
        self._find(marked, original, markers, found)
        missing = set(markers) - set(found)
        assert not missing, f"markers lost in expansion: {[markers[m] for m in missing]}"
        for marker, (kind, *where) in markers.items():
            iri, expanded = found[marker]
            if kind == "literal":
                node_path, key, index = where
                self.literal[(node_path, key, index)] = expanded
                self.iri[(node_path, key)] = iri
            elif where[0]:  # a nested node: the key that holds it, and its expanded form
                node_path = where[0]
                self.iri[(node_path[:-1], node_path[-1][0])] = iri
                self.expanded_node[node_path] = expanded

    def _probe(self, node: dict, path: NodePath, markers: dict) -> dict:
        self.nodes.append(path)
        marker = f"urn:probe:{len(markers)}"
        markers[marker] = ("node", path)
        out = {"id": marker}
        for key, value in node.items():
            if key == "@context" or key in ID_TYPE:
                out.setdefault(key, value)
                if key in ID_TYPE:
                    self.id_type_keys.append((path, key))
                if key == "id":
                    self.with_id.add(path)
                continue
            self.keys.append((path, key))
            values = value if isinstance(value, list) else [value]
            probed = []
            for i, v in enumerate(values):
                index = i if isinstance(value, list) else None
                if isinstance(v, dict):
                    probed.append(self._probe(v, path + ((key, index),), markers))
                else:
                    m = f"urn:probe:{len(markers)}"
                    markers[m] = ("literal", path, key, index)
                    probed.append(m)
            out[key] = probed if isinstance(value, list) else probed[0]
        return out

    def _find(self, marked: Any, original: Any, markers: dict, found: dict, iri: str = "") -> None:
        if isinstance(marked, list):
            assert isinstance(original, list) and len(original) == len(marked)
            for m, o in zip(marked, original, strict=True):
                self._find(m, o, markers, found, iri)
        elif isinstance(marked, dict):
            for key in ("@id", "@value"):
                if marked.get(key) in markers:
                    found[marked[key]] = (iri, original)
            for key, value in marked.items():
                if not key.startswith("@"):
                    self._find(value, original[key], markers, found, key)

    def as_objects(self, node_path: NodePath, key: str, value: Any) -> Any:
        """``value`` (of ``key`` in the node at ``node_path``) as it can be written under the key's
        IRI: literals as value objects, nodes as they are or expanded (see SCOPED_TERMS)."""
        if isinstance(value, list):
            return [self.under_iri(node_path, key, i, v) for i, v in enumerate(value)]
        return self.under_iri(node_path, key, None, value)

    def under_iri(self, node_path: NodePath, key: str, index: int | None, value: Any) -> Any:
        if isinstance(value, dict):
            if key in SCOPED_TERMS:
                return copy.deepcopy(self.expanded_node[node_path + ((key, index),)])
            return value
        return copy.deepcopy(self.literal[(node_path, key, index)])


# ---------------------------------------------------------------- composed re-spellings (for property tests)


@dataclass
class Plan:
    """How to re-spell a credential; every entry keeps the RDF graph (keys are ``(node path, key)``
    as in :class:`Spellings`).

    * ``spelling[key]``: ``("iri",)`` full IRI; ``("prefix", cut, scope)`` compact IRI through a new
      prefix for the IRI's first ``cut``-ish characters; ``("alias", scope)`` a new term for the IRI;
      ``("vocab",)`` relative to a new @vocab of the node; ``("keyword",)`` @id / @type for id / type.
      ``scope`` is ``"top"`` (appended to the top-level @context) or ``"local"`` (an embedded
      @context in the node itself).
    * ``form[key]``: ``"objects"`` literals as value objects, ``"set"`` an @set object (of value
      objects), ``"toggle"``
      a one-element array as a bare value or a bare value as a one-element array.
    * ``place[key]``: ``"nest"`` inside the node's @nest object, ``"included"`` inside an @included
      node with the same id (and type).
    * ``shuffle[node path]``: a seed for the order of that node's keys.
    * ``inline_context``: the non-VC contexts given inline; ``graph``: the body in a top @graph.
    """

    spelling: dict = None
    form: dict = None
    place: dict = None
    shuffle: dict = None
    inline_context: bool = False
    graph: bool = False

    def __post_init__(self):
        for name in ("spelling", "form", "place", "shuffle"):
            if getattr(self, name) is None:
                setattr(self, name, {})


def _toggle(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if len(value) == 1 else value
    return [value]


class Renderer:
    def __init__(self, spellings: Spellings, plan: Plan):
        self.sp = spellings
        self.plan = plan
        self.top_context: dict = {}
        self.names = iter(range(10**6))

    def render(self, cred: dict) -> dict:
        body = self._node({k: v for k, v in cred.items() if k not in ("@context", "proof")}, ())
        ctx = list(cred["@context"])
        if self.plan.inline_context:
            ctx = ctx[:1] + [load_context(u)["@context"] for u in ctx[1:]]
        if self.top_context:
            ctx.append(self.top_context)
        if self.plan.graph:
            doc = {"@context": ctx, "@graph": [body]}
        else:
            doc = {"@context": ctx, **body}
        doc["proof"] = clone(cred["proof"])
        if () in self.plan.shuffle:
            items = list(doc.items())
            _shuffled(items, self.plan.shuffle[()])
            doc = dict(items)
        return doc

    def _node(self, obj: dict, path: NodePath) -> dict:
        local: dict = self.top_context if path == () else {}
        direct, nest, included = {}, {}, {}
        for key, value in obj.items():
            k2, v2 = self._spell(path, key, value, local)
            where = self.plan.place.get((path, key)) if key not in ID_TYPE else None
            if where == "nest":
                nest[k2] = v2
            elif where == "included" and path in self.sp.with_id:
                included[k2] = v2
            else:
                direct[k2] = v2
        out = {}
        if local and path != ():
            out["@context"] = local
        out.update(direct)
        if nest:
            out["@nest"] = nest
        if included:
            twin = {"id": obj["id"]}
            if "type" in obj:
                twin["type"] = clone(obj["type"])  # the same type-scoped context
            out["@included"] = [{**twin, **included}]
        if path != () and path in self.plan.shuffle:
            items = list(out.items())
            _shuffled(items, self.plan.shuffle[path])
            out = dict(items)
        return out

    def _define(self, scope: str, local: dict, definition: Any) -> str:
        name = f"zq{next(self.names)}"
        (self.top_context if scope == "top" else local)[name] = definition
        return name

    def _spell(self, path: NodePath, key: str, value: Any, local: dict) -> tuple[str, Any]:
        target = (path, key)
        spelling = self.plan.spelling.get(target, ("term",))
        form = self.plan.form.get(target)
        if key in ID_TYPE:
            k2 = "@" + key if spelling[0] == "keyword" else key
            return k2, (_toggle(clone(value)) if key == "type" and form == "toggle" else clone(value))
        iri = self.sp.iri[target]
        kind = spelling[0]
        # (pyld reads a bare literal in an @set object without the term's datatype: value objects)
        objects = form in ("objects", "set") or kind in ("iri", "prefix", "vocab")
        id_refs = False  # literals spelled as their expanded @id (an alias with "@type": "@id")
        if kind == "iri":
            k2 = iri
        elif kind == "prefix":
            cuts = [i for i in range(iri.index(":") + 1, len(iri)) if not iri[i:].startswith("//")]
            cut = cuts[spelling[1] % len(cuts)]
            k2 = self._define(spelling[2], local, {"@id": iri[:cut], "@prefix": True}) + ":" + iri[cut:]
        elif kind == "alias":
            definition, objects, id_refs = self._alias(path, key, value, iri, objects)
            k2 = self._define(spelling[1], local, definition)
        elif kind == "vocab":
            cut = max(iri.rfind("#"), iri.rfind("/"))
            if local.get("@vocab", iri[:cut]) == iri[:cut]:
                local["@vocab"] = iri[:cut]
                k2 = iri[cut:]
            else:  # the node already has another @vocab
                k2 = iri
        else:
            k2 = key
        values = value if isinstance(value, list) else [value]
        rendered = []
        for i, v in enumerate(values):
            index = i if isinstance(value, list) else None
            if isinstance(v, dict):
                if kind != "term" and key in SCOPED_TERMS:  # the node needs the term's own context
                    rendered.append(self.sp.under_iri(path, key, index, v))
                else:
                    rendered.append(self._node(v, path + ((key, index),)))
            elif objects or id_refs:
                obj = copy.deepcopy(self.sp.literal[(path, key, index)])
                rendered.append(obj["@id"] if id_refs and not objects else obj)
            else:
                rendered.append(clone(v))
        if form == "set":
            return k2, {"@set": rendered}
        shaped = rendered if isinstance(value, list) else rendered[0]
        return k2, (_toggle(shaped) if form == "toggle" else shaped)

    def _alias(self, path: NodePath, key: str, value: Any, iri: str,
               objects: bool) -> tuple[dict, bool, bool]:
        """A term definition for ``iri`` that reads the compact values the same way when possible:
        (definition, literals as value objects?, literals as @id strings?)."""
        values = value if isinstance(value, list) else [value]
        literals = [(v, self.sp.literal[(path, key, i if isinstance(value, list) else None)])
                    for i, v in enumerate(values) if not isinstance(v, dict)]
        definition: dict = {"@id": iri}
        if not literals:
            return definition, objects, False
        if all(set(e) == {"@id"} for _, e in literals):
            return {**definition, "@type": "@id"}, objects, True
        datatypes = {e.get("@type") for _, e in literals}
        if len(datatypes) == 1 and all(set(e) <= {"@value", "@type"} and e["@value"] == v
                                       and type(e["@value"]) is type(v) for v, e in literals):
            datatype = datatypes.pop()
            return ({**definition, "@type": datatype} if datatype else definition), objects, False
        return definition, True, False


def _shuffled(items: list, seed: int) -> None:
    import random

    random.Random(seed).shuffle(items)


def render(cred: dict, spellings: Spellings, plan: Plan) -> dict:
    """``cred`` re-spelled as ``plan`` says (the proof is kept as it is)."""
    return Renderer(spellings, plan).render(cred)


def dict_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every JSON object inside ``value`` (keys and list positions)."""
    found = []
    if isinstance(value, dict):
        found.append(path)
        for k, v in value.items():
            found += dict_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += dict_paths(v, path + (i,))
    return found


def dumps_repeating(value: Any, decoys: dict[tuple, list[tuple[str, Any]]], path: tuple = ()) -> str:
    """JSON text of ``value`` where the object at each path in ``decoys`` first states the given
    (key, decoy value) pairs, before its real members: a last-wins parser reads ``value``."""
    if isinstance(value, dict):
        members = [json.dumps(k) + ":" + json.dumps(d) for k, d in decoys.get(path, ())]
        members += [json.dumps(k, ensure_ascii=False) + ":" + dumps_repeating(v, decoys, path + (k,))
                    for k, v in value.items()]
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps_repeating(v, decoys, path + (i,)) for i, v in enumerate(value)) + "]"
    return json.dumps(value, ensure_ascii=False)

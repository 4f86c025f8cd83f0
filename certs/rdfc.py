"""RDF Dataset Canonicalization (RDFC-1.0) with SHA-256, as the ``eddsa-rdfc-2022`` cryptosuite
uses it, over quads whose terms are already written as N-Quads (:mod:`certs.nquads`).

N-Quad lines are sorted by UTF-16 code units, as the reference JavaScript implementation does
(this only differs from code-point order for lines that differ at a character above U+FFFF versus
one in U+E000–U+FFFF). The number of n-degree hash steps is capped, so a poison graph is refused
(:class:`~certs.jsonld_errors.UnsafeJsonLd`) instead of computed for minutes.
"""
from __future__ import annotations

import hashlib
import itertools

from .jsonld_errors import MAX_NDEGREE_CALLS, UnsafeJsonLd


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

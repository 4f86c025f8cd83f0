"""The issuer's form: the one JSON spelling of a credential that the verifier reads facts from.

An ``eddsa-rdfc-2022`` proof covers the RDF graph, not the JSON text: the same graph can be spelled
with full IRIs as keys (``https://www.w3.org/2018/credentials#validUntil``), compact IRIs through
an added prefix, new alias terms, value objects, ``@graph``/``@included`` wrappers... A verifier
that reads ``validUntil`` or ``credentialStatus`` from the JSON would not find them in such a
spelling, yet the proof still verifies. So the verifier accepts a credential only in the form the
issuer produces, where each fact has exactly one JSON spelling:

* ``@context`` is a list of bundled context URLs, the VC 2.0 context first: no inline context
  (no new prefixes or alias terms), no context that is not shipped with the verifier;
* every key is a plain term (letters, digits, ``_`` and ``-``): no IRI, compact IRI or JSON-LD
  keyword other than the top-level ``@context`` and the proof's own ``@context``
  (``eddsa-jcs-2022``), which must equal the document's. (An ``eddsa-jcs-2022`` proof covers the
  JSON text itself, so there the signature already pins every key to the issuer's spelling.)
* the top-level properties are the ones the issuer writes for that kind of credential: anything
  else (``termsOfUse``, ``refreshService``, an unexpected property...) is refused, not ignored;
* JSON text with a key repeated in one object is refused (parsers disagree on which one wins).

Within the bundled contexts each plain term the verifier reads names one IRI (a test checks this),
so in this form reading the JSON *is* reading the signed graph. Anything else is "not a
certificate in the expected form": a rejection, never a better verdict.
"""
from __future__ import annotations

import json
import re
from typing import Any

from errors import CertamenError

from . import contexts

MAX_DEPTH = 32
JCS_SUITE = "eddsa-jcs-2022"

_TERM = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")

# What the issuer writes at the top level of each kind of credential it signs.
CERTIFICATE_PROPERTIES = frozenset({
    "@context", "id", "type", "name", "description", "issuer", "validFrom", "validUntil",
    "awardedDate", "credentialSubject", "credentialStatus", "evidence", "proof",
})
STATUS_LIST_PROPERTIES = frozenset({
    "@context", "id", "type", "issuer", "validFrom", "validUntil", "credentialSubject", "proof",
})


class FormError(CertamenError, ValueError):
    """The credential is not in the issuer's form (the message says where)."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise FormError(f'the key "{key[:60]}" appears twice in one object')
            seen.add(key)
    return obj


def _bad_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def loads_strict(text: str | bytes) -> Any:
    """JSON text to Python, refusing repeated keys (FormError) and NaN/Infinity (ValueError)."""
    return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_bad_constant)


def _check_context(ctx: Any, where: str) -> None:
    if type(ctx) is not list or not ctx or ctx[0] != contexts.CREDENTIALS_V2:
        raise FormError(f'{where} must be a list starting with "{contexts.CREDENTIALS_V2}"')
    known = contexts.known_context_urls()
    for entry in ctx:
        if type(entry) is not str:
            raise FormError(f"{where} holds an inline context; only published context URLs are accepted")
        if entry not in known:
            raise FormError(f'{where} names "{entry[:100]}", which is not a context this verifier knows')
    if len(set(ctx)) != len(ctx):
        raise FormError(f"{where} names a context twice")


_PLAIN_SEEN: set[str] = set()  # keys already found to be plain terms (a credential has ~60)


def _is_plain(key: str) -> bool:
    if key in _PLAIN_SEEN:
        return True
    if not _TERM.match(key):
        return False
    if len(_PLAIN_SEEN) < 4096:
        _PLAIN_SEEN.add(key)
    return True


def _check_keys(value: Any) -> None:
    """Every key below ``value`` is a plain term (walked without recursion or path strings: this
    runs on every verification)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormError("nested too deeply")
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            if type(key) is str and not _is_plain(key):
                raise FormError(f'"{key[:100]}" is not a plain term (IRIs, compact IRIs and JSON-LD '
                                "keywords are not used by the issuer)")
            if type(item) is dict or type(item) is list:
                stack.append((item, depth + 1))


def _allowed_properties(cred: dict[str, Any]) -> frozenset[str]:
    types = cred.get("type")
    types = types if type(types) is list else [types]
    return STATUS_LIST_PROPERTIES if "BitstringStatusListCredential" in types else CERTIFICATE_PROPERTIES


def check_form(cred: dict[str, Any]) -> None:
    """Raise FormError unless ``cred`` (a secured credential) is spelled as the issuer spells it."""
    _check_context(cred.get("@context"), "@context")
    extra = sorted(k for k in cred if k not in _allowed_properties(cred))
    if extra:
        raise FormError(f'unexpected property "{extra[0][:100]}"'
                        + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    proof = cred.get("proof")
    proofs = proof if type(proof) is list else [proof]
    for p in proofs:
        if type(p) is dict and "@context" in p and p["@context"] != cred["@context"]:
            raise FormError("the proof's @context differs from the credential's")
    if all(type(p) is dict and p.get("cryptosuite") == JCS_SUITE for p in proofs):
        # an eddsa-jcs-2022 proof covers the JSON text itself: only the spelling the issuer
        # signed can verify, so walking every key (~15 us) would re-check what the signature does
        return
    for p in proofs:
        if type(p) is dict:
            _check_keys({k: v for k, v in p.items() if k != "@context"})
    _check_keys({k: v for k, v in cred.items() if k != "@context" and k != "proof"})


__all__ = ["FormError", "check_form", "loads_strict", "CERTIFICATE_PROPERTIES",
           "STATUS_LIST_PROPERTIES"]

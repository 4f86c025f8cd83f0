"""IMS QTI 3.0 interchange for the bank's items: single-response, four-option choice items.

Item XML (one ``qti-assessment-item`` per item)
-----------------------------------------------
* ``identifier`` = the item id, ``title`` = the question (shortened), ``adaptive="false"``,
  ``time-dependent="false"``, ``xml:lang="en"``.
* ``qti-response-declaration`` RESPONSE (single, identifier) whose ``qti-correct-response`` names the key.
* ``qti-outcome-declaration`` SCORE (single float, default 0) and FEEDBACK (single identifier).
* ``qti-item-body``: the scenario as one ``<p>``, then a ``qti-choice-interaction`` (``max-choices="1"``,
  ``shuffle="false"``) whose ``qti-prompt`` is the question and whose four ``qti-simple-choice`` are
  identified A-D in the bank's order.
* Each option's rationale is a ``qti-feedback-inline`` inside its own choice, keyed to the FEEDBACK
  outcome with the choice's identifier and ``show-hide="show"``: it is shown when FEEDBACK equals that
  choice, i.e. the rationale of the option the candidate picked.
* ``qti-response-processing`` names the standard match_correct template
  (``https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml``) and also spells out its
  rules (SCORE = 1 when RESPONSE matches the correct response, else 0) followed by one extra rule,
  FEEDBACK = RESPONSE, which is what makes the inline rationale appear. The spec lets an engine use the
  template's rules instead of the item's own; such an engine still scores the item the same way and only
  leaves out the rationales.

Package (a zip with ``imsmanifest.xml``, IMS CP 1.2 as profiled by QTI 3.0)
------------------------------------------------------------------------------
* One resource per item, ``type="imsqti_item_xmlv3p0"``, ``href="items/<ID>.xml"``.
* Each resource's ``<metadata>`` holds
  - ``lom:lom`` (IEEE LOM, ``http://ltsc.ieee.org/xsd/LOM``): general identifier (catalog ``certamen``) and
    title; the area as a ``classification`` (purpose ``discipline``, taxon path source ``certamen:area``,
    taxon id = the area slug); a coarse ``educational/difficulty`` on the LOMv1.0 vocabulary. Other tools
    can read these, but the mapping of the difficulty is lossy, so Certamen doesn't read it back.
  - ``qmd:qtiMetadata`` (``http://www.imsglobal.org/xsd/imsqti_metadata_v3p0``): choiceInteraction,
    nonadaptive feedback, solution available, tool name.
  - **the authoritative Certamen values** as an extension element in its own namespace
    (``urn:x-certamen:item-metadata:1``), which other tools ignore:
    ``<cm:item area="defamation" difficulty="-1.0" status="operational"><cm:enemy>DEF-004</cm:enemy></cm:item>``.
    ``difficulty`` is the intended difficulty on the theta scale, written exactly (Python float repr).
* A resource without the extension gets its area and difficulty from the ``area``/``difficulty``
  arguments of :func:`read_package` (``area`` may be a function of the item id), and no enemies.

A single item XML has nowhere standard to put area, difficulty and enemies, so :func:`qti_to_item`
takes them as arguments.

Reading is defensive: XML is parsed with defusedxml and any DOCTYPE is refused (so no entity expansion
and no external entities); sizes, entry counts and nesting depth are capped; zip entry names that are
absolute or climb out with ``..`` are refused; every error names the file (or ``package!entry``) and the
line. :func:`read_package` is all-or-nothing: it returns every item or raises :class:`QTIError` listing
every problem found.
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Callable, Iterable, Union
from urllib.parse import unquote
from xml.etree import ElementTree as ET
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.expatreader import DefusedExpatParser

from errors import CertamenError, Kind
from item_bank.content import KEY_LETTERS, ItemSource, parse_item

QTI_NS = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
QTI_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0_v1p0.xsd"
QTI2_NAMESPACES = ("http://www.imsglobal.org/xsd/imsqti_v2p0", "http://www.imsglobal.org/xsd/imsqti_v2p1",
                   "http://www.imsglobal.org/xsd/imsqti_v2p2")
MATCH_CORRECT = "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"
CP_NS = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
CP_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqtiv3p0_imscpv1p2_v1p0.xsd"
CP_GENERIC_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"  # plain IMS CP; accepted when reading
LOM_NS = "http://ltsc.ieee.org/xsd/LOM"
LOM_XSD = "https://purl.imsglobal.org/spec/md/v1p3/schema/xsd/imsmd_loose_v1p3p2.xsd"
QMD_NS = "http://www.imsglobal.org/xsd/imsqti_metadata_v3p0"
QMD_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_metadatav3p0_v1p0.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
CERTAMEN_NS = "urn:x-certamen:item-metadata:1"
ITEM_RESOURCE_TYPE = "imsqti_item_xmlv3p0"
MANIFEST_NAME = "imsmanifest.xml"

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps applied when reading untrusted input."""

    max_package_bytes: int = 20 * MiB  # the zip file itself
    max_entry_bytes: int = 8 * MiB  # one uncompressed entry (also a standalone item XML)
    max_total_bytes: int = 64 * MiB  # all uncompressed entries together
    max_entries: int = 10_000
    max_depth: int = 64  # XML element nesting


DEFAULT_LIMITS = Limits()


class QTIError(CertamenError, ValueError):
    """A QTI item or package can't be read or written; `problems` are 'file:line: message' strings."""

    kind = Kind.MALFORMED

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


AreaArg = Union[str, Callable[[str], Union[str, None]], None]
Source = Union[str, os.PathLike, IO[bytes]]


# ------------------------------------------------------------------ safe XML parsing


class _TooDeep(Exception):
    pass


class _TreeBuilder(ContentHandler):
    """Builds ElementTree elements from SAX events, remembering the line each element starts on."""

    def __init__(self, max_depth: int):
        super().__init__()
        self.max_depth = max_depth
        self.root: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.lines: dict[ET.Element, int] = {}
        self.locator = None

    def setDocumentLocator(self, locator):
        self.locator = locator

    def line(self) -> int:
        return self.locator.getLineNumber() if self.locator is not None else 1

    def startElementNS(self, name, qname, attrs):
        uri, local = name
        attrib = {(f"{{{auri}}}{alocal}" if auri else alocal): value for (auri, alocal), value in attrs.items()}
        element = ET.Element(f"{{{uri}}}{local}" if uri else local, attrib)
        if self.stack:
            self.stack[-1].append(element)
        else:
            self.root = element
        self.stack.append(element)
        if len(self.stack) > self.max_depth:
            raise _TooDeep()
        self.lines[element] = self.line()

    def endElementNS(self, name, qname):
        self.stack.pop()

    def characters(self, content):
        if not self.stack:
            return
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + content
        else:
            parent.text = (parent.text or "") + content

    ignorableWhitespace = characters


@dataclass
class _Doc:
    root: ET.Element
    lines: dict[ET.Element, int]
    source: str

    def at(self, element: ET.Element | None) -> str:
        """'source:line' of an element."""
        return f"{self.source}:{self.lines.get(element, 1) if element is not None else 1}"


def _parse_xml(data: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> _Doc:
    if len(data) > limits.max_entry_bytes:
        raise QTIError(f"{source}: too large ({len(data)} bytes; the limit is {limits.max_entry_bytes})")
    builder = _TreeBuilder(limits.max_depth)
    parser = DefusedExpatParser(namespaceHandling=1, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(builder)
    builder.locator = parser  # feed() doesn't hand out a locator; the parser itself reports the line
    try:
        parser.feed(data)
        parser.close()
    except LookupError as exc:  # an XML declaration naming an encoding Python does not know
        raise QTIError(f"{source}:1: unreadable XML declaration ({exc})") from None
    except DTDForbidden:
        raise QTIError(f"{source}:{builder.line()}: refused: the document has a DOCTYPE; DTDs and entity "
                       "declarations are not accepted (they allow entity-expansion and external-entity attacks)") from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise QTIError(f"{source}:{builder.line()}: refused: entity declarations and external entities "
                       "are not accepted") from None
    except _TooDeep:
        raise QTIError(f"{source}:{builder.line()}: elements nested deeper than {limits.max_depth} levels") from None
    except SAXParseException as exc:
        raise QTIError(f"{source}:{exc.getLineNumber()}: not well-formed XML ({exc.getMessage()})") from None
    if builder.root is None:  # pragma: no cover - expat reports "no element found" first
        raise QTIError(f"{source}:1: not well-formed XML (no element found)")
    return _Doc(builder.root, builder.lines, source)


def _as_bytes(xml: bytes | str) -> bytes:
    if isinstance(xml, bytes):
        return xml
    # A str is already decoded: drop any encoding="..." from its declaration and hand expat UTF-8.
    return re.sub(r"^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(['\"])[^'\"]*\2", r"\1", xml, count=1).encode("utf-8")


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _local(tag: str) -> str:
    return _split(tag)[1]


def _q(local: str) -> str:
    return f"{{{QTI_NS}}}{local}"


# ------------------------------------------------------------------ reading an item

_BLOCK = {"p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
          "blockquote", "pre", "table", "tr", "td", "th", "thead", "tbody", "caption", "figure", "figcaption",
          "section", "article", "aside", "header", "footer", "nav", "qti-prompt", "qti-content-body"}
_MEDIA = {"img", "object", "picture", "video", "audio", "svg", "math", "iframe", "embed", "canvas",
          "qti-printed-variable", "qti-template-inline", "qti-template-block", "include"}
_SKIPPED = {"qti-feedback-inline", "qti-feedback-block", "qti-rubric-block"}


def _collapse(parts: Iterable[str]) -> str:
    return " ".join("".join(parts).split())


def _text(element: ET.Element, skip: set[str] = _SKIPPED) -> str:
    """The visible text of mixed content, whitespace collapsed; block elements are word-separated."""
    parts: list[str] = []

    def walk(node: ET.Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            name = _local(child.tag)
            if name not in skip:
                if name in _BLOCK:
                    parts.append(" ")
                walk(child)
                if name in _BLOCK:
                    parts.append(" ")
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return _collapse(parts)


def _body_text(body: ET.Element, interaction: ET.Element) -> tuple[str, str]:
    """Text of the item body before and after the interaction (which is left out)."""
    before: list[str] = []
    after: list[str] = []
    seen = False

    def walk(node: ET.Element) -> None:
        nonlocal seen
        if node.text:
            (after if seen else before).append(node.text)
        for child in node:
            name = _local(child.tag)
            if child is interaction:
                seen = True
            elif name not in _SKIPPED:
                block = name in _BLOCK
                if block:
                    (after if seen else before).append(" ")
                walk(child)
                if block:
                    (after if seen else before).append(" ")
            if child.tail:
                (after if seen else before).append(child.tail)

    walk(body)
    return _collapse(before), _collapse(after)


def _unsupported(doc: _Doc, element: ET.Element | None, why: str) -> QTIError:
    return QTIError(f"{doc.at(element)}: unsupported: only single-response choice items ({why})")


def _is_match_correct(template: str) -> bool:
    return template.rstrip("/").rsplit("/", 1)[-1] in ("match_correct", "match_correct.xml")


def _item_from_doc(doc: _Doc, area: AreaArg, difficulty: float | None, enemies: list[str],
                   status: str) -> ItemSource:
    root = doc.root
    ns, local = _split(root.tag)
    if local == "assessmentItem" or ns in QTI2_NAMESPACES:
        raise QTIError(f"{doc.at(root)}: this is a QTI 2.x item (<{local}>); only QTI 3.0 "
                       "(<qti-assessment-item>) is supported")
    if local != "qti-assessment-item":
        raise QTIError(f"{doc.at(root)}: the root element is <{local}>; expected a QTI 3.0 <qti-assessment-item>")
    if ns != QTI_NS:
        raise QTIError(f"{doc.at(root)}: <qti-assessment-item> is in namespace {ns or '(none)'!s}; "
                       f"expected {QTI_NS} (QTI 3.0)")
    item_id = root.get("identifier", "")
    if root.get("adaptive", "false").strip() == "true":
        raise QTIError(f"{doc.at(root)}: unsupported: adaptive items (adaptive=\"true\")")

    body = root.find(_q("qti-item-body"))
    if body is None:
        raise QTIError(f"{doc.at(root)}: no <qti-item-body>")
    interactions = [el for el in body.iter() if _local(el.tag).endswith("-interaction")]
    others = [el for el in interactions if el.tag != _q("qti-choice-interaction")]
    if others:
        raise _unsupported(doc, others[0], f"found <{_local(others[0].tag)}>")
    if not interactions:
        raise _unsupported(doc, body, "the item body has no <qti-choice-interaction>")
    if len(interactions) > 1:
        raise _unsupported(doc, interactions[1], f"found {len(interactions)} choice interactions; the bank needs one")
    interaction = interactions[0]
    media = next((el for el in body.iter() if _local(el.tag) in _MEDIA), None)
    if media is not None:
        raise QTIError(f"{doc.at(media)}: unsupported: <{_local(media.tag)}> in the item body (the bank holds text only)")

    max_choices = (interaction.get("max-choices") or "1").strip()
    if max_choices != "1":
        raise _unsupported(doc, interaction, f"max-choices=\"{max_choices}\"")
    response_id = interaction.get("response-identifier", "")
    declaration = next((d for d in root.findall(_q("qti-response-declaration"))
                        if d.get("identifier") == response_id), None)
    if declaration is None:
        raise QTIError(f"{doc.at(interaction)}: no <qti-response-declaration> for response-identifier {response_id!r}")
    cardinality = declaration.get("cardinality", "")
    if cardinality != "single":
        raise _unsupported(doc, declaration, f"cardinality=\"{cardinality}\"")
    if declaration.get("base-type", "identifier") != "identifier":
        raise _unsupported(doc, declaration, f"base-type=\"{declaration.get('base-type')}\"")
    processing = root.find(_q("qti-response-processing"))
    template = processing.get("template", "") if processing is not None else ""
    if template and not _is_match_correct(template):
        raise QTIError(f"{doc.at(processing)}: unsupported scoring: response processing template {template!r} "
                       "(the bank scores right/wrong, as match_correct does)")

    choices = [el for el in interaction if el.tag == _q("qti-simple-choice")]
    if len(choices) != 4:
        raise QTIError(f"{doc.at(interaction)}: the choice interaction has {len(choices)} choices; "
                       "the bank requires exactly 4")
    identifiers = [c.get("identifier", "") for c in choices]
    for choice, identifier in zip(choices, identifiers):
        if not identifier:
            raise QTIError(f"{doc.at(choice)}: a <qti-simple-choice> has no identifier")
        if identifiers.count(identifier) > 1:
            raise QTIError(f"{doc.at(choice)}: two choices share the identifier {identifier!r}")

    correct = declaration.find(_q("qti-correct-response"))
    values = correct.findall(_q("qti-value")) if correct is not None else []
    if not values or not (values[0].text or "").strip():
        raise QTIError(f"{doc.at(declaration)}: missing correct response (the response declaration needs "
                       "<qti-correct-response> with one <qti-value>)")
    if len(values) > 1:
        raise QTIError(f"{doc.at(correct)}: the correct response has {len(values)} values; a single-response "
                       "item has one")
    key = values[0].text.strip()
    if key not in identifiers:
        raise QTIError(f"{doc.at(values[0])}: the correct response {key!r} names no choice "
                       f"(the choices are {', '.join(identifiers)})")

    prompt = interaction.find(_q("qti-prompt"))
    if prompt is None or not _text(prompt):
        raise QTIError(f"{doc.at(interaction)}: no <qti-prompt>: the bank needs the question as the prompt "
                       "of the choice interaction")
    scenario, trailing = _body_text(body, interaction)
    if trailing:
        raise QTIError(f"{doc.at(interaction)}: unsupported: text after the choice interaction ({trailing[:40]!r}...)")

    modal = {m.get("identifier"): m for m in root.findall(_q("qti-modal-feedback"))}
    options = []
    for choice, identifier in zip(choices, identifiers):
        inline = [fb for fb in choice.iter(_q("qti-feedback-inline"))]
        feedback = next((fb for fb in inline if fb.get("identifier") == identifier), inline[0] if inline else None)
        if feedback is None:
            feedback = modal.get(identifier)
        options.append({"text": _text(choice), "rationale": _text(feedback, set()) if feedback is not None else "",
                        "__line__": doc.lines.get(choice, "?")})

    if callable(area):
        area = area(item_id)
    if not area:
        raise QTIError(f"{doc.at(root)}: {item_id}: no area: the item carries no Certamen metadata and none was supplied")
    if difficulty is None:
        raise QTIError(f"{doc.at(root)}: {item_id}: no intended difficulty: the item carries no Certamen "
                       "metadata and none was supplied")
    entry = {"id": item_id, "difficulty": difficulty, "scenario": scenario, "question": _text(prompt),
             "options": options, "key": KEY_LETTERS[identifiers.index(key)], "enemies": list(enemies),
             "status": status}
    problems: list[str] = []
    item = parse_item(entry, area, doc.at(root), problems)
    if item is None:
        raise QTIError(problems)
    return item


def qti_to_item(xml: bytes | str, *, area: AreaArg, difficulty: float | None, source: str = "<qti item>",
                enemies: Iterable[str] = (), status: str = "operational",
                limits: Limits = DEFAULT_LIMITS) -> ItemSource:
    """Read one QTI 3.0 item. A bare item XML carries no area, difficulty or enemies, so they are given here;
    `area` may be a function of the item id. Raises QTIError('source:line: ...')."""
    return _item_from_doc(_parse_xml(_as_bytes(xml), source, limits), area, difficulty, list(enemies), status)


# ------------------------------------------------------------------ writing

_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(value: str, where: str) -> str:
    if _NOT_XML_CHAR.search(value):
        raise QTIError(f"{where}: contains a control character that XML 1.0 cannot represent")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str, where: str) -> str:
    return (_esc(value, where).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
            .replace("\t", "&#9;"))


def _check_exportable(item: ItemSource) -> None:
    where = item.source or item.external_id
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", item.external_id or ""):
        raise QTIError(f"{where}: id {item.external_id!r} is not a valid QTI identifier")
    if len(item.options) != 4 or not 0 <= item.key_index < 4:
        raise QTIError(f"{where}: {item.external_id}: needs exactly 4 options and a key A-D")


def _title(item: ItemSource) -> str:
    question = item.question
    return question if len(question) <= 100 else question[:99].rstrip() + "\u2026"


def item_to_qti(item: ItemSource) -> str:
    """The item as a QTI 3.0 `qti-assessment-item` document (see the module docstring for the mapping)."""
    _check_exportable(item)
    w = f"{item.source or item.external_id}"
    choices = []
    for letter, option in zip(KEY_LETTERS, item.options):
        choices.append(
            f'      <qti-simple-choice identifier="{letter}">{_esc(option["text"], w)} '
            f'<qti-feedback-inline outcome-identifier="FEEDBACK" identifier="{letter}" show-hide="show">'
            f'{_esc(option["rationale"], w)}</qti-feedback-inline></qti-simple-choice>'
        )
    choice_lines = "\n".join(choices)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<qti-assessment-item xmlns="{QTI_NS}" xmlns:xsi="{XSI_NS}"
    xsi:schemaLocation="{QTI_NS} {QTI_XSD}"
    identifier="{_attr(item.external_id, w)}" title="{_attr(_title(item), w)}" adaptive="false" time-dependent="false"
    xml:lang="en" tool-name="Certamen">
  <qti-response-declaration identifier="RESPONSE" cardinality="single" base-type="identifier">
    <qti-correct-response>
      <qti-value>{KEY_LETTERS[item.key_index]}</qti-value>
    </qti-correct-response>
  </qti-response-declaration>
  <qti-outcome-declaration identifier="SCORE" cardinality="single" base-type="float">
    <qti-default-value>
      <qti-value>0</qti-value>
    </qti-default-value>
  </qti-outcome-declaration>
  <qti-outcome-declaration identifier="FEEDBACK" cardinality="single" base-type="identifier"/>
  <qti-item-body>
    <p>{_esc(item.scenario, w)}</p>
    <qti-choice-interaction response-identifier="RESPONSE" shuffle="false" max-choices="1">
      <qti-prompt>{_esc(item.question, w)}</qti-prompt>
{choice_lines}
    </qti-choice-interaction>
  </qti-item-body>
  <qti-response-processing template="{MATCH_CORRECT}">
    <qti-response-condition>
      <qti-response-if>
        <qti-match>
          <qti-variable identifier="RESPONSE"/>
          <qti-correct identifier="RESPONSE"/>
        </qti-match>
        <qti-set-outcome-value identifier="SCORE">
          <qti-base-value base-type="float">1</qti-base-value>
        </qti-set-outcome-value>
      </qti-response-if>
      <qti-response-else>
        <qti-set-outcome-value identifier="SCORE">
          <qti-base-value base-type="float">0</qti-base-value>
        </qti-set-outcome-value>
      </qti-response-else>
    </qti-response-condition>
    <qti-set-outcome-value identifier="FEEDBACK">
      <qti-variable identifier="RESPONSE"/>
    </qti-set-outcome-value>
  </qti-response-processing>
</qti-assessment-item>
"""


def _number(value: float) -> str:
    """Exact shortest decimal, never in exponent form."""
    text = format(Decimal(repr(float(value))), "f")
    return text if "." in text else text + ".0"


def _lom_difficulty(theta: float) -> str:
    if theta < -1.5:
        return "very easy"
    if theta < -0.5:
        return "easy"
    if theta <= 0.5:
        return "medium"
    if theta <= 1.5:
        return "difficult"
    return "very difficult"


def item_href(item: ItemSource) -> str:
    return f"items/{item.external_id}.xml"


def _resource(item: ItemSource) -> str:
    w = item.source or item.external_id
    ident = _attr(item.external_id, w)
    enemies = "".join(f"\n          <cm:enemy>{_esc(e, w)}</cm:enemy>" for e in item.enemies)
    close = "\n        </cm:item>" if enemies else "</cm:item>"
    return f"""    <resource identifier="{ident}" type="{ITEM_RESOURCE_TYPE}" href="{item_href(item)}">
      <metadata>
        <lom:lom>
          <lom:general>
            <lom:identifier><lom:catalog>certamen</lom:catalog><lom:entry>{ident}</lom:entry></lom:identifier>
            <lom:title><lom:string language="en">{_esc(_title(item), w)}</lom:string></lom:title>
          </lom:general>
          <lom:educational>
            <lom:difficulty><lom:source>LOMv1.0</lom:source><lom:value>{_lom_difficulty(item.difficulty)}</lom:value></lom:difficulty>
          </lom:educational>
          <lom:classification>
            <lom:purpose><lom:source>LOMv1.0</lom:source><lom:value>discipline</lom:value></lom:purpose>
            <lom:taxonPath>
              <lom:source><lom:string language="x-none">certamen:area</lom:string></lom:source>
              <lom:taxon><lom:id>{_esc(item.area, w)}</lom:id></lom:taxon>
            </lom:taxonPath>
          </lom:classification>
        </lom:lom>
        <qmd:qtiMetadata>
          <qmd:timeDependent>false</qmd:timeDependent>
          <qmd:composite>false</qmd:composite>
          <qmd:interactionType>choiceInteraction</qmd:interactionType>
          <qmd:feedbackType>nonadaptive</qmd:feedbackType>
          <qmd:solutionAvailable>true</qmd:solutionAvailable>
          <qmd:toolName>Certamen</qmd:toolName>
        </qmd:qtiMetadata>
        <cm:item area="{_attr(item.area, w)}" difficulty="{_number(item.difficulty)}" status="{_attr(item.status, w)}">{enemies}{close}
      </metadata>
      <file href="{item_href(item)}"/>
    </resource>
"""


def manifest_xml(items: list[ItemSource]) -> str:
    """The package's imsmanifest.xml for these items."""
    digest = hashlib.sha256("\n".join(i.external_id for i in items).encode()).hexdigest()[:16]
    resources = "".join(_resource(item) for item in items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="{CP_NS}" xmlns:lom="{LOM_NS}" xmlns:qmd="{QMD_NS}"
    xmlns:cm="{CERTAMEN_NS}" xmlns:xsi="{XSI_NS}"
    xsi:schemaLocation="{CP_NS} {CP_XSD} {LOM_NS} {LOM_XSD} {QMD_NS} {QMD_XSD}"
    identifier="certamen-items-{digest}">
  <metadata>
    <schema>QTI Package</schema>
    <schemaversion>3.0.0</schemaversion>
  </metadata>
  <organizations/>
  <resources>
{resources}  </resources>
</manifest>
"""


def write_package(items: Iterable[ItemSource], fileobj_or_path: Source) -> None:
    """Write a QTI 3.0 content package (zip). Everything is rendered before the target is touched, and the
    zip is deterministic (fixed timestamps, bank order)."""
    items = list(items)
    if not items:
        raise QTIError("no items to export")
    seen: dict[str, ItemSource] = {}
    for item in items:
        if item.external_id in seen:
            raise QTIError(f"{item.source or item.external_id}: duplicate id {item.external_id}")
        seen[item.external_id] = item
    files = [(MANIFEST_NAME, manifest_xml(items))]
    files += [(item_href(item), item_to_qti(item)) for item in items]
    target = os.fspath(fileobj_or_path) if isinstance(fileobj_or_path, (str, os.PathLike)) else fileobj_or_path
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))


# ------------------------------------------------------------------ reading a package


def _read_bounded(src: Source, cap: int, what: str) -> tuple[str, bytes]:
    """(name for messages, bytes) of a path or binary file object, refusing more than `cap` bytes."""
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        name = str(path)
        try:
            size = path.stat().st_size
            if size > cap:
                raise QTIError(f"{name}: too large ({size} bytes; the limit for {what} is {cap})")
            with path.open("rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            raise QTIError(f"{name}: cannot read ({exc.strerror or exc})") from None
    else:
        name = str(getattr(src, "name", "") or "<package>")
        data = src.read(cap + 1)
        if not isinstance(data, bytes):
            raise QTIError(f"{name}: open the file in binary mode")
    if len(data) > cap:
        raise QTIError(f"{name}: too large (more than {cap} bytes; the limit for {what})")
    return name, data


def _unsafe_name(name: str) -> str | None:
    if not name:
        return "empty name"
    if "\x00" in name or "\\" in name:
        return "backslash or NUL in the name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in name.split("/"):
        return "path traversal ('..')"
    return None


def _open_zip(data: bytes, name: str, limits: Limits) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
            raise QTIError(f"{name}: truncated or damaged zip archive ({exc})") from None
        raise QTIError(f"{name}: not a zip archive (a QTI package is a .zip with imsmanifest.xml)") from None
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise QTIError(f"{name}: {len(infos)} entries; the limit is {limits.max_entries}")
    problems = []
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        where = f"{name}!{info.filename}"
        why = _unsafe_name(info.filename)
        if why:
            problems.append(f"{where}: refused entry name: {why}")
            continue
        if info.filename in entries:
            problems.append(f"{where}: the archive holds this name twice")
            continue
        if info.flag_bits & 0x1:
            problems.append(f"{where}: encrypted entries are not supported")
        if info.file_size > limits.max_entry_bytes:
            problems.append(f"{where}: entry too large ({info.file_size} bytes uncompressed; "
                            f"the limit is {limits.max_entry_bytes})")
        total += info.file_size
        entries[info.filename] = info
    if total > limits.max_total_bytes:
        problems.append(f"{name}: {total} bytes uncompressed in all; the limit is {limits.max_total_bytes}")
    if problems:
        raise QTIError(problems)
    return zf, entries


class _Budget:
    def __init__(self, limits: Limits, name: str):
        self.left = limits.max_total_bytes
        self.name = name

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise QTIError(f"{self.name}: more uncompressed data than the limit allows")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, limits: Limits, budget: _Budget) -> bytes:
    try:
        with zf.open(info) as fh:
            data = fh.read(limits.max_entry_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise QTIError(f"{where}: damaged entry ({exc})") from None
    if len(data) > limits.max_entry_bytes:  # the header understated the size
        raise QTIError(f"{where}: entry too large (more than {limits.max_entry_bytes} bytes uncompressed)")
    budget.take(len(data))
    return data


def _resolve(base: str, href: str) -> str | None:
    """The archive path an href names, or None when it points outside the package."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) or href.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return None
    return joined


def _xml_base(*elements: ET.Element) -> str:
    base = ""
    for element in elements:
        value = element.get(f"{{{XML_NS}}}base")
        if value:
            base = posixpath.join(base, value)
    return base


def _metadata(doc: _Doc, resource: ET.Element, cp: str, where: str) -> dict | None:
    meta = resource.find(f"{{{cp}}}metadata")
    ext = meta.find(f"{{{CERTAMEN_NS}}}item") if meta is not None else None
    if ext is None:
        return None
    area = (ext.get("area") or "").strip()
    if not area:
        raise QTIError(f"{doc.at(ext)}: {where}: Certamen metadata without an area")
    raw = (ext.get("difficulty") or "").strip()
    try:
        difficulty = float(raw)
    except ValueError:
        raise QTIError(f"{doc.at(ext)}: {where}: Certamen metadata difficulty {raw!r} is not a number") from None
    enemies = [(e.text or "").strip() for e in ext.findall(f"{{{CERTAMEN_NS}}}enemy")]
    return {"area": area, "difficulty": difficulty, "enemies": [e for e in enemies if e],
            "status": (ext.get("status") or "operational").strip()}


def read_package(fileobj_or_path: Source, *, area: AreaArg = None, difficulty: float | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[ItemSource]:
    """All items of a QTI 3.0 content package, or QTIError listing every problem ('package!entry:line: ...').

    Area, difficulty and enemies come from each resource's Certamen metadata; a resource without it uses
    `area` (a slug, or a function of the item id) and `difficulty`. Resources that are not QTI 3.0 items
    (tests, stimuli, web content) are skipped."""
    name, data = _read_bounded(fileobj_or_path, limits.max_package_bytes, "a package")
    zf, entries = _open_zip(data, name, limits)
    budget = _Budget(limits, name)
    with zf:
        manifest_info = entries.get(MANIFEST_NAME)
        if manifest_info is None:
            nested = next((n for n in entries if n.endswith("/" + MANIFEST_NAME)), None)
            hint = f" (found {nested!r}: zip the folder's contents, not the folder)" if nested else ""
            raise QTIError(f"{name}: {MANIFEST_NAME} is missing from the package root{hint}")
        mname = f"{name}!{MANIFEST_NAME}"
        doc = _parse_xml(_read_entry(zf, manifest_info, mname, limits, budget), mname, limits)
        cp, local = _split(doc.root.tag)
        if local != "manifest" or cp not in (CP_NS, CP_GENERIC_NS):
            raise QTIError(f"{doc.at(doc.root)}: the root element is <{local}> in namespace {cp or '(none)'}; "
                           f"expected an IMS content packaging <manifest> ({CP_NS})")
        resources_el = doc.root.find(f"{{{cp}}}resources")
        if resources_el is None:
            raise QTIError(f"{doc.at(doc.root)}: the manifest has no <resources>")
        problems: list[str] = []
        items: list[ItemSource] = []
        found = 0
        for resource in resources_el.findall(f"{{{cp}}}resource"):
            rtype = resource.get("type", "")
            rid = resource.get("identifier", "?")
            where = f"resource {rid}"
            if re.fullmatch(r"imsqti_item_xmlv2p\d", rtype):
                problems.append(f"{doc.at(resource)}: {where}: a QTI 2.x item ({rtype}); only QTI 3.0 items are supported")
                continue
            if rtype != ITEM_RESOURCE_TYPE:
                continue
            found += 1
            try:
                items.append(_read_resource(zf, entries, doc, resource, cp, where, area, difficulty, limits,
                                            budget, name, resources_el))
            except QTIError as exc:
                problems.extend(exc.problems)
        if not found and not problems:
            problems.append(f"{mname}: the manifest lists no QTI 3.0 item resources (type {ITEM_RESOURCE_TYPE})")
    if problems:
        raise QTIError(problems)
    return items


def _read_resource(zf, entries, doc: _Doc, resource: ET.Element, cp: str, where: str, area: AreaArg,
                   difficulty: float | None, limits: Limits, budget: _Budget, name: str,
                   resources_el: ET.Element) -> ItemSource:
    href = resource.get("href")
    if not href:
        raise QTIError(f"{doc.at(resource)}: {where}: no href")
    base = _xml_base(doc.root, resources_el, resource)
    path = _resolve(base, href)
    if path is None:
        raise QTIError(f"{doc.at(resource)}: {where}: href {href!r} points outside the package")
    missing = []
    for file_el in resource.findall(f"{{{cp}}}file"):
        file_href = file_el.get("href", "")
        file_path = _resolve(base, file_href)
        if file_path is None:
            raise QTIError(f"{doc.at(file_el)}: {where}: file href {file_href!r} points outside the package")
        if file_path not in entries and file_path != path:
            missing.append(f"{doc.at(file_el)}: {where}: the file {file_href!r} is not in the package")
    if path not in entries:
        missing.insert(0, f"{doc.at(resource)}: {where}: the item file {href!r} is not in the package")
    if missing:
        raise QTIError(missing)
    meta = _metadata(doc, resource, cp, where)
    source = f"{name}!{path}"
    item_doc = _parse_xml(_read_entry(zf, entries[path], source, limits, budget), source, limits)
    if meta is None:
        return _item_from_doc(item_doc, area, difficulty, [], "operational")
    return _item_from_doc(item_doc, meta["area"], meta["difficulty"], meta["enemies"], meta["status"])


def read_item_file(fileobj_or_path: Source, *, area: AreaArg, difficulty: float | None,
                   enemies: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> ItemSource:
    """qti_to_item for a file, with the size cap applied before reading."""
    name, data = _read_bounded(fileobj_or_path, limits.max_entry_bytes, "an item file")
    return qti_to_item(data, area=area, difficulty=difficulty, source=name, enemies=enemies, limits=limits)

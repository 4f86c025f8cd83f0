"""Reading one QTI 3.0 item into the bank's item form; anything the bank can't represent faithfully
(other interactions, media, multiple responses, non-right/wrong scoring) is refused, not approximated."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from xml.etree import ElementTree as ET

from item_bank.content import KEY_LETTERS, ItemSource, parse_item
from item_bank.qti.errors import QTIError
from item_bank.qti.limits import DEFAULT_LIMITS, Limits, Source, read_bounded
from item_bank.qti.safe_xml import Doc, local_name, parse_xml, split_tag
from item_bank.qti.spec import QTI2_NAMESPACES, QTI_NS

AreaArg = str | Callable[[str], str | None] | None


def _as_bytes(xml: bytes | str) -> bytes:
    if isinstance(xml, bytes):
        return xml
    # A str is already decoded: drop any encoding="..." from its declaration and hand expat UTF-8.
    return re.sub(r"^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(['\"])[^'\"]*\2", r"\1", xml, count=1).encode("utf-8")


def _q(local: str) -> str:
    return f"{{{QTI_NS}}}{local}"


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
            name = local_name(child.tag)
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
            name = local_name(child.tag)
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


def _unsupported(doc: Doc, element: ET.Element | None, why: str) -> QTIError:
    return QTIError(f"{doc.at(element)}: unsupported: only single-response choice items ({why})")


def _is_match_correct(template: str) -> bool:
    return template.rstrip("/").rsplit("/", 1)[-1] in ("match_correct", "match_correct.xml")


def item_from_doc(doc: Doc, area: AreaArg, difficulty: float | None, enemies: list[str],
                  status: str, teaches: str | None = None) -> ItemSource:
    """The bank item in a parsed item document; area, difficulty and enemies come from outside the item XML."""
    root = doc.root
    ns, local = split_tag(root.tag)
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
    interactions = [el for el in body.iter() if local_name(el.tag).endswith("-interaction")]
    others = [el for el in interactions if el.tag != _q("qti-choice-interaction")]
    if others:
        raise _unsupported(doc, others[0], f"found <{local_name(others[0].tag)}>")
    if not interactions:
        raise _unsupported(doc, body, "the item body has no <qti-choice-interaction>")
    if len(interactions) > 1:
        raise _unsupported(doc, interactions[1], f"found {len(interactions)} choice interactions; the bank needs one")
    interaction = interactions[0]
    media = next((el for el in body.iter() if local_name(el.tag) in _MEDIA), None)
    if media is not None:
        raise QTIError(f"{doc.at(media)}: unsupported: <{local_name(media.tag)}> in the item body "
                       "(the bank holds text only)")

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
    for choice, identifier in zip(choices, identifiers, strict=True):
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
    for choice, identifier in zip(choices, identifiers, strict=True):
        inline = [fb for fb in choice.iter(_q("qti-feedback-inline"))]
        feedback = next((fb for fb in inline if fb.get("identifier") == identifier), inline[0] if inline else None)
        if feedback is None:
            feedback = modal.get(identifier)
        options.append({"text": _text(choice), "rationale": _text(feedback, set()) if feedback is not None else "",
                        "__line__": doc.lines.get(choice, "?")})

    if callable(area):
        area = area(item_id)
    if not area:
        raise QTIError(f"{doc.at(root)}: {item_id}: no area: the item carries no Certamen metadata and none was "
                       "supplied")
    if difficulty is None:
        raise QTIError(f"{doc.at(root)}: {item_id}: no intended difficulty: the item carries no Certamen "
                       "metadata and none was supplied")
    entry = {"id": item_id, "difficulty": difficulty, "scenario": scenario, "question": _text(prompt),
             "options": options, "key": KEY_LETTERS[identifiers.index(key)], "enemies": list(enemies),
             "status": status, "shuffle": (interaction.get("shuffle") or "false").strip() == "true",
             **({"teaches": teaches} if teaches else {})}
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
    return item_from_doc(parse_xml(_as_bytes(xml), source, limits), area, difficulty, list(enemies), status)


def read_item_file(fileobj_or_path: Source, *, area: AreaArg, difficulty: float | None,
                   enemies: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> ItemSource:
    """qti_to_item for a file, with the size cap applied before reading."""
    name, data = read_bounded(fileobj_or_path, limits.max_entry_bytes, "an item file")
    return qti_to_item(data, area=area, difficulty=difficulty, source=name, enemies=enemies, limits=limits)

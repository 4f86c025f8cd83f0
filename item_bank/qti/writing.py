"""Writing items and the package manifest from text templates, so the layout is fixed and repeatable; every
value is escaped, or refused when XML 1.0 can't hold it."""
from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from item_bank.content import KEY_LETTERS, ItemSource
from item_bank.qti.errors import QTIError
from item_bank.qti.spec import (
    CERTAMEN_NS,
    CP_NS,
    CP_XSD,
    ITEM_RESOURCE_TYPE,
    LOM_NS,
    LOM_XSD,
    MATCH_CORRECT,
    QMD_NS,
    QMD_XSD,
    QTI_NS,
    QTI_XSD,
    XSI_NS,
)

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
    """The item as a QTI 3.0 `qti-assessment-item` document (see :mod:`item_bank.qti` for the mapping)."""
    _check_exportable(item)
    w = f"{item.source or item.external_id}"
    choices = []
    for letter, option in zip(KEY_LETTERS, item.options, strict=True):
        choices.append(
            f'      <qti-simple-choice identifier="{letter}">{_esc(option["text"], w)} '
            f'<qti-feedback-inline outcome-identifier="FEEDBACK" identifier="{letter}" show-hide="show">'
            f'{_esc(option["rationale"], w)}</qti-feedback-inline></qti-simple-choice>'
        )
    shuffle = "true" if item.shuffle else "false"  # the delivery engine shuffles unless the item opts out
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
    <qti-choice-interaction response-identifier="RESPONSE" shuffle="{shuffle}" max-choices="1">
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


def exact_decimal(value: float) -> str:
    """Exact shortest decimal, never in exponent form, so a written difficulty reads back as the same float."""
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
    teaches = f' teaches="{_attr(item.teaches, w)}"' if item.teaches else ""
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
        <cm:item area="{_attr(item.area, w)}" difficulty="{exact_decimal(item.difficulty)}" \
status="{_attr(item.status, w)}"{teaches}>{enemies}{close}
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


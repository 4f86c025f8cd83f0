"""IMS QTI 3.0 interchange for the bank's items: single-response, four-option choice items.

Item XML (one ``qti-assessment-item`` per item)
-----------------------------------------------
* ``identifier`` = the item id, ``title`` = the question (shortened), ``adaptive="false"``,
  ``time-dependent="false"``, ``xml:lang="en"``.
* ``qti-response-declaration`` RESPONSE (single, identifier) whose ``qti-correct-response`` names the key.
* ``qti-outcome-declaration`` SCORE (single float, default 0) and FEEDBACK (single identifier).
* ``qti-item-body``: the scenario as one ``<p>``, then a ``qti-choice-interaction`` (``max-choices="1"``,
  ``shuffle="true"``, or ``"false"`` for an item whose options keep their written order) whose ``qti-prompt``
  is the question and whose four ``qti-simple-choice`` are identified A-D in the bank's order. Reading, an
  interaction without ``shuffle="true"`` keeps its written order (QTI's default).
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
    ``<cm:item area="defamation" difficulty="-1.0" status="operational" teaches="restraint">``
    ``<cm:enemy>DEF-004</cm:enemy></cm:item>``.
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

Modules, by concept: `spec` (namespaces and fixed names), `errors`, `limits` (caps on untrusted input),
`safe_xml` and `safe_zip` (parsing hostile input), `reading` (one item), `writing` (the item and manifest
templates), `package` (the zip, both ways).
"""
from item_bank.qti.errors import QTIError
from item_bank.qti.limits import DEFAULT_LIMITS, Limits, MiB, Source
from item_bank.qti.package import read_package, write_package
from item_bank.qti.reading import AreaArg, qti_to_item, read_item_file
from item_bank.qti.spec import (
    CERTAMEN_NS,
    CP_GENERIC_NS,
    CP_NS,
    CP_XSD,
    ITEM_RESOURCE_TYPE,
    LOM_NS,
    LOM_XSD,
    MANIFEST_NAME,
    MATCH_CORRECT,
    QMD_NS,
    QMD_XSD,
    QTI2_NAMESPACES,
    QTI_NS,
    QTI_XSD,
    XML_NS,
    XSI_NS,
)
from item_bank.qti.writing import item_href, item_to_qti, manifest_xml

__all__ = [
    "CERTAMEN_NS", "CP_GENERIC_NS", "CP_NS", "CP_XSD", "DEFAULT_LIMITS", "ITEM_RESOURCE_TYPE", "LOM_NS", "LOM_XSD",
    "MANIFEST_NAME", "MATCH_CORRECT", "QMD_NS", "QMD_XSD", "QTI2_NAMESPACES", "QTI_NS", "QTI_XSD", "XML_NS",
    "XSI_NS", "AreaArg", "Limits", "MiB", "QTIError", "Source", "item_href", "item_to_qti", "manifest_xml",
    "qti_to_item", "read_item_file", "read_package", "write_package",
]

"""IMS QTI 3.0 items and packages: round trips of the real bank, hand-written items, refusals."""
from __future__ import annotations

import dataclasses
import io
import zipfile
from xml.etree import ElementTree as ET

import pytest
from qti_samples import TEXT_ENTRY

from item_bank import qti
from item_bank.content import ItemSource, load_items
from item_bank.qti import QTIError

NS = {"q": qti.QTI_NS, "cp": qti.CP_NS, "lom": qti.LOM_NS, "cm": qti.CERTAMEN_NS}


@pytest.fixture(scope="module")
def bank() -> list[ItemSource]:
    return load_items()


def fields(item: ItemSource) -> dict:
    data = dataclasses.asdict(item)
    data.pop("source")
    return data


def package_bytes(items) -> bytes:
    buf = io.BytesIO()
    qti.write_package(items, buf)
    return buf.getvalue()


def zip_of(entries: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


# ------------------------------------------------------------------ round trips of the real bank


def test_every_bank_item_round_trips_through_item_xml(bank):
    """A bare item XML carries what a candidate sees and how it is scored (the option order rule too); the
    labels around it (area, difficulty, enemies, what the key teaches) travel in a package's metadata."""
    assert len(bank) >= 40
    for item in (dataclasses.replace(i, teaches=None) for i in bank):
        xml = qti.item_to_qti(item)
        back = qti.qti_to_item(xml, area=item.area, difficulty=item.difficulty, enemies=item.enemies,
                               source=f"{item.external_id}.xml")
        assert fields(back) == fields(item), item.external_id
        # bytes in, too
        assert fields(qti.qti_to_item(xml.encode(), area=item.area, difficulty=item.difficulty,
                                      enemies=item.enemies)) == fields(item)


def test_the_whole_bank_round_trips_through_a_package(bank, tmp_path):
    data = package_bytes(bank)
    back = qti.read_package(io.BytesIO(data))
    assert [fields(i) for i in back] == [fields(i) for i in bank]
    assert any(i.enemies for i in back)
    # from a path as well, and the writer is deterministic
    path = tmp_path / "bank.zip"
    qti.write_package(bank, path)
    assert path.read_bytes() == data
    from_path = qti.read_package(path)
    assert [fields(i) for i in from_path] == [fields(i) for i in bank]
    assert from_path[0].source.startswith(f"{path}!items/{bank[0].external_id}.xml:")


def test_item_xml_follows_qti3(bank):
    item = next(i for i in bank if i.key_index == 1)
    root = ET.fromstring(qti.item_to_qti(item).encode())
    assert root.tag == f"{{{qti.QTI_NS}}}qti-assessment-item"
    assert root.get("identifier") == item.external_id and root.get("title")
    assert root.get("adaptive") == "false" and root.get("time-dependent") == "false"
    decl = root.find("q:qti-response-declaration", NS)
    assert (decl.get("identifier"), decl.get("cardinality"), decl.get("base-type")) == (
        "RESPONSE", "single", "identifier")
    assert decl.find("q:qti-correct-response/q:qti-value", NS).text == "B"
    outcomes = {o.get("identifier"): o for o in root.findall("q:qti-outcome-declaration", NS)}
    assert outcomes["SCORE"].get("base-type") == "float" and outcomes["FEEDBACK"].get("base-type") == "identifier"
    body = root.find("q:qti-item-body", NS)
    assert body.find("q:p", NS).text == item.scenario
    interaction = body.find("q:qti-choice-interaction", NS)
    assert interaction.get("max-choices") == "1" and interaction.get("shuffle") == "true"
    fixed = ET.fromstring(qti.item_to_qti(dataclasses.replace(item, shuffle=False)).encode())
    assert fixed.find("q:qti-item-body/q:qti-choice-interaction", NS).get("shuffle") == "false"
    assert qti.qti_to_item(qti.item_to_qti(dataclasses.replace(item, shuffle=False)), area=item.area,
                           difficulty=0.0).shuffle is False
    assert interaction.get("response-identifier") == "RESPONSE"
    assert interaction.find("q:qti-prompt", NS).text == item.question
    choices = interaction.findall("q:qti-simple-choice", NS)
    assert [c.get("identifier") for c in choices] == list("ABCD")
    for choice, option in zip(choices, item.options, strict=True):
        assert choice.text.strip() == option["text"]
        feedback = choice.find("q:qti-feedback-inline", NS)
        assert feedback.text == option["rationale"]
        assert (feedback.get("outcome-identifier"), feedback.get("identifier"), feedback.get("show-hide")) == (
            "FEEDBACK", choice.get("identifier"), "show")
    processing = root.find("q:qti-response-processing", NS)
    assert processing.get("template") == "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"


def test_manifest_is_an_ims_cp_with_qti3_item_resources_and_metadata(bank):
    with zipfile.ZipFile(io.BytesIO(package_bytes(bank[:3]))) as zf:
        assert zf.namelist() == ["imsmanifest.xml"] + [f"items/{i.external_id}.xml" for i in bank[:3]]
        manifest = ET.fromstring(zf.read("imsmanifest.xml"))
    assert manifest.tag == f"{{{qti.CP_NS}}}manifest"
    assert manifest.find("cp:metadata/cp:schemaversion", NS).text == "3.0.0"
    resources = manifest.findall("cp:resources/cp:resource", NS)
    assert len(resources) == 3
    for resource, item in zip(resources, bank[:3], strict=True):
        assert resource.get("type") == "imsqti_item_xmlv3p0"
        assert resource.get("href") == f"items/{item.external_id}.xml"
        assert resource.find("cp:file", NS).get("href") == resource.get("href")
        ext = resource.find("cp:metadata/cm:item", NS)
        assert ext.get("area") == item.area and float(ext.get("difficulty")) == item.difficulty
        assert [e.text for e in ext.findall("cm:enemy", NS)] == item.enemies
        taxon = resource.find("cp:metadata/lom:lom/lom:classification/lom:taxonPath/lom:taxon/lom:id", NS)
        assert taxon.text == item.area


def test_text_is_escaped():
    item = ItemSource(
        external_id="DEF-900", area="defamation",
        scenario='Sam posts <script>alert("x")</script> & writes ]]> plus \'quotes\' and an emoji 😂.',
        question="Is 3 < 4 && 5 > 2?",
        options=[{"text": f"Option {c} <b>&amp;</b>", "rationale": f"Because {c} & \"so\" on."} for c in "ABCD"],
        key_index=3, difficulty=-0.25, enemies=["DEF-001"],
    )
    xml = qti.item_to_qti(item)
    assert "<script>" not in xml and "&lt;script&gt;" in xml and "&amp;amp;" in xml
    ET.fromstring(xml.encode())  # well-formed
    back = qti.qti_to_item(xml, area="defamation", difficulty=-0.25, enemies=["DEF-001"])
    assert fields(back) == fields(item)
    pkg = qti.read_package(io.BytesIO(package_bytes([item])))
    assert fields(pkg[0]) == fields(item)


def test_control_characters_cannot_be_exported():
    item = ItemSource("DEF-901", "defamation", "A\x07B", "Q?", [{"text": c, "rationale": c} for c in "abcd"], 0, 0.0)
    with pytest.raises(QTIError, match="control character"):
        qti.item_to_qti(item)


# ------------------------------------------------------------------ hand-written items

MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
    identifier="DEF-101" title="Rival shop" adaptive="false" time-dependent="false">
  <qti-response-declaration identifier="RESPONSE" cardinality="single" base-type="identifier">
    <qti-correct-response>
      <qti-value>ChoiceC</qti-value>
    </qti-correct-response>
  </qti-response-declaration>
  <qti-outcome-declaration identifier="SCORE" cardinality="single" base-type="float"/>
  <qti-outcome-declaration identifier="FEEDBACK" cardinality="single" base-type="identifier"/>
  <qti-item-body>
    <p>A customer posts that a rival shop <em>sells stolen
       goods</em>.</p><p>Nobody has checked.</p>
    <qti-choice-interaction response-identifier="RESPONSE" max-choices="1">
      <qti-prompt>What is the risk?</qti-prompt>
      <qti-simple-choice identifier="ChoiceA">None, opinions are always fine</qti-simple-choice>
      <qti-simple-choice identifier="ChoiceB">Only a risk if it goes viral</qti-simple-choice>
      <qti-simple-choice identifier="ChoiceC">It may be defamatory if untrue</qti-simple-choice>
      <qti-simple-choice identifier="ChoiceD">Only the platform is responsible</qti-simple-choice>
    </qti-choice-interaction>
  </qti-item-body>
  <qti-response-processing template="https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"/>
  <qti-modal-feedback outcome-identifier="FEEDBACK" identifier="ChoiceA" show-hide="show">
    <qti-content-body><p>Stated as fact, not opinion.</p></qti-content-body></qti-modal-feedback>
  <qti-modal-feedback outcome-identifier="FEEDBACK" identifier="ChoiceB" show-hide="show">
    <qti-content-body><p>Publication to one person is enough.</p></qti-content-body></qti-modal-feedback>
  <qti-modal-feedback outcome-identifier="FEEDBACK" identifier="ChoiceC" show-hide="show">
    <qti-content-body><p>A false statement of fact that harms a reputation.</p></qti-content-body></qti-modal-feedback>
  <qti-modal-feedback outcome-identifier="FEEDBACK" identifier="ChoiceD" show-hide="show">
    <qti-content-body><p>The author is responsible too.</p></qti-content-body></qti-modal-feedback>
</qti-assessment-item>
"""


def test_a_hand_written_qti3_item_is_read():
    item = qti.qti_to_item(MINIMAL, area="defamation", difficulty=0.5, source="rival.xml")
    assert item.external_id == "DEF-101" and item.area == "defamation" and item.difficulty == 0.5
    assert item.scenario == "A customer posts that a rival shop sells stolen goods. Nobody has checked."
    assert item.question == "What is the risk?"
    assert [o["text"] for o in item.options] == [
        "None, opinions are always fine", "Only a risk if it goes viral",
        "It may be defamatory if untrue", "Only the platform is responsible"]
    assert item.options[2]["rationale"] == "A false statement of fact that harms a reputation."
    assert item.key_index == 2 and item.enemies == [] and item.source == "rival.xml:2"


def test_the_area_may_be_a_function_of_the_id_and_is_required():
    item = qti.qti_to_item(MINIMAL, area=lambda ident: {"DEF": "defamation"}[ident[:3]], difficulty=0.0)
    assert item.area == "defamation"
    with pytest.raises(QTIError, match="no area"):
        qti.qti_to_item(MINIMAL, area=None, difficulty=0.0)
    with pytest.raises(QTIError, match="no intended difficulty"):
        qti.qti_to_item(MINIMAL, area="defamation", difficulty=None)


def test_bank_rules_apply_to_qti_items():
    xml = MINIMAL.replace("Only a risk if it goes viral", "All of the above")
    with pytest.raises(QTIError, match=r"rival\.xml:\d+: DEF-101: option B uses a banned form"):
        qti.qti_to_item(xml, area="defamation", difficulty=0.0, source="rival.xml")



BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="&lol4;"/>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE item [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="x">&xxe;</qti-assessment-item>"""


def _without_correct_response(xml: str) -> str:
    start = xml.index("    <qti-correct-response>")
    end = xml.index("</qti-correct-response>") + len("</qti-correct-response>\n")
    return xml[:start] + xml[end:]


def _three_choices(xml: str) -> str:
    line = '      <qti-simple-choice identifier="ChoiceD">Only the platform is responsible</qti-simple-choice>\n'
    assert line in xml
    return xml.replace(line, "")


@pytest.mark.parametrize("xml, message", [
    ("this is not XML", r"item\.xml:1: not well-formed XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", r"item\.xml:1: not well-formed XML"),
    ("", r"item\.xml:1: not well-formed XML \(no element found\)"),
    (MINIMAL.replace("</qti-item-body>", "</qti-itembody>"), r"item\.xml:\d+: not well-formed XML \(mismatched tag\)"),
    (BILLION_LAUGHS, r"item\.xml:2: refused: the document has a DOCTYPE"),
    (XXE, r"item\.xml:2: refused: the document has a DOCTYPE"),
    ("<a>&xxe;</a>", r"not well-formed XML \(undefined entity\)"),
    ("<html><body/></html>", r"item\.xml:1: the root element is <html>; expected a QTI 3.0 <qti-assessment-item>"),
    (MINIMAL.replace('xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0"', 'xmlns="urn:other"'),
     r"item\.xml:2: <qti-assessment-item> is in namespace urn:other; expected http://www\.imsglobal\.org/xsd/imsqtiasi_v3p0"),
    ('<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="x"/>', r"QTI 2\.x item"),
    (TEXT_ENTRY, r"item\.xml:8: unsupported: only single-response choice items \(found <qti-text-entry-interaction>\)"),
    (MINIMAL.replace('max-choices="1"', 'max-choices="2"'),
     r"item\.xml:\d+: unsupported: only single-response choice items \(max-choices=\"2\"\)"),
    (MINIMAL.replace('max-choices="1"', 'max-choices="0"'), r"unsupported: only single-response choice items"),
    (MINIMAL.replace('cardinality="single" base-type="identifier"', 'cardinality="multiple" base-type="identifier"'),
     r"item\.xml:4: unsupported: only single-response choice items \(cardinality=\"multiple\"\)"),
    (_three_choices(MINIMAL), r"item\.xml:\d+: the choice interaction has 3 choices; the bank requires exactly 4"),
    (_without_correct_response(MINIMAL), r"item\.xml:4: missing correct response"),
    (MINIMAL.replace("<qti-value>ChoiceC</qti-value>", "<qti-value>ChoiceE</qti-value>"),
     r"item\.xml:6: the correct response 'ChoiceE' names no choice "
     r"\(the choices are ChoiceA, ChoiceB, ChoiceC, ChoiceD\)"),
    (MINIMAL.replace("rptemplates/match_correct.xml", "rptemplates/map_response.xml"), r"unsupported scoring"),
    (MINIMAL.replace("<qti-prompt>What is the risk?</qti-prompt>", ""), r"no <qti-prompt>"),
    (MINIMAL.replace("<p>Nobody has checked.</p>", '<p><img src="x.png" alt="x"/></p>'), r"unsupported: <img>"),
    ("<a>" * 100 + "</a>" * 100, r"nested deeper than 64"),
])
def test_bad_items_are_refused_with_a_precise_message(xml, message):
    with pytest.raises(QTIError, match=message):
        qti.qti_to_item(xml, area="defamation", difficulty=0.0, source="item.xml")


def test_a_huge_item_is_refused_before_parsing():
    with pytest.raises(QTIError, match="too large"):
        qti.qti_to_item(b"<a>" + b" " * (qti.DEFAULT_LIMITS.max_entry_bytes + 1) + b"</a>", area="x", difficulty=0.0)


# ------------------------------------------------------------------ packages


def read(data: bytes, **kwargs):
    buf = io.BytesIO(data)
    buf.name = "pkg.zip"
    return qti.read_package(buf, **kwargs)


def test_a_package_without_certamen_metadata_uses_the_defaults():
    manifest = f"""<manifest xmlns="{qti.CP_NS}" identifier="m1">
      <resources>
        <resource identifier="r1" type="imsqti_item_xmlv3p0" href="rival.xml"><file href="rival.xml"/></resource>
        <resource identifier="t1" type="imsqti_test_xmlv3p0" href="test.xml"><file href="test.xml"/></resource>
      </resources></manifest>"""
    data = zip_of({"imsmanifest.xml": manifest, "rival.xml": MINIMAL, "test.xml": "<x/>"})
    [item] = read(data, area="defamation", difficulty=1.25)
    assert (item.area, item.difficulty, item.enemies, item.source) == ("defamation", 1.25, [], "pkg.zip!rival.xml:2")
    with pytest.raises(QTIError, match=r"pkg\.zip!rival\.xml:2: DEF-101: no area"):
        read(data)


@pytest.mark.parametrize("make, message", [
    (lambda good: b"just some bytes, not a zip", r"pkg\.zip: not a zip archive"),
    (lambda good: good[: len(good) // 2], r"pkg\.zip: truncated or damaged zip archive"),
    (lambda good: zip_of({"imsmanifest.xml": "<x/>", "../evil.xml": "<x/>"}),
     r"pkg\.zip!\.\./evil\.xml: refused entry name: path traversal"),
    (lambda good: zip_of({"imsmanifest.xml": "<x/>", "items/../../evil.xml": "<x/>"}), r"path traversal"),
    (lambda good: zip_of({"imsmanifest.xml": "<x/>", "/etc/evil.xml": "<x/>"}), r"refused entry name: absolute path"),
    (lambda good: zip_of({"items/DEF-001.xml": "<x/>"}),
     r"pkg\.zip: imsmanifest\.xml is missing from the package root"),
    (lambda good: zip_of({"bank/imsmanifest.xml": "<x/>"}),
     r"found 'bank/imsmanifest\.xml': zip the folder's contents"),
    (lambda good: zip_of({"imsmanifest.xml": "not xml"}), r"pkg\.zip!imsmanifest\.xml:1: not well-formed XML"),
    (lambda good: zip_of({"imsmanifest.xml": BILLION_LAUGHS}),
     r"pkg\.zip!imsmanifest\.xml:2: refused: the document has a DOCTYPE"),
    (lambda good: zip_of({"imsmanifest.xml": "<manifest/>"}), r"expected an IMS content packaging <manifest>"),
    (lambda good: zip_of({"imsmanifest.xml": f'<manifest xmlns="{qti.CP_NS}"><resources/></manifest>'}),
     r"lists no QTI 3\.0 item resources"),
    (lambda good: _drop_entry(good, "items/DEF-002.xml"),
     r"pkg\.zip!imsmanifest\.xml:\d+: resource DEF-002: the item file 'items/DEF-002\.xml' is not in the package"),
    (lambda good: _patch_entry(good, "imsmanifest.xml", 'href="items/DEF-002.xml"', 'href="../items/DEF-002.xml"'),
     r"resource DEF-002: href '\.\./items/DEF-002\.xml' points outside the package"),
    (lambda good: _patch_entry(good, "imsmanifest.xml", 'type="imsqti_item_xmlv3p0" href="items/DEF-002.xml"',
                               'type="imsqti_item_xmlv2p1" href="items/DEF-002.xml"'),
     r"resource DEF-002: a QTI 2\.x item"),
    (lambda good: _patch_entry(good, "items/DEF-002.xml", 'max-choices="1"', 'max-choices="2"'),
     r"pkg\.zip!items/DEF-002\.xml:\d+: unsupported: only single-response choice items"),
    (lambda good: _patch_entry(good, "imsmanifest.xml", 'difficulty="', 'difficulty="x'),
     r"difficulty 'x.*' is not a number"),
])
def test_bad_packages_are_refused_naming_the_entry(bank, make, message):
    good = package_bytes(_defamation(bank)[:3])
    read(good)  # the base package is fine
    with pytest.raises(QTIError, match=message):
        read(make(good))


def _defamation(bank):
    return [i for i in bank if i.area == "defamation" and i.external_id in ("DEF-001", "DEF-002", "DEF-003")] or bank


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _drop_entry(data: bytes, name: str) -> bytes:
    entries = _entries(data)
    assert name in entries, sorted(entries)
    del entries[name]
    return zip_of(entries)


def _patch_entry(data: bytes, name: str, old: str, new: str) -> bytes:
    entries = _entries(data)
    text = entries[name].decode()
    assert old in text
    entries[name] = text.replace(old, new, 1).encode()
    return zip_of(entries)


def test_package_reading_is_all_or_nothing_and_lists_every_problem(bank):
    items = _defamation(bank)[:3]
    data = _patch_entry(package_bytes(items), f"items/{items[0].external_id}.xml", "<qti-correct-response>",
                        "<qti-correct-response-x>")
    data = _patch_entry(data, f"items/{items[0].external_id}.xml", "</qti-correct-response>",
                        "</qti-correct-response-x>")
    data = _drop_entry(data, f"items/{items[2].external_id}.xml")
    with pytest.raises(QTIError) as caught:
        read(data)
    problems = caught.value.problems
    assert len(problems) == 2
    assert f"pkg.zip!items/{items[0].external_id}.xml:6: missing correct response" in problems[0]
    assert f"the item file 'items/{items[2].external_id}.xml' is not in the package" in problems[1]


def test_oversized_entries_are_refused():
    big = zip_of({"imsmanifest.xml": "<x/>",
                  "items/big.xml": b"<a>" + b" " * qti.DEFAULT_LIMITS.max_entry_bytes + b"</a>"})
    assert len(big) < 100_000  # a bomb: tiny compressed, large uncompressed
    with pytest.raises(QTIError, match=r"pkg\.zip!items/big\.xml: entry too large \(\d+ bytes uncompressed"):
        read(big)


def test_zip_bomb_limits_on_total_size_entry_count_and_package_size(bank):
    data = package_bytes(bank[:5])
    with pytest.raises(QTIError, match=r"bytes uncompressed in all; the limit is 1000"):
        read(data, limits=qti.Limits(max_total_bytes=1000))
    with pytest.raises(QTIError, match=r"6 entries; the limit is 3"):
        read(data, limits=qti.Limits(max_entries=3))
    with pytest.raises(QTIError, match=r"too large"):
        read(data, limits=qti.Limits(max_package_bytes=100))


def test_an_entry_whose_header_understates_its_size_is_caught():
    payload = b"<a>" + b" " * 5000 + b"</a>"
    data = bytearray(zip_of({"imsmanifest.xml": payload}))
    # Shrink the uncompressed size recorded in the central directory (the local header is not consulted for it).
    central = data.rindex(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(QTIError, match=r"pkg\.zip!imsmanifest\.xml: damaged entry \(Bad CRC-32"):
        read(bytes(data))


def test_write_package_refuses_duplicates_and_empty(bank):
    with pytest.raises(QTIError, match="duplicate id"):
        qti.write_package([bank[0], bank[0]], io.BytesIO())
    with pytest.raises(QTIError, match="no items"):
        qti.write_package([], io.BytesIO())

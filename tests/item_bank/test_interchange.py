"""Export and import of items in Certamen YAML, Certamen JSON and IMS QTI 3.0, with precise errors."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from qti_samples import TEXT_ENTRY

from item_bank import interchange, qti
from item_bank.content import CONTENT_DIR, ContentError, ItemSource, load_areas, load_items
from item_bank.qti import QTIError

# a backslash at a line end continues the line: the XML has no line break there
MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
    identifier="DEF-101" title="Rival shop" adaptive="false" time-dependent="false">
  <qti-response-declaration identifier="RESPONSE" cardinality="single" base-type="identifier">
    <qti-correct-response><qti-value>C</qti-value></qti-correct-response>
  </qti-response-declaration>
  <qti-outcome-declaration identifier="SCORE" cardinality="single" base-type="float"/>
  <qti-item-body>
    <p>A customer posts that a rival shop sells stolen goods.</p>
    <qti-choice-interaction response-identifier="RESPONSE" max-choices="1">
      <qti-prompt>What is the risk?</qti-prompt>
      <qti-simple-choice identifier="A">None, opinions are always fine<qti-feedback-inline
        outcome-identifier="FEEDBACK" identifier="A" show-hide="show">Stated as fact.</qti-feedback-inline>\
</qti-simple-choice>
      <qti-simple-choice identifier="B">Only a risk if it goes viral<qti-feedback-inline
        outcome-identifier="FEEDBACK" identifier="B" show-hide="show">One reader is enough.</qti-feedback-inline>\
</qti-simple-choice>
      <qti-simple-choice identifier="C">It may be defamatory if untrue<qti-feedback-inline
        outcome-identifier="FEEDBACK" identifier="C" show-hide="show">A false statement of fact.</qti-feedback-inline>\
</qti-simple-choice>
      <qti-simple-choice identifier="D">Only the platform is responsible<qti-feedback-inline
        outcome-identifier="FEEDBACK" identifier="D" show-hide="show">The author is too.</qti-feedback-inline>\
</qti-simple-choice>
    </qti-choice-interaction>
  </qti-item-body>
  <qti-response-processing template="https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"/>
</qti-assessment-item>
"""



@pytest.fixture(scope="module")
def bank() -> list[ItemSource]:
    return load_items()


def fields(items: list[ItemSource]) -> list[dict]:
    out = []
    for item in items:
        data = dataclasses.asdict(item)
        data.pop("source")
        out.append(data)
    return out


# ------------------------------------------------------------------ round trips of the real bank


@pytest.mark.parametrize("fmt, name", [("yaml", "items"), ("json", "bank.json"), ("qti", "bank.zip")])
def test_the_whole_bank_round_trips(bank, tmp_path, fmt, name):
    out = tmp_path / name
    written = interchange.export_bank(bank, fmt, out)
    assert written and all(p.exists() for p in written)
    back = interchange.import_items(out)
    assert fields(back) == fields(bank)
    assert any(i.enemies for i in back)


def test_yaml_export_is_the_bank_format(bank, tmp_path):
    interchange.export_bank(bank, "yaml", tmp_path / "items")
    assert sorted(p.name for p in (tmp_path / "items").iterdir()) == sorted(
        p.name for p in (CONTENT_DIR / "items").glob("*.yaml"))
    # load_items reads it as a bank content directory
    assert fields(load_items(tmp_path, areas=load_areas())) == fields(bank)
    text = (tmp_path / "items" / "defamation.yaml").read_text()
    assert text.startswith("area: defamation\nitems:\n  - id: DEF-")
    assert "    scenario: >-\n      " in text and "      - text: >-\n          " in text and "    key: " in text


def test_json_export_document_shape(bank, tmp_path):
    interchange.export_bank(bank[:2], "json", tmp_path / "b.json")
    doc = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert doc["format"] == "certamen-items" and doc["version"] == 1
    first = doc["items"][0]
    assert set(first) == {"id", "area", "difficulty", "scenario", "question", "options", "key", "enemies", "status",
                          "shuffle", "teaches"}
    assert first["shuffle"] is True and first["teaches"] == bank[0].teaches
    assert first["id"] == bank[0].external_id and first["key"] == "ABCD"[bank[0].key_index]
    assert len(first["options"]) == 4 and set(first["options"][0]) == {"text", "rationale"}


def test_export_to_file_objects(bank, tmp_path):
    import io

    buf = io.BytesIO()
    assert interchange.export_bank(bank[:3], "json", buf) == []
    assert json.loads(buf.getvalue())["items"][2]["id"] == bank[2].external_id
    buf = io.BytesIO()
    interchange.export_bank(bank[:3], "qti", buf)
    buf.seek(0)
    assert fields(qti.read_package(buf)) == fields(bank[:3])


TRICKY = [
    "# not a comment: with a colon, a 'quote' and a \"double\" one",
    "yes",
    "1.5",
    "- looks like a list item",
    "Double  spaces  and a trailing dash -",
    "{flow: mapping} & [a, list] @at `tick` | pipe > fold % percent",
    "A very long option " + "with many words " * 12 + "that has to wrap over several lines.",
]


def test_yaml_keeps_awkward_text_exactly(tmp_path):
    items = []
    for n, text in enumerate(TRICKY):
        items.append(ItemSource(
            external_id=f"DEF-{900 + n}", area="defamation",
            scenario=" ".join(f"Scenario {n}: {text} ...".split()), question=" ".join(f"{text}?".split()),
            options=[{"text": f"{text} {c}", "rationale": f"{c}: {text}"} for c in "ABCD"],
            key_index=n % 4, difficulty=[-4.0, 0.0, 1e-05, 3.999, -0.1, 2.5, 4][n],
            status="retired" if n == 1 else "operational",
        ))
    items[0].enemies = ["DEF-901"]
    items[1].enemies = ["DEF-900"]
    interchange.export_bank(items, "yaml", tmp_path / "items")
    assert fields(interchange.import_items(tmp_path / "items")) == fields(items)
    assert fields(load_items(tmp_path, areas=load_areas())) == fields(items)


# ------------------------------------------------------------------ single QTI items


def test_a_single_qti_item_takes_its_area_from_the_id_and_difficulty_zero(tmp_path):
    path = tmp_path / "rival.xml"
    path.write_text(MINIMAL, encoding="utf-8")
    [item] = interchange.import_items(path)
    assert (item.external_id, item.area, item.difficulty, item.enemies) == ("DEF-101", "defamation", 0.0, [])
    assert item.key_index == 2 and item.options[2] == {"text": "It may be defamatory if untrue",
                                                       "rationale": "A false statement of fact."}
    assert item.source == f"{path}:2"
    [item] = interchange.import_items(path, difficulty=-1.5)
    assert item.difficulty == -1.5


def test_a_single_qti_item_with_an_unknown_code_needs_an_area(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text(MINIMAL.replace('identifier="DEF-101"', 'identifier="ZZZ-101"'), encoding="utf-8")
    with pytest.raises(QTIError, match=r"x\.xml:2: ZZZ-101: no area"):
        interchange.import_items(path)
    with pytest.raises(ContentError, match=r"x\.xml:2: ZZZ-101: id must start with the area code DEF-"):
        interchange.import_items(path, area="defamation")


def test_a_supplied_area_must_exist(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ContentError, match=r"DEF-101: unknown area 'nowhere'"):
        interchange.import_items(path, area="nowhere")


def test_unsupported_qti_item_is_refused_on_import(tmp_path):
    path = tmp_path / "gap.xml"
    path.write_text(TEXT_ENTRY, encoding="utf-8")
    with pytest.raises(QTIError, match=r"gap\.xml:8: unsupported: only single-response choice items"):
        interchange.import_items(path)


# ------------------------------------------------------------------ errors


def write_json(tmp_path: Path, doc) -> Path:
    path = tmp_path / "items.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def good_entry(**changes):
    entry = {
        "id": "DEF-001", "area": "defamation", "difficulty": 0.5,
        "scenario": "A customer posts that a rival shop sells stolen goods.", "question": "What is the risk?",
        "options": [{"text": "It may be defamatory if untrue", "rationale": "A false statement of fact."},
                    {"text": "None, opinions are always fine", "rationale": "Stated as fact."},
                    {"text": "Only a risk if it goes viral", "rationale": "One reader is enough."},
                    {"text": "Only the platform is responsible", "rationale": "The author is too."}],
        "key": "A",
    }
    entry.update(changes)
    return entry


def document(*entries):
    return {"format": "certamen-items", "version": 1, "items": list(entries)}


def test_a_good_json_document_imports(tmp_path):
    [item] = interchange.import_items(write_json(tmp_path, document(good_entry())))
    assert item.external_id == "DEF-001" and item.key_index == 0 and item.source.endswith("items.json:items[0]")


def _without_rationale():
    entry = good_entry()
    del entry["options"][1]["rationale"]
    return entry


@pytest.mark.parametrize("doc, message", [
    ('{"format": "certamen-items",\n "version": 1,\n "items": [,]}', r"items\.json:3: not valid JSON"),
    ('{"format": "certamen-items", "format": "x"}', r"items\.json: not valid JSON \(duplicate key 'format'\)"),
    ({"format": "something-else", "items": []}, r"not a Certamen items document"),
    ({"format": "certamen-items", "version": 2, "items": []}, r"unsupported version 2"),
    ({"format": "certamen-items", "version": 1, "items": {}}, r"'items' must be a list"),
    (document(good_entry(), "nope"), r"items\.json:items\[1\]: an item must be an object"),
    (document(good_entry(colour="red")), r"items\.json:items\[0\]: DEF-001: unknown field colour"),
    (document(good_entry(key="E")), r"items\.json:items\[0\]: DEF-001: 'key' must be one of A, B, C, D"),
    (document(good_entry(difficulty="hard")), r"items\.json:items\[0\]: DEF-001: 'difficulty' must be a number"),
    (document(_without_rationale()), r"items\.json:items\[0\]\.options\[1\]: DEF-001: option B needs a 'rationale'"),
    (document(good_entry(options=[])), r"items\.json:items\[0\]: DEF-001: needs exactly 4 options"),
    (document(good_entry(area=None)), r"items\.json:items\[0\]: DEF-001: 'area' must be an area slug"),
    (document(good_entry(area="nowhere")), r"items\.json:items\[0\]: DEF-001: unknown area 'nowhere'"),
    (document(good_entry(area="privacy")), r"DEF-001: id must start with the area code PRI-"),
    (document(good_entry(), good_entry()),
     r"items\.json:items\[1\]: duplicate id DEF-001 \(first at .*items\.json:items\[0\]\)"),
    (document(good_entry(enemies=["DEF-099"])), r"DEF-001: unknown enemy DEF-099"),
])
def test_bad_json_is_refused_naming_the_entry(tmp_path, doc, message):
    with pytest.raises(ContentError, match=message):
        interchange.import_items(write_json(tmp_path, doc))


def test_bad_yaml_is_refused_with_the_line(tmp_path, bank):
    interchange.export_bank(bank, "yaml", tmp_path / "items")
    path = tmp_path / "items" / "defamation.yaml"
    lines = path.read_text().splitlines(keepends=True)
    key_line = next(n for n, line in enumerate(lines) if line.startswith("    key: "))
    lines[key_line] = "    key: E\n"
    path.write_text("".join(lines))
    with pytest.raises(ContentError) as caught:
        interchange.import_items(tmp_path / "items")
    assert caught.value.problems[0].startswith(f"{path}:3: DEF-")
    assert "'key' must be one of A, B, C, D" in caught.value.problems[0]
    path.write_text("area: defamation\nitems:\n  - id: [unclosed\n")
    with pytest.raises(ContentError, match=rf"{path}:\d+: not valid YAML"):
        interchange.import_items(path)


def test_import_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(ContentError, match="no such file or directory"):
        interchange.import_items(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ContentError, match="no .yaml or .yml files"):
        interchange.import_items(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ContentError, match=r"unsupported file type '\.txt'"):
        interchange.import_items(tmp_path / "notes.txt")
    (tmp_path / "fake.zip").write_bytes(b"definitely not a zip")
    with pytest.raises(QTIError, match=r"fake\.zip: not a zip archive"):
        interchange.import_items(tmp_path / "fake.zip")


@pytest.mark.parametrize("name", ["huge.json", "huge.zip", "huge.xml", "huge.yaml"])
def test_oversized_input_is_refused_before_reading(tmp_path, name):
    path = tmp_path / name
    with path.open("wb") as fh:
        fh.truncate(interchange.MAX_IMPORT_BYTES + 1)  # sparse: costs no disk or time
    with pytest.raises(ContentError, match=r"too large \(\d+ bytes; the import limit is 20 MB\)"):
        interchange.import_items(path)


def test_unknown_export_format(bank, tmp_path):
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        interchange.export_bank(bank, "csv", tmp_path / "x.csv")


def test_import_is_checked_against_the_bank_rules_across_files(tmp_path, bank):
    interchange.export_bank(bank, "yaml", tmp_path / "items")
    shutil.copy(tmp_path / "items" / "defamation.yaml", tmp_path / "items" / "defamation-copy.yaml")
    with pytest.raises(ContentError,
                       match=r"defamation\.yaml:\d+: duplicate id DEF-001 \(first at .*defamation-copy\.yaml"):
        interchange.import_items(tmp_path / "items")

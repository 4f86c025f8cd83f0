"""The bank sources: the shipped bank validates; broken files get line-precise messages."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from item_bank.content import CONTENT_DIR, ContentError, load_items, read_bank


def test_shipped_bank_is_valid_and_covers_every_area():
    bank = read_bank()
    areas = {a.slug for a in bank.areas}
    assert len(bank.items) >= 40
    assert {i.area for i in bank.items} == areas
    assert set(bank.guides) == areas
    assert {e.id for e in bank.exams} >= {"social-media-frontline", "social-media-recert", "social-media-manager"}


def _content_copy(tmp_path: Path, item_yaml: str) -> Path:
    root = tmp_path / "content"
    (root / "items").mkdir(parents=True)
    shutil.copy(CONTENT_DIR / "areas.yaml", root / "areas.yaml")
    (root / "items" / "defamation.yaml").write_text(textwrap.dedent(item_yaml))
    return root


GOOD_ITEM = """\
area: defamation
items:
  - id: DEF-001
    difficulty: 0.5
    scenario: A customer posts that a rival shop sells stolen goods.
    question: What is the risk?
    options:
      - text: It may be defamatory if untrue
        rationale: A false statement of fact that harms a reputation.
      - text: None, opinions are always fine
        rationale: Stated as fact, not opinion.
      - text: Only a risk if it goes viral
        rationale: Publication to one person is enough.
      - text: Only the platform is responsible
        rationale: The author is responsible too.
    key: A
"""


def test_a_good_file_loads(tmp_path):
    items = load_items(_content_copy(tmp_path, GOOD_ITEM))
    assert len(items) == 1 and items[0].key_index == 0 and items[0].external_id == "DEF-001"


def test_an_item_may_keep_its_written_order_and_that_is_part_of_what_it_is(tmp_path):
    shuffled = load_items(_content_copy(tmp_path / "a", GOOD_ITEM))[0]
    fixed_order = GOOD_ITEM.replace("    key: A", "    key: A\n    shuffle: false")
    fixed = load_items(_content_copy(tmp_path / "b", fixed_order))[0]
    assert shuffled.shuffle is True and fixed.shuffle is False
    assert shuffled.content_hash() != fixed.content_hash()  # a new version: candidates see it differently


@pytest.mark.parametrize("mutation, message, line", [
    (("key: A", "key: E"), "'key' must be one of A, B, C, D", 3),
    (("difficulty: 0.5", "difficulty: hard"), "'difficulty' must be a number", 3),
    (("id: DEF-001", "id: defamation-1"), "must look like ABC-001", 3),
    (("      - text: Only a risk if it goes viral\n", "      - text: All of the above\n"), "banned form", 12),
    (("        rationale: The author is responsible too.\n", ""), "needs a 'rationale'", 14),
    (("    question: What is the risk?\n", ""), "'question' must be non-empty", 3),
    (("    key: A", "    key: A\n    shuffle: sometimes"), "'shuffle' must be true or false", 3),
])
def test_broken_items_are_reported_with_file_and_line(tmp_path, mutation, message, line):
    broken = GOOD_ITEM.replace(*mutation)
    with pytest.raises(ContentError) as caught:
        load_items(_content_copy(tmp_path, broken))
    problems = caught.value.problems
    assert any(message in p and f"defamation.yaml:{line}:" in p for p in problems), problems


def test_invalid_yaml_reports_its_line(tmp_path):
    with pytest.raises(ContentError) as caught:
        load_items(_content_copy(tmp_path, GOOD_ITEM.replace("    key: A", "    key: [A")))
    assert "not valid YAML" in str(caught.value) and "defamation.yaml:" in str(caught.value)


def test_duplicate_ids_and_unknown_enemies(tmp_path):
    body = GOOD_ITEM + GOOD_ITEM.split("items:\n", 1)[1].replace("key: A", "key: A\n    enemies: [DEF-099]")
    with pytest.raises(ContentError) as caught:
        load_items(_content_copy(tmp_path, body))
    text = str(caught.value)
    assert "duplicate id DEF-001" in text and "unknown enemy DEF-099" in text

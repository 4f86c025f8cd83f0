"""Reading and validating the plain-text bank sources (areas, items, guides, exams)."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from errors import CertamenError

CONTENT_DIR = Path(__file__).resolve().parent / "content"
KEY_LETTERS = "ABCD"
BANNED_OPTION_PATTERNS = re.compile(r"\b(all|none) of the above\b|\bboth [a-d] and [a-d]\b", re.IGNORECASE)
ITEM_ID = re.compile(r"^[A-Z]{3}-\d{3}$")
# What an item's key teaches (optional `teaches:`): hold back or escalate; posting is fine or protected;
# the well-made post. `certamen bank lint` counts them (item_bank/lint.py).
TEACHES_VALUES = ("restraint", "protected", "well-made")


class ContentError(CertamenError, ValueError):
    """A bank source breaks the schema or the writing rules; `problems` are 'file:line: message'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of each mapping so errors can point at it."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ContentError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except UnicodeDecodeError:
        raise ContentError([f"{path}: not UTF-8 text"]) from None


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


@dataclass
class Area:
    slug: str
    code: str
    title: str


@dataclass
class ItemSource:
    external_id: str
    area: str
    scenario: str
    question: str
    options: list[dict[str, str]]
    key_index: int
    difficulty: float
    enemies: list[str] = field(default_factory=list)
    status: str = "operational"
    source: str = ""  # "file:line", for messages
    teaches: str | None = None  # one of TEACHES_VALUES, or not said
    shuffle: bool = True  # options shown in a per-sitting order; False where their written order matters

    def content_hash(self) -> str:
        # What a candidate sees and how it is scored. Like `enemies`, `teaches` is left out: it is not
        # stored, and re-labelling an item must not make a new version that loses its parameters.
        shown = {"s": self.scenario, "q": self.question, "o": self.options, "k": self.key_index, "a": self.area}
        if not self.shuffle:  # said only when it differs from the default, so earlier items keep their hash
            shown["fixed_order"] = True
        body = json.dumps(shown, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class ExamSource:
    id: str
    data: dict[str, Any]
    source: str


@dataclass
class BankSource:
    areas: list[Area]
    items: list[ItemSource]
    exams: list[ExamSource]
    guides: dict[str, str]


def load_areas(content_dir: Path = CONTENT_DIR) -> list[Area]:
    path = content_dir / "areas.yaml"
    raw = _load_yaml(path)
    problems = []
    areas = []
    entries = raw.get("areas") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ContentError([f"{path}:1: expected a mapping with a list 'areas'"])
    for entry in entries:
        if not isinstance(entry, dict):
            problems.append(f"{path}: each area must be a mapping with slug, code and title")
            continue
        wrong = [k for k in ("slug", "code", "title") if entry.get(k) is not None and not isinstance(entry[k], str)]
        if wrong:
            problems.append(f"{path}:{entry.get('__line__', '?')}: area fields must be text: {', '.join(wrong)}")
            continue
        missing = [k for k in ("slug", "code", "title") if not entry.get(k)]
        if missing:
            problems.append(f"{path}:{entry.get('__line__', '?')}: area missing {', '.join(missing)}")
            continue
        areas.append(Area(entry["slug"], entry["code"], entry["title"]))
    if not areas:
        problems.append(f"{path}: no areas defined")
    if problems:
        raise ContentError(problems)
    return areas


def parse_item(entry: dict[str, Any], area: str, where: str, problems: list[str]) -> ItemSource | None:
    """Check one item mapping against the schema; append 'where: message' problems."""
    if not isinstance(entry, dict):
        problems.append(f"{where}: an item must be a mapping")
        return None
    before = len(problems)
    item_id = entry.get("id")
    if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
        problems.append(f"{where}: id {item_id!r} must look like ABC-001")
    for name in ("scenario", "question"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            problems.append(f"{where}: {item_id}: '{name}' must be non-empty text")
    difficulty = entry.get("difficulty")
    if not isinstance(difficulty, (int, float)) or isinstance(difficulty, bool) or not -4 <= difficulty <= 4:
        problems.append(f"{where}: {item_id}: 'difficulty' must be a number between -4 and 4")
    options = entry.get("options")
    if not isinstance(options, list) or len(options) != 4:
        problems.append(f"{where}: {item_id}: needs exactly 4 options")
        options = []
    clean_options = []
    for n, opt in enumerate(options):
        owhere = f"{where.rsplit(':', 1)[0]}:{opt.get('__line__', '?') if isinstance(opt, dict) else '?'}"
        if not isinstance(opt, dict) or not isinstance(opt.get("text"), str) or not opt["text"].strip():
            problems.append(f"{owhere}: {item_id}: option {KEY_LETTERS[n]} needs 'text'")
            continue
        if not isinstance(opt.get("rationale"), str) or not opt["rationale"].strip():
            problems.append(f"{owhere}: {item_id}: option {KEY_LETTERS[n]} needs a 'rationale'")
        if BANNED_OPTION_PATTERNS.search(opt["text"]):
            problems.append(f"{owhere}: {item_id}: option {KEY_LETTERS[n]} uses a banned form (all/none of the above)")
        clean_options.append({"text": opt["text"].strip(), "rationale": str(opt.get("rationale", "")).strip()})
    key = entry.get("key")
    if key not in tuple(KEY_LETTERS):
        problems.append(f"{where}: {item_id}: 'key' must be one of A, B, C, D")
    enemies = entry.get("enemies", []) or []
    if not isinstance(enemies, list) or not all(isinstance(e, str) for e in enemies):
        problems.append(f"{where}: {item_id}: 'enemies' must be a list of item ids")
        enemies = []
    status = entry.get("status", "operational")
    teaches = entry.get("teaches")
    shuffle = entry.get("shuffle", True)
    if not isinstance(shuffle, bool):
        problems.append(f"{where}: {item_id}: 'shuffle' must be true or false")
    if teaches is not None and teaches not in TEACHES_VALUES:
        problems.append(f"{where}: {item_id}: 'teaches' must be one of {', '.join(TEACHES_VALUES)} (not {teaches!r})")
    if len(problems) > before:
        return None
    return ItemSource(
        external_id=item_id,
        area=area,
        scenario=" ".join(entry["scenario"].split()),
        question=" ".join(entry["question"].split()),
        options=clean_options,
        key_index=KEY_LETTERS.index(key),
        difficulty=float(difficulty),
        enemies=list(enemies),
        status=status,
        source=where,
        teaches=teaches,
        shuffle=shuffle,
    )


def load_items(content_dir: Path = CONTENT_DIR, areas: list[Area] | None = None) -> list[ItemSource]:
    areas = areas if areas is not None else load_areas(content_dir)
    slugs = {a.slug: a for a in areas}
    problems: list[str] = []
    items: list[ItemSource] = []
    for path in sorted((content_dir / "items").glob("*.yaml")):
        raw = _load_yaml(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
            problems.append(f"{path}:1: expected a mapping with 'area' and a list 'items'")
            continue
        area = raw.get("area")
        if area not in slugs:
            problems.append(f"{path}:{raw.get('__line__', 1)}: unknown area {area!r}")
            continue
        if path.stem != area:
            problems.append(f"{path}:1: file name must match its area {area!r}")
        for entry in raw["items"]:
            where = f"{path}:{entry.get('__line__', '?') if isinstance(entry, dict) else '?'}"
            item = parse_item(entry, area, where, problems)
            if item is None:
                continue
            if not item.external_id.startswith(slugs[area].code + "-"):
                problems.append(f"{where}: {item.external_id}: id must start with the area code {slugs[area].code}-")
            items.append(item)
    problems.extend(check_bank_rules(items))
    if problems:
        raise ContentError(problems)
    return items


def check_bank_rules(items: list[ItemSource]) -> list[str]:
    """Rules across items: unique ids, known enemies, no near-duplicates, balanced keys, similar lengths."""
    problems: list[str] = []
    by_id: dict[str, ItemSource] = {}
    for item in items:
        if item.external_id in by_id:
            problems.append(f"{item.source}: duplicate id {item.external_id} "
                            f"(first at {by_id[item.external_id].source})")
        by_id[item.external_id] = item
    for item in items:
        for enemy in item.enemies:
            if enemy not in by_id:
                problems.append(f"{item.source}: {item.external_id}: unknown enemy {enemy}")
        lengths = [len(o["text"]) for o in item.options]
        if min(lengths) > 0 and max(lengths) > 2.5 * min(lengths) and max(lengths) - min(lengths) > 40:
            problems.append(f"{item.source}: {item.external_id}: option lengths too uneven "
                            f"({min(lengths)}-{max(lengths)} chars)")
        texts = [o["text"].lower() for o in item.options]
        if len(set(texts)) < len(texts):
            problems.append(f"{item.source}: {item.external_id}: two options are identical")
    # Near-duplicate scenarios within an area (cheap: only compare within area).
    by_area: dict[str, list[ItemSource]] = {}
    for item in items:
        by_area.setdefault(item.area, []).append(item)
    for area, group in by_area.items():
        for i, first in enumerate(group):
            for second in group[i + 1:]:
                matcher = SequenceMatcher(None, first.scenario.lower(), second.scenario.lower())
                if matcher.quick_ratio() > 0.9 and matcher.ratio() > 0.85:
                    problems.append(f"{second.source}: {second.external_id} nearly duplicates {first.external_id}")
        keys = Counter(item.key_index for item in group)
        if len(group) >= 8:
            expected = len(group) / 4
            worst = max(abs(keys.get(k, 0) - expected) for k in range(4))
            if worst > max(2, 0.25 * expected):
                counts = ", ".join(f"{KEY_LETTERS[k]}={keys.get(k, 0)}" for k in range(4))
                problems.append(f"{group[0].source.split(':')[0]}: key positions unbalanced in {area} ({counts})")
    return problems


@lru_cache(maxsize=1)
def area_titles() -> dict[str, str]:
    """slug -> title of the bundled areas (the sources do not change while the process runs)."""
    return {a.slug: a.title for a in load_areas()}


def load_guides(content_dir: Path = CONTENT_DIR) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((content_dir / "guides").glob("*.md"))}


def load_exams(content_dir: Path = CONTENT_DIR) -> list[ExamSource]:
    exams = []
    problems = []
    for path in sorted((content_dir / "exams").glob("*.yaml")):
        raw = _load_yaml(path)
        if not isinstance(raw, dict) or not raw.get("id"):
            problems.append(f"{path}:1: an exam needs an 'id'")
            continue
        exams.append(ExamSource(raw["id"], _strip_lines(raw), str(path)))
    if problems:
        raise ContentError(problems)
    return exams


def read_bank(content_dir: Path = CONTENT_DIR) -> BankSource:
    areas = load_areas(content_dir)
    return BankSource(areas, load_items(content_dir, areas), load_exams(content_dir), load_guides(content_dir))

"""Item interchange: export the bank and import items, in Certamen YAML, Certamen JSON or IMS QTI 3.0.

Formats
-------
``yaml``  A directory of per-area files, ``<area>.yaml``, in exactly the format of
          ``item_bank/content/items/`` (see ``item_bank/content/README.md``): copying them into the bank's
          ``items/`` directory, or ``load_items(<parent>, areas)`` on an ``items`` directory, reads them back.
``json``  One UTF-8 document ``{"format": "certamen-items", "version": 1, "items": [...]}``; each item is
          ``{"id", "area", "difficulty", "scenario", "question", "options": [{"text", "rationale"} x4],
          "key": "A".."D", "enemies": [...], "status", "shuffle": true|false, "teaches" (when set)}``.
``qti``   An IMS QTI 3.0 content package (zip), see :mod:`item_bank.qti`.

Importing (:func:`import_items`) dispatches on the path: a directory of ``.yaml``/``.yml`` files or one such
file, a ``.json`` document, a ``.zip`` QTI package, or a single ``.xml`` QTI item. Every item goes through
``content.parse_item`` (the bank's schema and writing rules) and the whole import through the area checks and
``content.check_bank_rules`` (unique ids, known enemies, near-duplicates, key balance, option lengths).
Nothing is returned unless everything is clean; otherwise ``ContentError`` (schema and bank rules) or
``QTIError`` (QTI structure, packaging, unsafe input) lists every problem as ``file:line`` (YAML, XML),
``file:items[n]`` (JSON) or ``package!entry:line`` (zip).

Area and difficulty for QTI items that carry no Certamen metadata (a bare ``.xml`` item always; a package
resource without the Certamen extension): the ``area`` argument if given, else the area whose code is the
item id's prefix (``DEF-001`` -> the area with code ``DEF``); the ``difficulty`` argument if given, else
0.0, the middle of the theta scale, as a neutral starting point until the item is calibrated. A bare item
has no enemies.

Inputs over 20 MB (a file, or a directory's YAML files together) are refused before they are parsed.
"""
from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import yaml

from item_bank import qti
from item_bank.content import (
    KEY_LETTERS,
    Area,
    ContentError,
    ItemSource,
    _load_yaml,
    check_bank_rules,
    load_areas,
    parse_item,
)
from item_bank.qti.writing import exact_decimal

FORMATS = ("yaml", "json", "qti")
JSON_FORMAT = "certamen-items"
JSON_VERSION = 1
MAX_IMPORT_BYTES = 20 * 1024 * 1024
DEFAULT_DIFFICULTY = 0.0
_JSON_FIELDS = {"id", "area", "difficulty", "teaches", "scenario", "question", "options", "key", "enemies", "status",
                "shuffle"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

PathOrFile = str | os.PathLike | IO[bytes]


# ------------------------------------------------------------------ export


def export_bank(items: Iterable[ItemSource], fmt: str, out: PathOrFile) -> list[Path]:
    """Write `items` in `fmt` ('yaml', 'json' or 'qti') to `out` and return the files written.

    yaml: `out` is a directory (created if needed); one `<area>.yaml` per area, replacing a file of that name.
    json, qti: `out` is a file path or a binary file object (nothing is returned for a file object)."""
    items = list(items)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "yaml":
        if not isinstance(out, (str, os.PathLike)):
            raise ValueError("the yaml export writes a directory; pass its path")
        return _export_yaml(items, Path(out))
    if fmt == "json":
        data = (json.dumps(_json_document(items), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        if isinstance(out, (str, os.PathLike)):
            Path(out).write_bytes(data)
            return [Path(out)]
        out.write(data)
        return []
    qti.write_package(items, out)
    return [Path(out)] if isinstance(out, (str, os.PathLike)) else []


def item_to_dict(item: ItemSource) -> dict[str, Any]:
    return {
        "id": item.external_id,
        "area": item.area,
        "difficulty": item.difficulty,
        "scenario": item.scenario,
        "question": item.question,
        "options": [{"text": o["text"], "rationale": o["rationale"]} for o in item.options],
        "key": KEY_LETTERS[item.key_index],
        "enemies": list(item.enemies),
        "status": item.status,
        "shuffle": item.shuffle,
        **({"teaches": item.teaches} if item.teaches else {}),
    }


def _json_document(items: list[ItemSource]) -> dict[str, Any]:
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "items": [item_to_dict(i) for i in items]}


def _export_yaml(items: list[ItemSource], out: Path) -> list[Path]:
    by_area: dict[str, list[ItemSource]] = {}
    for item in items:
        if not _SLUG.match(item.area or ""):
            raise ContentError([f"{item.source or item.external_id}: area {item.area!r} can't be a file name"])
        by_area.setdefault(item.area, []).append(item)
    rendered = {area: area_yaml(area, group) for area, group in by_area.items()}  # all or nothing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for area, text in rendered.items():
        path = out / f"{area}.yaml"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _number(value: float) -> str:
    return exact_decimal(value)


def _same(snippet: str, key: str, value: str) -> bool:
    try:
        return yaml.safe_load(snippet) == {key: value}
    except yaml.YAMLError:
        return False


def _yaml_field(key: str, value: str, indent: int, *, plain_ok: bool = False, width: int = 80) -> str:
    """`key: value` at `indent`, as the bank files write it (a `>-` folded block, or a plain scalar for short
    questions), falling back to a double-quoted scalar when folding would change the text."""
    pad = " " * indent
    if plain_ok and indent + len(key) + 2 + len(value) <= width and _same(f"{key}: {value}\n", key, value):
        return f"{pad}{key}: {value}\n"
    lines = textwrap.wrap(value, width=max(30, width - indent - 2), break_long_words=False, break_on_hyphens=False)
    block = f"{key}: >-\n" + "".join(f"  {line}\n" for line in lines)
    if lines and _same(block, key, value):
        return "".join(pad + line + "\n" for line in block.splitlines())
    quoted = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=float("inf")).strip()
    if quoted.endswith("\n..."):  # pragma: no cover - only plain scalars get a document-end marker
        quoted = quoted[:-4].strip()
    return f"{pad}{key}: {quoted}\n"


def area_yaml(area: str, items: list[ItemSource]) -> str:
    """One area's items file, in the format of item_bank/content/items/<area>.yaml."""
    out = [f"area: {area}\n", "items:\n"]
    for n, item in enumerate(items):
        if n:
            out.append("\n")
        out.append(f"  - id: {item.external_id}\n")
        out.append(f"    difficulty: {_number(item.difficulty)}\n")
        if item.teaches:
            out.append(f"    teaches: {item.teaches}\n")
        out.append(_yaml_field("scenario", item.scenario, 4))
        out.append(_yaml_field("question", item.question, 4, plain_ok=True))
        out.append("    options:\n")
        for option in item.options:
            text = _yaml_field("text", option["text"], 8)
            out.append("      - " + text[8:])
            out.append(_yaml_field("rationale", option["rationale"], 8))
        out.append(f"    key: {KEY_LETTERS[item.key_index]}\n")
        if item.enemies:
            out.append(f"    enemies: [{', '.join(item.enemies)}]\n")
        if item.status != "operational":
            out.append(f"    status: {item.status}\n")
        if not item.shuffle:
            out.append("    shuffle: false\n")
    return "".join(out)


# ------------------------------------------------------------------ import


def import_items(path: str | os.PathLike, *, area: str | None = None, difficulty: float | None = None,
                 areas: list[Area] | None = None) -> list[ItemSource]:
    """Read items from a file or directory (see the module docstring); all of them, or an error."""
    path = Path(path)
    areas = areas if areas is not None else load_areas()
    if not path.exists():
        raise ContentError([f"{path}: no such file or directory"])
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
        if not files:
            raise ContentError([f"{path}: no .yaml or .yml files in this directory"])
        total = sum(p.stat().st_size for p in files)
        if total > MAX_IMPORT_BYTES:
            raise ContentError([f"{path}: too large ({total} bytes of YAML; the import limit is "
                                f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB)"])
        items, problems = _import_yaml(files)
    else:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise ContentError([f"{path}: too large ({size} bytes; the import limit is "
                                f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB)"])
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            items, problems = _import_yaml([path])
        elif suffix == ".json":
            items, problems = _import_json(path)
        elif suffix in (".zip", ".xml"):
            default_area = _default_area(area, areas)
            default_difficulty = DEFAULT_DIFFICULTY if difficulty is None else difficulty
            limits = qti.Limits(max_package_bytes=MAX_IMPORT_BYTES)
            if suffix == ".zip":
                items = qti.read_package(path, area=default_area, difficulty=default_difficulty, limits=limits)
            else:
                items = [qti.read_item_file(path, area=default_area, difficulty=default_difficulty, limits=limits)]
            problems = []
        else:
            raise ContentError([f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected a directory "
                                "of YAML files, .yaml/.yml, .json, .zip (QTI 3.0 package) or .xml (QTI 3.0 item)"])
    problems.extend(check_items(items, areas))
    if problems:
        raise ContentError(problems)
    return items


def _default_area(area: str | None, areas: list[Area]):
    """The rule for QTI items without Certamen metadata: the given area, else the one whose code prefixes the id."""
    by_code = {a.code: a.slug for a in areas}

    def resolve(item_id: str) -> str | None:
        if area:
            return area
        return by_code.get((item_id or "").split("-", 1)[0])

    return resolve


def check_items(items: list[ItemSource], areas: list[Area]) -> list[str]:
    """Known areas, ids prefixed with their area's code, and the bank's cross-item rules."""
    slugs = {a.slug: a for a in areas}
    problems = []
    for item in items:
        known = slugs.get(item.area)
        if known is None:
            problems.append(f"{item.source}: {item.external_id}: unknown area {item.area!r} "
                            f"(known: {', '.join(sorted(slugs))})")
        elif not item.external_id.startswith(known.code + "-"):
            problems.append(f"{item.source}: {item.external_id}: id must start with the area code {known.code}-")
    return problems + check_bank_rules(items)


def _import_yaml(files: list[Path]) -> tuple[list[ItemSource], list[str]]:
    items: list[ItemSource] = []
    problems: list[str] = []
    for path in files:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            problems.append(f"{path}: too large ({size} bytes; the import limit is {MAX_IMPORT_BYTES} bytes)")
            continue
        try:
            raw = _load_yaml(path)
        except ContentError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
            problems.append(f"{path}:1: expected a mapping with 'area' and a list 'items'")
            continue
        area = raw.get("area")
        if not isinstance(area, str) or not area:
            problems.append(f"{path}:{raw.get('__line__', 1)}: 'area' must be an area slug")
            continue
        for entry in raw["items"]:
            where = f"{path}:{entry.get('__line__', '?') if isinstance(entry, dict) else '?'}"
            item = parse_item(entry, area, where, problems)
            if item is not None:
                items.append(item)
    return items, problems


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _import_json(path: Path) -> tuple[list[ItemSource], list[str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"{path}: not UTF-8 text"]
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        return [], [f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"]
    except ValueError as exc:
        return [], [f"{path}: not valid JSON ({exc})"]
    except RecursionError:
        return [], [f"{path}: not valid JSON (nested too deeply)"]
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        return [], [f"{path}: not a Certamen items document (expected \"format\": \"{JSON_FORMAT}\")"]
    version = doc.get("version")
    if version != JSON_VERSION or isinstance(version, bool):
        return [], [f"{path}: unsupported version {version!r} (this Certamen reads version {JSON_VERSION})"]
    if not isinstance(doc.get("items"), list):
        return [], [f"{path}: 'items' must be a list"]
    items: list[ItemSource] = []
    problems: list[str] = []
    for n, entry in enumerate(doc["items"]):
        where = f"{path}:items[{n}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: an item must be an object")
            continue
        label = entry.get("id", "?")
        unknown = sorted(set(entry) - _JSON_FIELDS)
        if unknown:
            problems.append(f"{where}: {label}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        area = entry.get("area")
        if not isinstance(area, str) or not area:
            problems.append(f"{where}: {label}: 'area' must be an area slug")
            continue
        status = entry.get("status", "operational")
        if not isinstance(status, str) or not status:
            problems.append(f"{where}: {label}: 'status' must be text")
            continue
        entry = dict(entry)
        if isinstance(entry.get("options"), list):
            entry["options"] = [dict(o, __line__=f"items[{n}].options[{k}]") if isinstance(o, dict) else o
                                for k, o in enumerate(entry["options"])]
        item = parse_item(entry, area, where, problems)
        if item is not None and not unknown:
            items.append(item)
    return items, problems

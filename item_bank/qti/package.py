"""QTI 3.0 content packages (a zip with imsmanifest.xml). Reading is all-or-nothing, so an import never
half-succeeds; an href that leads out of the package is refused."""
from __future__ import annotations

import os
import posixpath
import re
import zipfile
from collections.abc import Iterable
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from item_bank.content import ItemSource
from item_bank.qti.errors import QTIError
from item_bank.qti.limits import DEFAULT_LIMITS, Limits, Source, read_bounded
from item_bank.qti.reading import AreaArg, item_from_doc
from item_bank.qti.safe_xml import Doc, parse_xml, split_tag
from item_bank.qti.safe_zip import Budget, open_zip, read_entry
from item_bank.qti.spec import CERTAMEN_NS, CP_GENERIC_NS, CP_NS, ITEM_RESOURCE_TYPE, MANIFEST_NAME, XML_NS
from item_bank.qti.writing import item_href, item_to_qti, manifest_xml


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


def _metadata(doc: Doc, resource: ET.Element, cp: str, where: str) -> dict | None:
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
            "status": (ext.get("status") or "operational").strip(),
            "teaches": (ext.get("teaches") or "").strip() or None}


def read_package(fileobj_or_path: Source, *, area: AreaArg = None, difficulty: float | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[ItemSource]:
    """All items of a QTI 3.0 content package, or QTIError listing every problem ('package!entry:line: ...').

    Area, difficulty and enemies come from each resource's Certamen metadata; a resource without it uses
    `area` (a slug, or a function of the item id) and `difficulty`. Resources that are not QTI 3.0 items
    (tests, stimuli, web content) are skipped."""
    name, data = read_bounded(fileobj_or_path, limits.max_package_bytes, "a package")
    zf, entries = open_zip(data, name, limits)
    budget = Budget(limits, name)
    with zf:
        manifest_info = entries.get(MANIFEST_NAME)
        if manifest_info is None:
            nested = next((n for n in entries if n.endswith("/" + MANIFEST_NAME)), None)
            hint = f" (found {nested!r}: zip the folder's contents, not the folder)" if nested else ""
            raise QTIError(f"{name}: {MANIFEST_NAME} is missing from the package root{hint}")
        mname = f"{name}!{MANIFEST_NAME}"
        doc = parse_xml(read_entry(zf, manifest_info, mname, limits, budget), mname, limits)
        cp, local = split_tag(doc.root.tag)
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
                problems.append(f"{doc.at(resource)}: {where}: a QTI 2.x item ({rtype}); "
                                "only QTI 3.0 items are supported")
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


def _read_resource(zf, entries, doc: Doc, resource: ET.Element, cp: str, where: str, area: AreaArg,
                   difficulty: float | None, limits: Limits, budget: Budget, name: str,
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
    item_doc = parse_xml(read_entry(zf, entries[path], source, limits, budget), source, limits)
    if meta is None:
        return item_from_doc(item_doc, area, difficulty, [], "operational")
    return item_from_doc(item_doc, meta["area"], meta["difficulty"], meta["enemies"], meta["status"],
                         meta["teaches"])

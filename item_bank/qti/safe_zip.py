"""Opening an untrusted zip: entry names that escape the package are refused, and sizes and counts are capped
both as the archive declares them and as the bytes actually inflate (zip bombs lie in their headers)."""
from __future__ import annotations

import io
import re
import zipfile
import zlib

from item_bank.qti.errors import QTIError
from item_bank.qti.limits import Limits


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


def open_zip(data: bytes, name: str, limits: Limits) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """The archive and its entries by name, or QTIError listing every refused entry."""
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


class Budget:
    """Uncompressed bytes still allowed for the whole package, counted as entries are actually read."""

    def __init__(self, limits: Limits, name: str):
        self.left = limits.max_total_bytes
        self.name = name

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise QTIError(f"{self.name}: more uncompressed data than the limit allows")


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, limits: Limits, budget: Budget) -> bytes:
    """One entry's bytes, read no further than the cap whatever its header says."""
    try:
        with zf.open(info) as fh:
            data = fh.read(limits.max_entry_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise QTIError(f"{where}: damaged entry ({exc})") from None
    if len(data) > limits.max_entry_bytes:  # the header understated the size
        raise QTIError(f"{where}: entry too large (more than {limits.max_entry_bytes} bytes uncompressed)")
    budget.take(len(data))
    return data

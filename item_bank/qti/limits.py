"""Caps on untrusted input, and a read that applies the size cap before anything is parsed."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from item_bank.qti.errors import QTIError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps applied when reading untrusted input."""

    max_package_bytes: int = 20 * MiB  # the zip file itself
    max_entry_bytes: int = 8 * MiB  # one uncompressed entry (also a standalone item XML)
    max_total_bytes: int = 64 * MiB  # all uncompressed entries together
    max_entries: int = 10_000
    max_depth: int = 64  # XML element nesting


DEFAULT_LIMITS = Limits()

Source = str | os.PathLike | IO[bytes]


def read_bounded(src: Source, cap: int, what: str) -> tuple[str, bytes]:
    """(name for messages, bytes) of a path or binary file object, refusing more than `cap` bytes."""
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        name = str(path)
        try:
            size = path.stat().st_size
            if size > cap:
                raise QTIError(f"{name}: too large ({size} bytes; the limit for {what} is {cap})")
            with path.open("rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            raise QTIError(f"{name}: cannot read ({exc.strerror or exc})") from None
    else:
        name = str(getattr(src, "name", "") or "<package>")
        data = src.read(cap + 1)
        if not isinstance(data, bytes):
            raise QTIError(f"{name}: open the file in binary mode")
    if len(data) > cap:
        raise QTIError(f"{name}: too large (more than {cap} bytes; the limit for {what})")
    return name, data

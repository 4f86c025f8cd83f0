"""Writes item_bank/data/common_passwords.txt from the list Django ships (see item_bank/data/README.md).

    pip download --no-deps django==5.2.17 -d /tmp/django && python scripts/common_passwords.py /tmp/django/*.whl
"""
from __future__ import annotations

import gzip
import sys
import unicodedata
import zipfile
from pathlib import Path

SOURCE = "django/contrib/auth/common-passwords.txt.gz"
TARGET = Path(__file__).resolve().parent.parent / "item_bank" / "data" / "common_passwords.txt"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        lines = gzip.decompress(archive.read(SOURCE)).decode().splitlines()
    seen: dict[str, None] = {}  # keeps the ranking (most common first), drops repeats after folding case
    for line in lines:
        word = unicodedata.normalize("NFKC", line.strip()).casefold()
        if word:
            seen.setdefault(word, None)
    TARGET.write_text("".join(f"{word}\n" for word in seen))
    print(f"{len(seen)} passwords written to {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1])

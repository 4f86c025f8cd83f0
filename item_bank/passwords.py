"""Which passwords a learner may not choose (NIST SP 800-63B, 5.1.1.2).

Length is checked in item_bank.accounts (10 to 1024 characters). Beyond that a password is refused
when it is, or is a small variation of:

- one of the 19,640 most common passwords (item_bank/data/common_passwords.txt: breach corpora, see
  the README there), compared after folding case and Unicode compatibility forms (NFKC: full-width
  digits are digits), ignoring spaces and `-_.` separators, a few leading or trailing digits and
  symbols ("Password2024!"), and the usual letter-for-symbol swaps ("p@ssw0rd");
- a run of repeated or sequential characters ("aaaaaaaaaa", "abcabcabcabc", "0987654321");
- built from context-specific words: the name of this service, the learner's own name and the parts
  of their e-mail address. Those words are taken out of the password; what is left must be at least
  6 characters and pass the two checks above ("adalovelace1815" and "certamen2024!" are refused,
  "Ada's seven noisy parrots" is not).

No composition rules (NIST advises against them) and no online breach look-up: the list ships with
the code, so checking needs no network and reveals nothing to anyone.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

COMMON_LIST = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
SERVICE_WORDS = ("certamen",)
MIN_REMAINDER = 6  # characters left once the learner's own words are taken out
MAX_AFFIX = 6  # digits and symbols around a common word that still make "a small variation" of it
MIN_WORD = 3  # shorter name or address parts are not taken out

TOO_COMMON = ("this password is too common: it, or a small variation of it, is on the lists of passwords "
              "that attackers try first; choose another")
TOO_PERSONAL = ("this password is too close to your name, your e-mail address or the name of this service; "
                "choose another")
TOO_SIMPLE = "this password is only repeated or sequential characters; choose another"

_SEPARATORS = re.compile(r"[\s\-_.]+")
_AFFIXES = re.compile(r"^([^a-z]*)(.*?)([^a-z]*)$", re.S)
_WORDS = re.compile(r"[^\w]+|_")
_SYMBOLS = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum())
# Symbols and digits written for the letters they look like; "1" is tried as both "i" and "l".
_LOOKALIKES = {"@": "a", "4": "a", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t", "!": "i", "|": "l",
               "+": "t", "8": "b", "9": "g"}
_LEET = [str.maketrans({**_LOOKALIKES, "1": "i"}), str.maketrans({**_LOOKALIKES, "1": "l"})]


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(line for line in COMMON_LIST.read_text(encoding="utf-8").splitlines() if line)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", _fold(text))


def _spellings(compact: str) -> set[str]:
    """The password as written, with its digit/symbol affixes removed (if short), and both with
    symbols read as letters."""
    found = {compact}
    head, core, tail = _AFFIXES.match(compact).groups()
    if core and len(head) + len(tail) <= MAX_AFFIX:
        found.add(core)
    bare = compact.strip(_SYMBOLS)  # "1234567890!"
    if bare and len(compact) - len(bare) <= MAX_AFFIX:
        found.add(bare)
    for text in list(found):  # "trustno1trustno1"
        for unit in range(1, len(text) // 2 + 1):
            if len(text) % unit == 0 and text == text[:unit] * (len(text) // unit):
                found.add(text[:unit])
                break
    for text in list(found):
        for table in _LEET:
            found.add(text.translate(table))
    return found


def _is_common(compact: str) -> bool:
    common = common_passwords()
    return any(spelling in common for spelling in _spellings(compact))


def _is_simple(compact: str) -> bool:
    if len(set(compact)) < 4:
        return True
    for unit in range(1, min(5, len(compact) // 2 + 1)):  # a short unit repeated: "abcabcabca"
        if all(compact[i] == compact[i % unit] for i in range(len(compact))):
            return True
    steps = {ord(b) - ord(a) for a, b in zip(compact, compact[1:], strict=False)}
    return steps in ({1}, {-1})  # "abcdefghij", "9876543210"


def context_words(*, name: str = "", email: str = "") -> list[str]:
    """The words of this learner and service that a password must not be made of, longest first."""
    words = {_fold(w) for w in SERVICE_WORDS}
    email = _fold(email or "").strip()
    if email:
        local, _, domain = email.partition("@")
        words.update({email, local, domain})
        words.update(re.split(r"[._+\-]+", local))
        words.update(domain.split("."))
    words.update(_WORDS.split(_fold(name or "")))
    words.add(_compact(name or ""))
    return sorted((w for w in words if len(w) >= MIN_WORD), key=len, reverse=True)


def _without(compact: str, words: list[str]) -> str:
    for word in words:
        compact = compact.replace(_compact(word), "")
    return re.sub(r"[\W_]+", "", compact)


def problem(password: str, *, name: str = "", email: str = "") -> str | None:
    """Why `password` may not be used, or None. Length is checked by the caller."""
    compact = _compact(password)
    if _is_simple(compact):
        return TOO_SIMPLE
    if _is_common(compact):
        return TOO_COMMON
    words = context_words(name=name, email=email)
    for spelling in {compact} | {compact.translate(table) for table in _LEET}:
        rest = _without(spelling, words)
        if rest != re.sub(r"[\W_]+", "", spelling) and (
                len(rest) < MIN_REMAINDER or _is_simple(rest) or _is_common(rest)):
            return TOO_PERSONAL
    return None

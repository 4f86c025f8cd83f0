"""The 1EdTech Open Badges 3.0 AchievementCredential JSON Schema (../shared/data/conformance/schemas).

The schema is the JSON-LD "strict" variant: it also wants ``proof`` as an array, which the OB 3.0
model does not require (``proof`` 0..*, and one proof object is the same JSON-LD as a list of one),
so that one property is judged by the model: a single proof is validated as a list of one.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft201909Validator

SCHEMA = (Path(__file__).resolve().parents[3] / "shared" / "data" / "conformance" / "schemas"
          / "ob_v3p0_achievementcredential_schema.json")


@lru_cache(maxsize=1)
def _validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def ob_schema_errors(credential: dict) -> list[str]:
    """Every way ``credential`` breaks the OB 3.0 AchievementCredential schema (empty: it conforms)."""
    doc = dict(credential)
    if isinstance(doc.get("proof"), dict):
        doc["proof"] = [doc["proof"]]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in _validator().iter_errors(doc)]

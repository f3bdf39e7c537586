"""The block catalog (catalog.json, generated from common/block-catalog.ts) and parameter checks.

TypeScript validates the same schemas before a container starts; this is the second check,
inside the runner, against the JSON Schema (draft 2020-12) the catalog holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import errors as E


def catalog_path() -> Path:
    """$RAGOMICS_CATALOG (set in the image), else catalog.json next to the package or in blocks/."""
    env = os.environ.get("RAGOMICS_CATALOG")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "catalog.json", here.parent.parent / "catalog.json"):
        if candidate.is_file():
            return candidate
    return here.parent.parent / "catalog.json"


def load_catalog() -> dict[str, Any]:
    """The catalog's `blocks` object (name -> JSON Schema). BlockCrashed when it cannot be read."""
    path = catalog_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["blocks"]
    except (OSError, ValueError, KeyError) as exc:
        raise E.BlockCrashed(f"block catalog {path} unreadable: {E.short_exc(exc)}") from None


def validate_parameters(block_name: str, schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Validate against the catalog's JSON Schema (2020-12) and return parameters with defaults.

    Raises InvalidParameters naming the parameter (or the unknown one) on the first failure."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    props: dict[str, Any] = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(k for k in params if k not in props)
        if unknown:
            allowed = ", ".join(props) or "none"
            raise E.InvalidParameters(f"unknown parameter {unknown[0]!r} for block {block_name} (allowed: {allowed})")
    validator = Draft202012Validator(schema)
    error = best_match(validator.iter_errors(params))
    if error is not None:
        path = list(error.absolute_path)
        name = str(path[0]) if path else None
        if name is None and error.validator == "required" and isinstance(error.instance, dict):
            # The schema's required names, less those given: read from the error's data, not its text.
            missing = [n for n in error.validator_value if n not in error.instance]
            name = str(missing[0]) if missing else None
        detail = error.message
        if error.validator in ("anyOf", "oneOf") and error.context:
            detail = "; ".join(sorted({e.message for e in error.context}))
        where = f"parameter {name!r} of block {block_name}" if name else f"parameters of block {block_name}"
        raise E.InvalidParameters(f"{where}: {detail}")
    out = dict(params)
    for key, sub in props.items():
        if key not in out and isinstance(sub, dict) and "default" in sub:
            out[key] = sub["default"]
    return out

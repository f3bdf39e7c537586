"""The job: where job.json is, and the checks of its shape (blocks/README.md "Runtime contract").

Only the shape is checked here; parameters are validated against the block (catalog.py for
built-in blocks, run()'s signature for inline code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import errors as E
from .paths import Workspace


def job_path(ws: Workspace, job_arg: str | None) -> Path:
    """`--job` as given (rebased from `/workspace/...` when it does not exist), else <workspace>/job.json."""
    if not job_arg:
        return ws.root / "job.json"
    path = Path(job_arg)
    return path if path.exists() else Path(ws.rebase(job_arg))


def load_job(path: Path) -> dict[str, Any]:
    """Read and check job.json; returns it with `block.parameters` always a dict.

    Raises InvalidParameters for a missing, unreadable or malformed file, and InvalidBlockCode for
    inline code that is not a non-empty string."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise E.InvalidParameters(f"job file {path} does not exist") from None
    except OSError as exc:
        raise E.InvalidParameters(f"job file {path} cannot be read: {exc}") from None
    try:
        job = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise E.InvalidParameters(f"job file {path} is not valid JSON: {exc}") from None
    if not isinstance(job, dict):
        raise E.InvalidParameters("job file must hold a JSON object")
    block = job.get("block")
    if not isinstance(block, dict):
        raise E.InvalidParameters("job.block must be an object with 'name' or 'code'")
    params = block.get("parameters", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise E.InvalidParameters("block.parameters must be an object")
    block["parameters"] = params
    has_name, has_code = "name" in block, "code" in block
    if has_name == has_code:
        raise E.InvalidParameters("job.block must have exactly one of 'name' (built-in) or 'code' (inline)")
    if has_name and not isinstance(block["name"], str):
        raise E.InvalidParameters("block.name must be a string")
    if has_code and (not isinstance(block["code"], str) or not block["code"].strip()):
        raise E.InvalidBlockCode("block.code must be a non-empty string of Python source")
    return job

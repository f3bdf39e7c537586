"""The job: where job.json is, and the checks of its shape (blocks/README.md "Runtime contract").

Only the shape is checked here; parameters are validated against the block (catalog.py for
built-in blocks, run()'s signature for inline code).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import errors as E
from .contract import JOB_FILE
from .paths import Workspace

# Input keys become file names (inputs/<key>.h5ad): the same alphabet as node and sample ids.
INPUT_KEY_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def job_path(ws: Workspace, job_arg: str | None) -> Path:
    """`--job` as given (rebased from `/workspace/...` when it does not exist), else <workspace>/job.json."""
    if not job_arg:
        return ws.root / JOB_FILE
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
    except UnicodeDecodeError as exc:
        raise E.InvalidParameters(f"job file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        job = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise E.InvalidParameters(f"job file {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise E.InvalidParameters(f"job file {path} is nested too deeply to read") from None
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
    if job.get("inputs") is not None:
        job["inputs"] = check_inputs(job["inputs"])
    if job.get("sample") is not None:
        job["sample"] = check_sample(job["sample"], "job.sample")
    return job


def check_inputs(inputs: Any) -> list[dict[str, Any]]:
    """The `inputs` of a multi-input node: a list of {key, path, sample?}, keys unique and file-safe.

    InvalidParameters naming the entry and field otherwise."""
    if not isinstance(inputs, list) or not inputs:
        # Empty too: a multi-input node reads at least one input (a gather has a sample or more).
        raise E.InvalidParameters("job.inputs must be a non-empty list of {key, path, sample?} objects")
    seen: set[str] = set()
    for i, entry in enumerate(inputs):
        where = f"job.inputs[{i}]"
        if not isinstance(entry, dict):
            raise E.InvalidParameters(f"{where} must be an object with 'key' and 'path'")
        key = entry.get("key")
        if not isinstance(key, str) or not INPUT_KEY_RE.match(key) or key in (".", ".."):
            raise E.InvalidParameters(f"{where}.key must be 1-128 letters, digits, '-', '_' or '.' (got {key!r})")
        if key in seen:
            raise E.InvalidParameters(f"{where}.key {key!r} appears twice")
        seen.add(key)
        if not isinstance(entry.get("path"), str) or not entry["path"]:
            raise E.InvalidParameters(f"{where}.path must be a non-empty string")
        if entry.get("sample") is not None:
            entry["sample"] = check_sample(entry["sample"], f"{where}.sample")
    return inputs


def check_sample(sample: Any, where: str) -> dict[str, Any]:
    """A {sample: id, columns: {name: string}} object (InvalidParameters naming `where` otherwise)."""
    if not isinstance(sample, dict) or not isinstance(sample.get("sample"), str):
        raise E.InvalidParameters(f"{where} must be an object with a string 'sample'")
    columns = sample.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        raise E.InvalidParameters(f"{where}.columns must map column names to strings")
    return {"sample": sample["sample"], "columns": columns}

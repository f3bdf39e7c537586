"""What the runner leaves in output/: the folder itself, result.json on success, error.json and
the RAGOMICS_ERROR line on failure. Every file goes to a temporary name first and is then
`os.replace`d, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from . import errors as E
from .contract import ERROR_LINE_PREFIX
from .paths import Workspace

NO_ANNDATA: dict[str, Any] = {"shape": None, "obsColumns": [], "obsmKeys": []}


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync it, and rename it over `path`; a failed
    write leaves no temp file behind. A lone surrogate (a non-UTF-8 file name decoded with
    surrogateescape, `\\udce9` in JSON) is written as its backslash escape, which JSON reads back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def prepare_output_dir(ws: Workspace) -> None:
    """Make sure output/ and output/figures exist and are writable; remove a stale result.json or
    error.json of an earlier attempt in the same folder. OutputError otherwise."""
    if not ws.output_dir.is_dir():
        try:
            ws.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise E.OutputError(f"output folder {ws.output_dir} is missing and cannot be created: {exc}") from None
    if not os.access(ws.output_dir, os.W_OK):
        raise E.OutputError(f"output folder {ws.output_dir} is not writable")
    for stale in (ws.error_path, ws.result_path):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise E.OutputError(f"cannot remove stale {stale}: {exc}") from None
    try:
        ws.figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise E.OutputError(f"figures folder {ws.figures_dir} cannot be created: {exc}") from None


def file_facts(path: Path) -> dict[str, int] | None:
    """Size and identity of a file: a child's input with the parent's inode is the parent's file itself."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"bytes": int(st.st_size), "inode": int(st.st_ino), "device": int(st.st_dev)}


def write_manifest(ws: Workspace, manifest: dict[str, Any]) -> None:
    """Write result.json (strict JSON: NaN or infinity is an OutputError)."""
    try:
        atomic_write_text(ws.result_path, json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    except (OSError, ValueError) as exc:
        raise E.OutputError(f"result manifest {ws.result_path} could not be written: {exc}") from None


def write_error(ws: Workspace, err: E.RunnerError) -> None:
    """Report a failure: the traceback and a one-line explanation on stderr, error.json (with the
    traceback) when it can be written, and as the last stderr line `RAGOMICS_ERROR {code,type,message}`."""
    obj: dict[str, Any] = {"code": err.code, "type": err.type, "message": err.message}
    if err.traceback_text:
        sys.stderr.write(err.traceback_text.rstrip("\n") + "\n")
    sys.stderr.write(f"ragomics_runner: {err.type} (exit {err.code}): {err.message}\n")
    line = json.dumps(obj, ensure_ascii=False)
    if err.traceback_text:
        obj["traceback"] = err.traceback_text
    try:
        atomic_write_text(ws.error_path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"ragomics_runner: could not write {ws.error_path}: {exc}\n")
    sys.stdout.flush()
    sys.stderr.write(f"{ERROR_LINE_PREFIX}{line}\n")
    sys.stderr.flush()

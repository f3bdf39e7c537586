"""AnnData in and out: reading the input, writing the output, describing it for result.json.

anndata is imported inside each function: the runner imports it after the job checks, and that
import is booked as import time in `timings`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import errors as E
from .paths import Workspace


def configure_scanpy(ws: Workspace) -> None:
    """Point scanpy's figure, cache and data folders at the workspace and /tmp, if it is imported."""
    sc = sys.modules.get("scanpy")
    if sc is None:
        return
    try:
        sc.settings.figdir = str(ws.figures_dir)
        sc.settings.autoshow = False
        sc.settings.autosave = False
        sc.settings.cachedir = os.path.join(tempfile.gettempdir(), "scanpy-cache")
        sc.settings.datasetdir = os.path.join(tempfile.gettempdir(), "scanpy-data")
    except Exception:  # noqa: BLE001 - settings are a convenience only
        pass


def load_input(ws: Workspace, required: bool) -> Any:
    """The input AnnData, or None when there is none and none is required (else InputMissing)."""
    path = ws.input_path
    if not path.exists():
        if required:
            raise E.InputMissing(f"input AnnData {path} does not exist (this block needs an input)")
        return None
    try:
        import anndata

        return anndata.read_h5ad(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever anndata raises, the file is unreadable
        raise E.InputMissing(f"input AnnData {path} is unreadable: {E.short_exc(exc)}", E.current_traceback()) from None


def write_output(ws: Workspace, adata: Any) -> None:
    """Write `adata` to a temporary name, then replace the output with it (OutputError on failure)."""
    tmp = ws.output_dir / f".tmp-{os.getpid()}-{ws.output_path.name}"
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, ws.output_path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the writer raises, the output is not written
        try:
            tmp.unlink()
        except OSError:
            pass
        raise E.OutputError(
            f"output AnnData {ws.output_path} could not be written: {E.short_exc(exc)}", E.current_traceback()
        ) from None


def describe(adata: Any) -> dict[str, Any]:
    """Shape, obs columns and obsm keys of an AnnData, for result.json."""
    return {
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "obsColumns": [str(c) for c in adata.obs.columns],
        "obsmKeys": [str(k) for k in adata.obsm.keys()],
    }


def describe_file(path: Path) -> dict[str, Any]:
    """describe() of an .h5ad the block wrote itself, opened backed (OutputError if unreadable)."""
    import anndata

    try:
        ad = anndata.read_h5ad(path, backed="r")
    except Exception as exc:  # noqa: BLE001 - whatever anndata raises, the output is unusable
        raise E.OutputError(
            f"block wrote {path} but it is not a readable AnnData: {E.short_exc(exc)}", E.current_traceback()
        ) from None
    try:
        return describe(ad)
    finally:
        try:
            ad.file.close()
        except Exception:  # noqa: BLE001 - closing a read-only handle may not fail the node
            pass


def is_anndata(obj: Any) -> bool:
    """True for an AnnData (without importing anndata when nothing did)."""
    mod = sys.modules.get("anndata")
    return mod is not None and isinstance(obj, mod.AnnData)

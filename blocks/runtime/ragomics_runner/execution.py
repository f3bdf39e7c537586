"""Calling the block's run() and taking apart what it returned.

run() may return an AnnData, None, or (AnnData | None, info) where info holds any of `metrics`,
`summary`, `suggestedChildren`, `figures`; info goes into the report state like report.* calls.
"""

from __future__ import annotations

import sys
from typing import Any

from . import errors as E
from . import report
from .anndata_io import is_anndata
from .loading import LoadedBlock

INFO_KEYS = ("metrics", "summary", "suggestedChildren", "figures")


def call_block(loaded: LoadedBlock, adata: Any) -> Any:
    """`loaded.run(adata=adata, **parameters)`; what it raises becomes BlockCrashed.

    RunnerError and MemoryError pass through (they carry their own exit code); sys.exit(0) or
    sys.exit(None) counts as returning None."""
    try:
        return loaded.run(adata=adata, **loaded.parameters)
    except E.RunnerError:
        raise
    except MemoryError:
        raise
    except SystemExit as exc:
        if exc.code in (None, 0):
            return None
        raise E.BlockCrashed(f"block {loaded.label} called sys.exit({exc.code!r})", E.current_traceback()) from None
    except Exception as exc:  # noqa: BLE001 - any exception of the block is its crash
        raise E.BlockCrashed(f"block {loaded.label} raised {E.short_exc(exc)}", E.current_traceback()) from None


def split_result(label: str, returned: Any) -> tuple[Any, dict[str, Any]]:
    """(AnnData or None, info) from run()'s return value; BlockCrashed for anything else."""
    info: dict[str, Any] = {}
    result_adata = returned
    if isinstance(returned, tuple):
        if len(returned) != 2 or not isinstance(returned[1], dict):
            raise E.BlockCrashed(f"block {label}: run() returned a tuple; expected (AnnData, dict)")
        result_adata, info = returned
    if result_adata is not None and not is_anndata(result_adata):
        raise E.BlockCrashed(
            f"block {label}: run() returned {type(result_adata).__name__}; expected AnnData, None or (AnnData, dict)"
        )
    return result_adata, info


def apply_info(label: str, info: dict[str, Any]) -> None:
    """Record the returned info like the report.* calls would; BlockCrashed when it is malformed.

    Unknown keys are ignored with a note on stderr."""
    try:
        for key, value in (info.get("metrics") or {}).items():
            report.metric(str(key), value)
        if info.get("summary"):
            report.summary(info["summary"])
        for i, child in enumerate(info.get("suggestedChildren") or []):
            report._state["suggested"].append(report.validate_child(child, f"suggestedChildren[{i}]"))
        for fig in info.get("figures") or []:
            report._state["figures"].append(str(fig))
    except (ValueError, TypeError, AttributeError) as exc:
        raise E.BlockCrashed(f"block {label}: invalid result info: {exc}") from None
    unknown = sorted(set(info) - set(INFO_KEYS))
    if unknown:
        sys.stderr.write(f"ragomics_runner: ignoring unknown result keys: {', '.join(unknown)}\n")

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


def input_argument(loaded: LoadedBlock, multi: bool, count: int, node: str = "") -> str:
    """"adata" or "adatas": how the block takes its input(s); InputCountMismatch when it cannot.

    A block whose run() names `adatas` takes a multi-input node's inputs, one naming `adata`
    takes a single input; one naming both takes either; one naming neither (only **kwargs, or a
    signature that cannot be read) gets whichever the node has. `multi` is whether the node has
    `inputs` (even one), `count` how many inputs it has (for the message)."""
    named = loaded.arguments
    if named is None or ("adata" in named) == ("adatas" in named):
        return "adatas" if multi else "adata"
    if multi and "adata" in named:
        raise E.InputCountMismatch(
            f"block {loaded.label}{node} takes one input (run(adata=...)) but the node has {count} inputs; "
            "use a block that takes several (run(adatas=...))"
        )
    if not multi and "adatas" in named:
        raise E.InputCountMismatch(
            f"block {loaded.label}{node} takes several inputs (run(adatas=...)) but the node has {count} "
            f"input{'' if count == 1 else 's'}; give it `inputs` or use a block that takes one (run(adata=...))"
        )
    return "adatas" if multi else "adata"


def sample_kwargs(loaded: LoadedBlock, job: dict[str, Any]) -> dict[str, Any]:
    """`samples=` (key -> {"sample": id, **columns}, for the inputs that carry a sample) and
    `sample=` ({"sample": id, **columns}), each only when run() declares it and the node has it."""
    named = loaded.arguments or frozenset()
    out: dict[str, Any] = {}
    if "samples" in named and job.get("inputs") is not None:
        out["samples"] = {
            e["key"]: {**e["sample"]["columns"], "sample": e["sample"]["sample"]}
            for e in job["inputs"]
            if e.get("sample")
        }
    if "sample" in named and job.get("sample"):
        out["sample"] = {**job["sample"]["columns"], "sample": job["sample"]["sample"]}
    return out


def call_block(loaded: LoadedBlock, adata: Any, data: dict[str, Any] | None = None) -> Any:
    """`loaded.run(adata=adata, **parameters)`, or `run(**data, **parameters)` when `data` (the
    input arguments: `adatas=`, `samples=`, ...) is given; what it raises becomes BlockCrashed.

    RunnerError and MemoryError pass through (they carry their own exit code); sys.exit(0) or
    sys.exit(None) counts as returning None."""
    try:
        return loaded.run(**({"adata": adata} if data is None else data), **loaded.parameters)
    except E.RunnerError:
        raise
    except MemoryError:
        raise
    except SystemExit as exc:
        if exc.code in (None, 0):
            return None
        raise E.BlockCrashed(f"block {loaded.label} called sys.exit({exc.code!r})", E.current_traceback()) from None
    except KeyboardInterrupt:
        raise  # SIGINT: the runner's own stop, reported as such
    except BaseException as exc:  # noqa: BLE001 - any exception of the block (GeneratorExit too) is its crash
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

"""What a block tells the runner besides its AnnData: metrics, a summary, suggested children,
progress and figures.

Usage inside a block (built-in or inline)::

    from ragomics_runner import report
    report.metric("n_clusters", 8)
    report.summary("8 Leiden clusters at resolution 1.0")
    report.suggest_child(block={"name": "marker_genes", "parameters": {}}, priority=1)
    report.progress(0.5, "clustering")
    report.savefig(fig, "umap.png")   # -> output/figures/umap.png

The runner resets this state before each run and reads it afterwards into result.json.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import sys
from pathlib import Path
from typing import Any

from .contract import PROGRESS_LINE_PREFIX

_state: dict[str, Any] = {}
_paths: dict[str, Path] = {}


def _reset(output_dir: Path | None = None) -> None:
    _state.clear()
    _state.update(metrics={}, summary=None, suggested=[], figures=[])
    if output_dir is not None:
        _paths["output"] = Path(output_dir)
        _paths["figures"] = Path(output_dir) / "figures"


_reset()


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Convert numpy scalars/arrays, pandas objects, paths etc. to plain JSON values."""
    if _depth > 20:
        return str(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, Path):
        return str(value)
    # numpy / pandas without importing them eagerly
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return to_jsonable(tolist(), _depth + 1)
        except Exception:  # noqa: BLE001
            pass
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return to_jsonable(item(), _depth + 1)
        except Exception:  # noqa: BLE001
            pass
    return str(value)


def metric(key: str, value: Any) -> None:
    """Record one metric (any JSON-able value; numpy values are converted)."""
    if not isinstance(key, str) or not key:
        raise ValueError("metric key must be a non-empty string")
    _state["metrics"][key] = to_jsonable(value)


def metrics(values: dict[str, Any]) -> None:
    """Record several metrics at once."""
    for k, v in dict(values).items():
        metric(k, v)


def summary(text: str) -> None:
    """Set the one-line summary of this node."""
    _state["summary"] = " ".join(str(text).split())


def validate_child(child: Any, where: str = "suggested child") -> dict[str, Any]:
    """Check one suggested child and return it with only the keys the orchestrator accepts."""
    if not isinstance(child, dict):
        raise ValueError(f"{where} must be an object with a 'block'")
    block = child.get("block")
    if not isinstance(block, dict) or not (isinstance(block.get("name"), str) or isinstance(block.get("code"), str)):
        raise ValueError(f"{where}: 'block' must be {{'name': ..., 'parameters': {{...}}}} or {{'code': ...}}")
    params = block.get("parameters", {})
    if not isinstance(params, dict):
        raise ValueError(f"{where}: block 'parameters' must be an object")
    block = dict(block)
    block.setdefault("parameters", {})
    out: dict[str, Any] = {"block": to_jsonable(block)}
    priority = child.get("priority", 0)
    # numbers.Real: numpy integers and floats too (np.float64 subclasses float, np.int64 not int).
    if isinstance(priority, bool) or not isinstance(priority, numbers.Real) or not math.isfinite(float(priority)):
        raise ValueError(f"{where}: 'priority' must be a finite number")
    out["priority"] = to_jsonable(priority)
    if child.get("id") is not None:
        cid = child["id"]
        if not isinstance(cid, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", cid) or ".." in cid:
            raise ValueError(f"{where}: 'id' must be letters, digits, '-', '_', '.' (got {cid!r})")
        out["id"] = cid
    return out


def suggest_child(block: dict[str, Any], priority: float = 0, id: str | None = None) -> None:
    """Suggest a child node to run on this node's output."""
    child: dict[str, Any] = {"block": block, "priority": priority}
    if id is not None:
        child["id"] = id
    _state["suggested"].append(validate_child(child, f"suggested child #{len(_state['suggested'])}"))


def progress(fraction: float, message: str = "") -> None:
    """Print one progress line on stdout; the worker turns it into a Temporal heartbeat."""
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        f = 0.0
    if not math.isfinite(f):
        f = 0.0
    f = min(1.0, max(0.0, f))
    line = json.dumps({"fraction": round(f, 4), "message": " ".join(str(message).split())})
    sys.stdout.write(f"{PROGRESS_LINE_PREFIX}{line}\n")
    sys.stdout.flush()


def output_dir() -> Path:
    """The output folder of this node (``<workspace>/output``)."""
    return _paths.get("output", Path("/workspace/output"))


def figures_dir() -> Path:
    """The figures folder (``<workspace>/output/figures``), created on demand."""
    d = _paths.get("figures", output_dir() / "figures")
    d.mkdir(parents=True, exist_ok=True)
    return d


def savefig(fig: Any = None, name: str = "figure.png", dpi: int = 100, bbox_inches: str | None = "tight") -> str:
    """Save a matplotlib figure (default: the current one) under output/figures and close it.

    Returns the path relative to the output folder, e.g. ``figures/pca_variance.png``.
    ``bbox_inches`` is matplotlib's: ``"tight"`` (the default) crops the figure to what is drawn,
    which draws it twice; ``None`` keeps the figure's own size and margins and draws it once
    (about half the time for a small figure), for a block that lays its figure out itself.
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.gcf()
    name = os.path.basename(str(name))
    if "." not in name:
        name += ".png"
    # A hidden name would be skipped by the figure listing (and ".png" alone is hidden); the temp
    # name below adds about 20 characters to a file name limited to 255.
    if name.startswith(".") or len(name.encode("utf-8", "backslashreplace")) > 200:
        raise ValueError(f"figure name {name!r}: give a name that does not start with '.' and has at most 200 bytes")
    target = figures_dir() / name
    tmp = target.with_name(f".tmp-{os.getpid()}-{name}")
    fig.savefig(tmp, dpi=dpi, bbox_inches=bbox_inches, format=name.rsplit(".", 1)[1])
    os.replace(tmp, target)
    plt.close(fig)
    rel = f"figures/{name}"
    if rel not in _state["figures"]:
        _state["figures"].append(rel)
    return rel


def _snapshot() -> dict[str, Any]:
    return {
        "metrics": dict(_state["metrics"]),
        "summary": _state["summary"],
        "suggestedChildren": list(_state["suggested"]),
        "figures": list(_state["figures"]),
    }

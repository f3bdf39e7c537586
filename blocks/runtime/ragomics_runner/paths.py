"""Workspace layout, and the `/workspace` rebase used when the runner works in a host folder.

Inside the container the workspace is `/workspace`. The local executor runs the same runner with
`--workspace DIR`; seed-convention code that writes to the literal path
`/workspace/output/_node_anndata.h5ad` (or saves figures there) is then redirected to `DIR/...`
by small wrappers around AnnData.write_h5ad/read_h5ad and Figure.savefig.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

from .contract import ANNDATA_FILE, ERROR_FILE, FIGURES_DIR, RESULT_FILE

CONTAINER_WORKSPACE = "/workspace"
ANNDATA_NAME = ANNDATA_FILE


class Workspace:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.input_dir = self.root / "input"
        self.input_path = self.input_dir / ANNDATA_NAME
        # A multi-input node's inputs, one file per key: inputs/<key>.h5ad.
        self.inputs_dir = self.root / "inputs"
        self.output_dir = self.root / "output"
        self.output_path = self.output_dir / ANNDATA_NAME
        self.figures_dir = self.output_dir / FIGURES_DIR
        self.result_path = self.output_dir / RESULT_FILE
        self.error_path = self.output_dir / ERROR_FILE

    def input_of(self, key: str) -> Path:
        """`inputs/<key>.h5ad`: where the input `key` of a multi-input node is (mounted or linked)."""
        return self.inputs_dir / f"{key}.h5ad"

    @property
    def rebased(self) -> bool:
        return str(self.root) != CONTAINER_WORKSPACE

    def rebase(self, path: Any) -> Any:
        """Map `/workspace/...` to `<root>/...`; anything else is returned unchanged."""
        if not self.rebased or not isinstance(path, (str, os.PathLike)):
            return path
        s = os.fspath(path)
        if isinstance(s, bytes):
            return path
        if s == CONTAINER_WORKSPACE or s.startswith(CONTAINER_WORKSPACE + "/"):
            return str(self.root) + s[len(CONTAINER_WORKSPACE):]
        return path


_patched: set[str] = set()


def _wrap_first_arg(owner: Any, attr: str, ws: Workspace, method: bool) -> None:
    key = f"{getattr(owner, '__name__', owner)!s}.{attr}"
    original = getattr(owner, attr, None)
    if original is None or key in _patched or getattr(original, "_ragomics_rebased", False):
        return
    if method:

        @functools.wraps(original)
        def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            if args:
                args = (ws.rebase(args[0]),) + tuple(args[1:])
            for k in ("filename", "fname", "path"):
                if k in kwargs:
                    kwargs[k] = ws.rebase(kwargs[k])
            return original(self, *args, **kwargs)

    else:

        @functools.wraps(original)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            if args:
                args = (ws.rebase(args[0]),) + tuple(args[1:])
            for k in ("filename", "fname", "path"):
                if k in kwargs:
                    kwargs[k] = ws.rebase(kwargs[k])
            return original(*args, **kwargs)

    wrapper._ragomics_rebased = True  # type: ignore[attr-defined]
    setattr(owner, attr, wrapper)
    _patched.add(key)


def install_rebase(ws: Workspace) -> None:
    """Redirect `/workspace/...` paths in the usual AnnData/scanpy/matplotlib I/O calls.

    Safe to call several times (e.g. again after inline code imported scanpy)."""
    if not ws.rebased:
        return
    if "anndata" in sys.modules:
        import anndata

        _wrap_first_arg(anndata.AnnData, "write_h5ad", ws, method=True)
        _wrap_first_arg(anndata.AnnData, "write", ws, method=True)
        _wrap_first_arg(anndata, "read_h5ad", ws, method=False)
    if "matplotlib" in sys.modules:
        import matplotlib.figure

        _wrap_first_arg(matplotlib.figure.Figure, "savefig", ws, method=True)
    if "scanpy" in sys.modules:
        sc = sys.modules["scanpy"]
        _wrap_first_arg(sc, "read_h5ad", ws, method=False)
        _wrap_first_arg(sc, "read", ws, method=False)

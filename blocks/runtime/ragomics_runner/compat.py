"""Compatibility shims for the pinned packages, installed by the runner before a block is loaded.

`sparray_getnnz`: scanpy 1.11.5 calls `getnnz(axis=1)` on the kNN distance matrix
(scanpy/neighbors/_common.py `_ind_dist_shortcut`; also `rank_genes_groups` and
`scanpy._utils` call `getnnz(axis=0)`), a method only scipy's sparse *matrices* (`spmatrix`)
have: scipy's sparse *arrays* (`sparray`: `csr_array`, `csc_array`, ...) do not have it in
scipy 1.17.1. pynndescent 0.7.0's `PyNNDescentTransformer` returns a `csr_array`, and scanpy
uses that transformer for `sc.pp.neighbors` from 8,192 cells on (euclidean metric; 4,096 for
other metrics), so on every data set that size `neighbors` (the `umap` and `leiden` blocks)
failed with `AttributeError: 'csr_array' object has no attribute 'getnnz'`. Smaller data sets
go through scikit-learn's brute-force `KNeighborsTransformer`, which returns a `csr_matrix`.

The shim gives `sparray` the `getnnz(axis=None)` of `spmatrix` -- the number of *stored*
entries (explicit zeros included): in all for `axis=None`, per row for `axis=1`, per column
for `axis=0` -- and only when scipy's sparse arrays lack the method. Remove it when scanpy no
longer calls `getnnz` on sparse arrays (or converts pynndescent's output to a `csr_matrix`)
in the pinned scanpy version, i.e. when `sc.pp.neighbors` on > 8,192 cells works without it
(test/blocks-image.test.ts has that case).
"""

from __future__ import annotations

from typing import Any


def _sparray_getnnz(self: Any, axis: int | None = None) -> Any:
    """Number of stored values, including explicit zeros (scipy's `spmatrix.getnnz`).

    axis: None for the whole array, 0 for a count per column, 1 for a count per row."""
    import numpy as np

    if axis is None:
        return int(self.nnz)
    if getattr(self, "ndim", 2) == 2 and self.format in ("csr", "csc"):
        if axis < 0:
            axis += 2
        if axis not in (0, 1):
            raise ValueError("axis out of bounds")
        nnz = int(self.indptr[-1])
        # CSR stores rows (per-row counts are the indptr steps), CSC stores columns.
        along_major = (self.format == "csr") == (axis == 1)
        if along_major:
            return np.diff(self.indptr)
        minor = self.shape[1] if self.format == "csr" else self.shape[0]
        return np.bincount(np.asarray(self.indices[:nnz], dtype=np.intp), minlength=minor)
    inner = getattr(self, "_getnnz", None)  # scipy's own implementation for the other formats
    if inner is None:
        raise NotImplementedError(f"getnnz(axis={axis}) is not implemented for {type(self).__name__}")
    return inner(axis=axis)


def install_sparray_getnnz() -> bool:
    """Add `getnnz` to scipy's sparse arrays when they lack it. Returns True when installed."""
    try:
        import scipy.sparse as sp
    except ImportError:
        return False
    sparray = getattr(sp, "sparray", None)
    csr_array = getattr(sp, "csr_array", None)
    if sparray is None or csr_array is None or hasattr(csr_array, "getnnz"):
        return False
    sparray.getnnz = _sparray_getnnz  # type: ignore[attr-defined]
    return True


def install() -> None:
    """Every shim of this module (each one a no-op when the installed packages do not need it)."""
    install_sparray_getnnz()

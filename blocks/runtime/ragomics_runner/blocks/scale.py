"""Scale each gene to unit variance and zero mean (scanpy.pp.scale), clipped at max_value."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import report
from ._common import plt, require_cells, scanpy, x_min_max


def run(adata: Any = None, max_value: float | None = 10, zero_center: bool = True) -> Any:
    sc = scanpy()
    require_cells(adata, "scale", 2)
    sc.pp.scale(adata, max_value=max_value, zero_center=zero_center)
    lo, hi = x_min_max(adata)

    import scipy.sparse as sp

    X = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    rng = np.random.default_rng(0)
    flat = X.ravel()
    sample = flat if flat.size <= 200_000 else rng.choice(flat, 200_000, replace=False)
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6, 3.5))
    ax.hist(sample, bins=100, color="tab:purple")
    ax.set_yscale("log")
    ax.set_xlabel("scaled value")
    ax.set_title(f"scaled expression (max_value={max_value})")
    report.savefig(fig, "scale_histogram.png")

    report.metrics({"min_value": lo, "max_value": hi, "zero_center": zero_center, "clip": max_value})
    report.summary(f"scaled {adata.n_vars} genes over {adata.n_obs} cells (range {lo:.2f} .. {hi:.2f})")
    report.suggest_child(block={"name": "pca", "parameters": {}}, priority=0)
    return adata

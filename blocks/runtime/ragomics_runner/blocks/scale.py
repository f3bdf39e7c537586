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

    # About 200,000 values for the histogram, from whole rows picked at random: only those rows are
    # made dense (a sparse X without zero-centring stays sparse; densifying all of it is a copy of
    # n_cells x n_genes floats, gigabytes on a large dataset).
    rng = np.random.default_rng(0)
    n_rows = min(adata.n_obs, max(1, 200_000 // max(1, adata.n_vars)))
    rows = np.sort(rng.choice(adata.n_obs, n_rows, replace=False))
    part = adata.X[rows]
    sample = (part.toarray() if sp.issparse(part) else np.asarray(part)).ravel()
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

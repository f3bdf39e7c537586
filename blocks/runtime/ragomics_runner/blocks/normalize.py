"""Library-size normalisation (scanpy.pp.normalize_total) and optional log1p.

Keeps the counts in layers['counts'] (if not there yet) and freezes the normalised matrix in
adata.raw, which marker_genes uses later even after scaling or HVG subsetting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import plt, require_cells, scanpy, x_min_max


def _row_sums(adata: Any) -> np.ndarray:
    return np.asarray(adata.X.sum(axis=1)).ravel()


def run(adata: Any = None, target_sum: float = 1e4, log1p: bool = True) -> Any:
    sc = scanpy()
    require_cells(adata, "normalize", 1)
    lo, hi = x_min_max(adata)
    if lo < 0:
        raise E.InvalidParameters("block normalize needs non-negative counts in adata.X (the input looks scaled)")
    if "log1p" in adata.uns and log1p:
        raise E.InvalidParameters("parameter 'log1p': the input is already log-transformed (adata.uns['log1p'] is set)")
    if "counts" not in adata.layers:
        adata.layers["counts"] = adata.X.copy()
    before = _row_sums(adata)
    sc.pp.normalize_total(adata, target_sum=target_sum)
    if log1p:
        sc.pp.log1p(adata)
    after = _row_sums(adata)
    adata.raw = adata

    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(9, 3.5))
    axes[0].hist(before, bins=50, color="tab:gray")
    axes[0].set_title("counts per cell (before)")
    if float(np.ptp(after)) > 1e-6 * max(1.0, float(np.abs(after).max())):
        axes[1].hist(after, bins=50, color="tab:green")
    else:
        # Without log1p every cell sums to target_sum: no spread to draw (numpy refuses 50 bins
        # over a range of rounding errors).
        axes[1].text(0.5, 0.5, f"every cell sums to {float(np.median(after)):g}", ha="center", va="center",
                     transform=axes[1].transAxes)
    axes[1].set_title("sum per cell (after" + (", log1p)" if log1p else ")"))
    fig.tight_layout()
    report.savefig(fig, "normalize_library_size.png")

    report.metrics({
        "target_sum": target_sum,
        "log1p": log1p,
        "median_counts_before": float(np.median(before)),
        "max_value_before": hi,
        "max_value_after": x_min_max(adata)[1],
    })
    report.summary(
        f"normalised {adata.n_obs} cells to {target_sum:g} counts" + (" and log1p-transformed" if log1p else "")
        + f" (median library size was {float(np.median(before)):g})"
    )
    report.suggest_child(block={"name": "highly_variable_genes", "parameters": {}}, priority=0)
    return adata

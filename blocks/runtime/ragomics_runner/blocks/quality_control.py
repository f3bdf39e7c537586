"""Quality control: per-cell metrics (genes, counts, mitochondrial share) and filters.

Mitochondrial genes are those whose name starts with `mito_prefix` (case-insensitive).
Cells are kept when n_genes >= min_genes, n_genes <= max_genes (if set) and
pct_counts_mt <= max_pct_mito (if set); then genes seen in fewer than min_cells cells are dropped.
The raw counts are kept in layers['counts']. Run again on normalised data (to filter once more),
it reads its metrics from layers['counts'] and keeps that layer: X is not counts there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import plt, require_cells, scanpy, x_min_max


def _violin(adata: Any, thresholds: dict[str, list[float]], n_kept: int) -> str:
    pyplot = plt()
    keys = [
        ("n_genes_by_counts", "genes per cell"),
        ("total_counts", "counts per cell"),
        ("pct_counts_mt", "% mitochondrial"),
    ]
    fig, axes = pyplot.subplots(1, 3, figsize=(11, 3.8))
    keep = adata.obs["qc_pass"].to_numpy()
    for ax, (key, label) in zip(axes, keys, strict=True):
        values = adata.obs[key].to_numpy(dtype=float)
        parts = ax.violinplot([values], showmedians=True, widths=0.8)
        for body in parts["bodies"]:
            body.set_alpha(0.5)
        rng = np.random.default_rng(0)
        jitter = 1 + rng.uniform(-0.25, 0.25, size=values.size)
        ax.scatter(jitter[keep], values[keep], s=2, color="tab:blue", alpha=0.5, linewidths=0)
        ax.scatter(jitter[~keep], values[~keep], s=4, color="tab:red", alpha=0.8, linewidths=0, label="removed")
        for t in thresholds.get(key, []):
            ax.axhline(t, color="tab:red", linestyle="--", linewidth=1)
        ax.set_xticks([])
        ax.set_title(label)
    axes[0].legend(loc="upper right", fontsize=7, frameon=False)
    fig.suptitle(f"QC: {adata.n_obs} cells before, {n_kept} kept (red: removed)")
    return report.savefig(fig, "qc_violin.png")


def run(
    adata: Any = None,
    min_genes: int = 200,
    max_genes: int | None = None,
    min_cells: int = 3,
    max_pct_mito: float | None = 20,
    mito_prefix: str = "MT-",
) -> Any:
    sc = scanpy()
    require_cells(adata, "quality_control", 1)
    lo, _hi = x_min_max(adata)
    if lo < 0:
        raise E.InvalidParameters(
            "block quality_control needs non-negative counts in adata.X (the input looks scaled); "
            "run it before normalize/scale"
        )
    # The counts: layers['counts'] when an earlier quality_control or normalize kept them (X may be
    # log-normalised by now), else X, which must then not be log-transformed.
    layer = "counts" if "counts" in adata.layers else None
    if layer is None and "log1p" in adata.uns:
        raise E.InvalidParameters(
            "block quality_control reads counts, and adata.X is log-transformed (uns['log1p']) with no "
            "layers['counts'] to read instead; run it before normalize"
        )
    n_obs0, n_vars0 = adata.n_obs, adata.n_vars
    adata.var["mt"] = adata.var_names.str.upper().str.startswith(mito_prefix.upper())
    n_mito = int(adata.var["mt"].sum())
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True, layer=layer)
    report.progress(0.4, "computed QC metrics")

    n_genes = adata.obs["n_genes_by_counts"].to_numpy()
    pct_mt = adata.obs["pct_counts_mt"].to_numpy()
    low = n_genes < min_genes
    high = n_genes > max_genes if max_genes is not None else np.zeros(n_obs0, dtype=bool)
    mito = pct_mt > max_pct_mito if max_pct_mito is not None else np.zeros(n_obs0, dtype=bool)
    keep = ~(low | high | mito)
    adata.obs["qc_pass"] = keep
    thresholds = {"n_genes_by_counts": [float(min_genes)] + ([float(max_genes)] if max_genes is not None else [])}
    if max_pct_mito is not None:
        thresholds["pct_counts_mt"] = [float(max_pct_mito)]
    _violin(adata, thresholds, int(keep.sum()))

    if not keep.any():
        raise E.InvalidParameters(
            f"quality_control removed all {n_obs0} cells (min_genes={min_genes} removes {int(low.sum())}, "
            f"max_genes={max_genes} removes {int(high.sum())}, max_pct_mito={max_pct_mito} removes {int(mito.sum())}); "
            f"median genes per cell is {float(np.median(n_genes)):g}"
        )
    adata = adata[keep].copy()
    del adata.obs["qc_pass"]
    if min_cells > 0:
        sc.pp.filter_genes(adata, min_cells=min_cells)
    if adata.n_vars == 0:
        raise E.InvalidParameters(f"parameter 'min_cells': min_cells={min_cells} removed every gene")
    if layer is None:
        adata.layers["counts"] = adata.X.copy()

    report.metrics({
        "n_cells_before": n_obs0,
        "n_cells_after": adata.n_obs,
        "n_genes_before": n_vars0,
        "n_genes_after": adata.n_vars,
        "cells_removed_min_genes": int(low.sum()),
        "cells_removed_max_genes": int(high.sum()),
        "cells_removed_mito": int(mito.sum()),
        "n_mito_genes": n_mito,
        "counts_from": "layers['counts']" if layer else "X",
        "median_genes_per_cell": float(np.median(adata.obs["n_genes_by_counts"])),
        "median_counts_per_cell": float(np.median(adata.obs["total_counts"])),
        "median_pct_mito": float(np.median(adata.obs["pct_counts_mt"])),
        # Which genes the prefix caught: a human gene panel has 13 mitochondrial genes (MT-*), and a
        # prefix without its dash also catches nuclear genes (MTOR, MTHFR).
        "mito_genes": [str(g) for g in adata.var_names[adata.var["mt"].to_numpy(dtype=bool)][:20]],
    })
    if max_pct_mito is not None and n_mito < 5:
        report.metric(
            "warning",
            f"mito_prefix {mito_prefix!r} matched {n_mito} gene(s), so max_pct_mito={max_pct_mito:g} filters little "
            "or nothing; check the prefix for this organism and gene naming (e.g. 'mt-' for mouse symbols)",
        )
    report.summary(
        f"QC kept {adata.n_obs}/{n_obs0} cells and {adata.n_vars}/{n_vars0} genes "
        f"(min_genes={min_genes}, max_pct_mito={max_pct_mito}, {n_mito} mito genes)"
    )
    report.suggest_child(block={"name": "normalize", "parameters": {}}, priority=0)
    return adata

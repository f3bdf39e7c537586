"""Principal component analysis (scanpy.tl.pca), on the highly variable genes when asked and
available. n_comps is lowered to what the data allows (min(n_cells, n_genes) - 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import drop_graph_on, embedding_plot, looks_like_counts, plt, require_cells, scanpy


def run(adata: Any = None, n_comps: int = 50, use_highly_variable: bool = True) -> Any:
    sc = scanpy()
    require_cells(adata, "pca", 3)
    mask = None
    if use_highly_variable and "highly_variable" in adata.var.columns:
        mask = "highly_variable"
        n_features = int(adata.var["highly_variable"].sum())
    else:
        n_features = adata.n_vars
        if use_highly_variable:
            report.metric("note", "no highly_variable genes found; PCA used all genes")
    n = int(min(n_comps, adata.n_obs - 1, n_features - 1))
    if n < 2:
        # Two components at least: the scatter and every embedding downstream need them.
        raise E.InvalidParameters(
            f"block pca needs at least 3 genes and 3 cells to compute 2 components; it has {n_features} genes"
            + (" marked highly_variable (set use_highly_variable: false, or select more genes upstream, e.g. a "
               "lower min_hvg_fraction in concatenate)" if mask else "")
            + f" and {adata.n_obs} cells"
        )
    if n < n_comps:
        report.metric("n_comps_lowered_to", n)
    if "log1p" not in adata.uns and looks_like_counts(adata.X):
        # scanpy runs it anyway; the components would mostly follow library size.
        report.metric("warning", "X holds raw counts (no uns['log1p']): the components follow library size more than "
                                 "biology; run normalize before pca")
    sc.tl.pca(adata, n_comps=n, mask_var=mask, random_state=0)
    if drop_graph_on(adata, "X_pca"):
        report.metric("note", "removed the neighbour graph built on the previous X_pca")
    ratio = np.asarray(adata.uns["pca"]["variance_ratio"], dtype=float)
    cumulative = np.cumsum(ratio)

    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6, 3.8))
    ax.plot(np.arange(1, n + 1), ratio, "o-", markersize=3)
    ax.set_yscale("log")
    ax.set_xlabel("principal component")
    ax.set_ylabel("variance ratio")
    ax.set_title(f"PCA variance ratio ({n} components, {cumulative[-1] * 100:.1f}% total)")
    report.savefig(fig, "pca_variance_ratio.png")
    color = next((c for c in ("leiden", "bulk_labels", "total_counts") if c in adata.obs.columns), None)
    embedding_plot(adata, "X_pca", color, "PC1 vs PC2", "pca_scatter.png")

    elbow = int(np.argmax(cumulative >= 0.9 * cumulative[-1]) + 1)
    report.metrics({
        "n_comps": n,
        "n_features": n_features,
        "variance_ratio_top10": [round(float(v), 5) for v in ratio[:10]],
        "variance_explained_total": round(float(cumulative[-1]), 5),
        "n_pcs_for_90pct_of_explained": elbow,
    })
    report.summary(
        f"PCA: {n} components on {n_features} genes explain {cumulative[-1] * 100:.1f}% of variance "
        f"(PC1 {ratio[0] * 100:.1f}%)"
    )
    report.suggest_child(block={"name": "umap", "parameters": {}}, priority=1)
    report.suggest_child(block={"name": "leiden", "parameters": {}}, priority=0)
    return adata

"""Highly variable genes (scanpy.pp.highly_variable_genes).

`seurat` and `cell_ranger` work on log-normalised data (raw counts in X are refused: their
dispersions are wrong, and large counts overflow); `seurat_v3` works on counts: layers['counts']
when present, else X, which must then hold counts. n_top_genes larger than the number of genes is lowered to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import LOG_SCALE_MAX, looks_like_counts, plt, require_cells, scanpy, x_min_max


def run(adata: Any = None, n_top_genes: int = 2000, flavor: str = "seurat", subset: bool = False) -> Any:
    sc = scanpy()
    require_cells(adata, "highly_variable_genes", 2)
    n_vars0 = adata.n_vars
    n_top = int(min(n_top_genes, n_vars0))
    if n_top < n_top_genes:
        report.metric("n_top_genes_lowered_to", n_top)
    kwargs: dict[str, Any] = {"n_top_genes": n_top, "flavor": flavor, "subset": False}
    if flavor == "seurat_v3":
        if "counts" in adata.layers:
            kwargs["layer"] = "counts"
        elif "log1p" in adata.uns or not looks_like_counts(adata.X):
            raise E.InvalidParameters(
                "parameter 'flavor': seurat_v3 works on raw counts, and the input has no layers['counts'] and "
                "X does not hold counts; use flavor seurat (log-normalised data) or keep the counts "
                "(normalize keeps them in layers['counts'])"
            )
        try:
            import skmisc  # noqa: F401
        except ImportError:
            raise E.InvalidParameters(
                "parameter 'flavor': seurat_v3 needs the scikit-misc package, which is not installed"
            ) from None
    elif "log1p" not in adata.uns:
        if looks_like_counts(adata.X):
            raise E.InvalidParameters(
                f"parameter 'flavor': {flavor} expects log-normalised data and X holds raw counts; run normalize "
                "(log1p: true) first, or use flavor seurat_v3, which works on counts"
            )
        _lo, hi = x_min_max(adata)
        if hi > LOG_SCALE_MAX:
            # Not log values (normalize with log1p: false leaves e.g. counts per 10,000): scanpy's
            # expm1 of them overflows float32 above ~88.7, and the top genes' dispersions become NaN.
            raise E.InvalidParameters(
                f"parameter 'flavor': {flavor} expects log-normalised data, and X is not log-transformed "
                f"(no uns['log1p'], values up to {hi:.4g}); run normalize with log1p: true first"
            )
        report.metric("warning", "input has no uns['log1p']; seurat/cell_ranger expect normalize(log1p=true) first")
    try:
        sc.pp.highly_variable_genes(adata, **kwargs)
    except (ValueError, ZeroDivisionError) as exc:
        raise E.InvalidParameters(f"parameter 'flavor': {flavor} failed on this data: {exc}") from None
    hv = adata.var["highly_variable"].to_numpy(dtype=bool)

    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6, 4.5))
    means = adata.var["means"].to_numpy(dtype=float)
    if flavor == "seurat_v3":
        y, ylabel = adata.var["variances_norm"].to_numpy(dtype=float), "normalised variance"
        x, xlabel = np.log1p(means), "log1p(mean count)"
    else:
        y, ylabel = adata.var["dispersions_norm"].to_numpy(dtype=float), "normalised dispersion"
        x, xlabel = means, "mean expression"
    ax.scatter(x[~hv], y[~hv], s=4, color="lightgray", label="other", linewidths=0)
    ax.scatter(x[hv], y[hv], s=4, color="black", label=f"highly variable ({int(hv.sum())})", linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"highly variable genes ({flavor})")
    ax.legend(frameon=False, fontsize=8)
    report.savefig(fig, "highly_variable_genes.png")

    if subset:
        adata = adata[:, hv].copy()
    top = adata.var.index[adata.var["highly_variable"].to_numpy(dtype=bool)][:10].tolist()
    report.metrics({
        "n_highly_variable": int(hv.sum()),
        "n_genes_in": n_vars0,
        "n_genes_out": adata.n_vars,
        "flavor": flavor,
        "subset": subset,
        "example_genes": top,
    })
    report.summary(
        f"{int(hv.sum())} highly variable genes of {n_vars0} ({flavor})" + (", subset to them" if subset else "")
    )
    if "log1p" not in adata.uns and looks_like_counts(adata.X):
        # seurat_v3 ran on counts in X: PCA on them would be driven by library size; normalize first.
        report.suggest_child(block={"name": "normalize", "parameters": {}}, priority=0)
    else:
        report.suggest_child(block={"name": "pca", "parameters": {}}, priority=0)
    return adata

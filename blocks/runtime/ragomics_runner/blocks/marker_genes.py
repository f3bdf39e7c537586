"""Marker genes per group (scanpy.tl.rank_genes_groups) on adata.raw when present (the
log-normalised matrix frozen by normalize), else on X. Groups with a single cell are skipped."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import LOG_SCALE_MAX, plt, refuse_per_sample_groups, require_obs, scanpy, x_min_max


def run(adata: Any = None, groupby: str = "leiden", method: str = "wilcoxon", n_genes: int = 25) -> Any:
    sc = scanpy()
    require_obs(adata, groupby, "groupby")
    refuse_per_sample_groups(adata, groupby)
    if str(adata.obs[groupby].dtype) != "category":
        adata.obs[groupby] = adata.obs[groupby].astype(str).astype("category")
    counts = adata.obs[groupby].value_counts()
    groups = [str(g) for g in adata.obs[groupby].cat.categories if counts.get(g, 0) >= 2]
    if len(groups) < 2:
        raise E.InvalidParameters(
            f"parameter 'groupby': column {groupby!r} needs at least two groups with 2+ cells (has {len(groups)})"
        )
    use_raw = adata.raw is not None
    if not use_raw and x_min_max(adata)[0] < 0:
        # Wilcoxon ranks and log fold changes of scaled (z-scored) values mean nothing: the fold
        # changes come out NaN. normalize keeps the log-normalised matrix in .raw for this.
        raise E.InvalidParameters(
            "block marker_genes ranks log-normalised expression, and X looks scaled (negative values) with no "
            ".raw to use instead; run it on a node before scale, or on one that kept .raw (normalize sets it)"
        )
    if "log1p" not in adata.uns:
        source = adata.raw if use_raw else adata  # Raw has X, n_obs and n_vars: no copy
        _lo, hi = x_min_max(source)
        if hi > LOG_SCALE_MAX:
            # The ranks stand; the log fold changes assume log data (scanpy takes expm1 of the means).
            where = ".raw" if use_raw else "X"
            report.metric("warning", f"ranked {where}, which is not log-transformed (no uns['log1p'], values up "
                                     f"to {hi:.4g}): the log fold changes are meaningless; run normalize with "
                                     "log1p: true first")
    n_available = adata.raw.n_vars if use_raw else adata.n_vars
    n = int(min(n_genes, n_available))
    report.progress(0.3, f"ranking genes for {len(groups)} groups")
    sc.tl.rank_genes_groups(adata, groupby=groupby, groups=groups, reference="rest", method=method,
                            n_genes=n, use_raw=use_raw, pts=False)
    names = adata.uns["rank_genes_groups"]["names"]
    top: dict[str, list[str]] = {g: [str(x) for x in names[g][: min(5, n)]] for g in names.dtype.names}

    pyplot = plt()
    try:
        sc.pl.rank_genes_groups(adata, n_genes=min(n, 10), sharey=False, show=False, fontsize=7)
        report.savefig(pyplot.gcf(), "marker_genes.png")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - fall back to a plain table figure
        pyplot.close("all")
        fig, ax = pyplot.subplots(figsize=(8, 0.3 * len(top) + 1))
        ax.axis("off")
        ax.table(cellText=[[g, ", ".join(v)] for g, v in top.items()], colLabels=[groupby, "top markers"], loc="center")
        report.savefig(fig, "marker_genes.png")
    try:
        top3 = sorted({gene for v in top.values() for gene in v[:2]})
        sc.pl.dotplot(adata, var_names=top3, groupby=groupby, use_raw=use_raw, show=False)
        report.savefig(pyplot.gcf(), "marker_genes_dotplot.png")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - the dot plot is a bonus
        pyplot.close("all")

    scores = adata.uns["rank_genes_groups"].get("scores")
    report.metrics({
        "groupby": groupby,
        "method": method,
        "n_groups": len(groups),
        "n_genes": n,
        "used_raw": use_raw,
        "top_markers": top,
        "top_scores": (
            {g: round(float(np.asarray(scores[g])[0]), 3) for g in scores.dtype.names} if scores is not None else {}
        ),
    })
    preview = "; ".join(f"{g}: {', '.join(v[:3])}" for g, v in list(top.items())[:4])
    report.summary(f"markers for {len(groups)} {groupby} groups ({method}) - {preview}")
    return adata

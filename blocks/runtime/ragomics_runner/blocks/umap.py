"""Neighbour graph (scanpy.pp.neighbors) and UMAP embedding (scanpy.tl.umap).

The graph is built on obsm[use_rep] when given (e.g. X_pca_harmony after integrate), else on
X_pca (run pca first), or on X itself with use_rep="X". min_dist is at most 1 (the spread). The
figure is coloured by `leiden` when the input has it (else another label column)."""

from __future__ import annotations

from typing import Any

from .. import errors as E
from .. import report
from ._common import embedding_plot, enable_numba_caching, ensure_neighbors, require_cells, scanpy


def run(
    adata: Any = None,
    n_neighbors: int = 15,
    n_pcs: int | None = None,
    min_dist: float = 0.5,
    random_state: int = 0,
    use_rep: str | None = None,
) -> Any:
    sc = scanpy()
    if min_dist > 1:
        # umap-learn refuses min_dist > spread (1 here); scanpy skips that check and fits a
        # degenerate curve, so the embedding would be meaningless, with no error.
        raise E.InvalidParameters(f"parameter 'min_dist': {min_dist:g} is above 1, umap's spread")
    require_cells(adata, "umap", 4)
    used = ensure_neighbors(adata, n_neighbors, n_pcs, random_state, use_rep)
    report.progress(0.5, "computing UMAP")
    enable_numba_caching()
    sc.tl.umap(adata, min_dist=min_dist, random_state=random_state)
    color = next((c for c in ("leiden", "louvain", "bulk_labels", "total_counts") if c in adata.obs.columns), None)
    embedding_plot(adata, "X_umap", color, "UMAP" + (f" coloured by {color}" if color else ""), "umap.png")
    report.metrics({
        "n_neighbors": used["n_neighbors"],
        "n_pcs": used["n_pcs"],
        "neighbors_rebuilt": used["rebuilt"],
        "use_rep": used["use_rep"],
        "min_dist": min_dist,
        "coloured_by": color,
    })
    report.summary(f"UMAP of {adata.n_obs} cells (n_neighbors={used['n_neighbors']}, min_dist={min_dist:g})")
    if "leiden" not in adata.obs.columns:
        report.suggest_child(block={"name": "leiden", "parameters": {}}, priority=0)
    return adata

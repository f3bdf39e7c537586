"""Leiden clustering (scanpy.tl.leiden), building the neighbour graph when missing (or when it
was built with another n_neighbors or representation: obsm[use_rep] when given, e.g. X_pca_harmony
after integrate, X itself with use_rep="X", else X_pca, which must then exist). Uses the igraph
implementation when available."""

from __future__ import annotations

from typing import Any

from .. import errors as E
from .. import report
from ._common import embedding_plot, ensure_neighbors, plt, require_cells, scanpy


def run(
    adata: Any = None,
    resolution: float = 1.0,
    n_neighbors: int = 15,
    n_pcs: int | None = None,
    key_added: str = "leiden",
    random_state: int = 0,
    use_rep: str | None = None,
) -> Any:
    sc = scanpy()
    require_cells(adata, "leiden", 3)
    # scanpy records a clustering's parameters in uns[key_added]: a column without them is data
    # (cell_type, batch, condition) that the clusters would silently replace.
    if key_added in adata.obs.columns and not (isinstance(adata.uns.get(key_added), dict)
                                               and "params" in adata.uns[key_added]):
        raise E.InvalidParameters(
            f"parameter 'key_added': obs column {key_added!r} is already in the input and is not an earlier "
            "clustering; choose another name"
        )
    used = ensure_neighbors(adata, n_neighbors, n_pcs, random_state, use_rep)
    report.progress(0.6, "clustering")
    try:
        import igraph  # noqa: F401

        flavor = "igraph"
        sc.tl.leiden(adata, resolution=resolution, key_added=key_added, random_state=random_state,
                     flavor="igraph", n_iterations=2, directed=False)
    except ImportError:
        flavor = "leidenalg"
        sc.tl.leiden(adata, resolution=resolution, key_added=key_added, random_state=random_state, flavor="leidenalg")
    labels = adata.obs[key_added]
    sizes = labels.value_counts().sort_index()
    n_clusters = int(len(sizes))

    basis = "X_umap" if "X_umap" in adata.obsm else "X_pca" if "X_pca" in adata.obsm else None
    if basis is not None:
        title = f"Leiden clusters (resolution {resolution:g})"
        embedding_plot(adata, basis, key_added, title, f"{key_added}_clusters.png")
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(max(4, 0.35 * n_clusters + 2), 3.2))
    ax.bar([str(i) for i in sizes.index], sizes.to_numpy(), color="tab:blue")
    ax.set_xlabel(key_added)
    ax.set_ylabel("cells")
    ax.set_title(f"{n_clusters} clusters")
    report.savefig(fig, f"{key_added}_sizes.png")

    report.metrics({
        "n_clusters": n_clusters,
        "cluster_sizes": {str(k): int(v) for k, v in sizes.items()},
        "resolution": resolution,
        "flavor": flavor,
        "n_neighbors": used["n_neighbors"],
        "neighbors_rebuilt": used["rebuilt"],
        "use_rep": used["use_rep"],
        "key_added": key_added,
    })
    report.summary(
        f"{n_clusters} Leiden clusters at resolution {resolution:g} "
        f"(largest {int(sizes.max())} cells, smallest {int(sizes.min())})"
    )
    if n_clusters >= 2:
        report.suggest_child(block={"name": "marker_genes", "parameters": {"groupby": key_added}}, priority=0)
    return adata

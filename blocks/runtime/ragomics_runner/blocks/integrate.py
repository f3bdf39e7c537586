"""Batch integration with Harmony (harmonypy, as scanpy.external.pp.harmony_integrate runs it) on a PCA.

harmonypy.run_harmony is called the way scanpy's wrapper calls it (obsm[basis] as float64,
adata.obs, the batch key, the Harmony keyword arguments), but directly: scanpy 1.11.5's wrapper
transposes the corrected matrix, which harmonypy >= 2 already returns as cells x components, and
then fails on the shape. The orientation is checked here instead of assumed.

Needs obsm[`basis`] (default X_pca: run pca first) and an obs column `batch_key` (default
`batch`, the sample sheet's column after concatenate). Writes obsm[`adjusted_basis`] (default
X_pca_harmony); umap and leiden use it through their `use_rep` parameter.

Batch mixing is measured on the embedding before and after (on at most `metric_cells` cells, a
seeded subsample):
- `batch_silhouette`: silhouette of the cells grouped by batch (near 0 or below: mixed; near 1:
  separated by batch), reported as |silhouette|;
- `batch_entropy`: mean entropy of the batch labels among each cell's 30 nearest neighbours,
  divided by that of the global batch shares (1: perfectly mixed, 0: neighbours all of one batch),
  a kNN mixing score in the spirit of iLISI.
Figure: PC1/PC2 before and after, coloured by batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import drop_graph_on, plt, require_cells, require_obs

USES_SCANPY = False
KNN = 30


def _subsample(n: int, at_most: int, seed: int) -> np.ndarray:
    if n <= at_most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=at_most, replace=False))


def batch_mixing(embedding: np.ndarray, batches: np.ndarray) -> dict[str, float]:
    """|silhouette| by batch and normalised kNN batch entropy of one embedding (see the docstring)."""
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import NearestNeighbors

    cats, codes = np.unique(batches, return_inverse=True)
    if len(cats) < 2:
        return {"batch_silhouette": float("nan"), "batch_entropy": float("nan")}
    sil = float(silhouette_score(embedding, codes))
    k = int(min(KNN, len(codes) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1).fit(embedding)
    idx = nn.kneighbors(embedding, return_distance=False)[:, 1:]
    counts = np.stack([(codes[idx] == c).sum(axis=1) for c in range(len(cats))], axis=1) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(counts > 0, counts * np.log(counts), 0.0), axis=1)
    share = np.bincount(codes) / len(codes)
    ent_max = float(-(share * np.log(share)).sum())
    return {"batch_silhouette": abs(sil), "batch_entropy": float(ent.mean() / ent_max)}


def run(
    adata: Any = None,
    batch_key: str = "batch",
    basis: str = "X_pca",
    adjusted_basis: str = "X_pca_harmony",
    theta: float = 2.0,
    max_iter_harmony: int = 20,
    random_state: int = 0,
    metric_cells: int = 5000,
) -> Any:
    require_cells(adata, "integrate", 3)
    require_obs(adata, batch_key, "batch_key")
    if basis not in adata.obsm:
        have = ", ".join(adata.obsm.keys()) or "none"
        raise E.InvalidParameters(f"parameter 'basis': {basis!r} is not in adata.obsm (has: {have}); run pca first")
    if adjusted_basis == basis:
        # The embedding before integration is kept beside the adjusted one: the batch-mixing
        # metrics and the figure compare the two, and later blocks may still want the original.
        raise E.InvalidParameters(f"parameter 'adjusted_basis': must differ from basis ({basis!r})")
    batches = adata.obs[batch_key].astype(str).to_numpy()
    n_batches = len(np.unique(batches))
    if n_batches < 2:
        raise E.InvalidParameters(
            f"parameter 'batch_key': column {batch_key!r} has a single value; nothing to integrate"
        )

    report.progress(0.1, f"Harmony over {n_batches} batches of {batch_key!r}")
    import harmonypy

    adata.obs[batch_key] = adata.obs[batch_key].astype(str).astype("category")
    x = np.asarray(adata.obsm[basis], dtype=np.float64)
    out = harmonypy.run_harmony(
        x, adata.obs, batch_key, theta=theta, max_iter_harmony=max_iter_harmony,
        random_state=random_state, verbose=False,
    )
    z = np.asarray(out.Z_corr)
    if z.shape != x.shape:
        z = z.T
    if z.shape != x.shape:
        raise E.BlockCrashed(f"harmonypy returned a {z.shape} matrix for a {x.shape} embedding")
    adata.obsm[adjusted_basis] = np.ascontiguousarray(z, dtype=np.float32)
    drop_graph_on(adata, adjusted_basis)  # one built on an earlier adjusted_basis is stale now

    report.progress(0.8, "measuring batch mixing")
    sub = _subsample(adata.n_obs, metric_cells, random_state)
    before = batch_mixing(np.asarray(adata.obsm[basis])[sub], batches[sub])
    after = batch_mixing(np.asarray(adata.obsm[adjusted_basis])[sub], batches[sub])

    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(11, 4.8))
    cats = list(dict.fromkeys(sorted(np.unique(batches))))
    cmap = pyplot.get_cmap("tab20" if len(cats) > 10 else "tab10")
    order = np.random.default_rng(random_state).permutation(sub)  # no batch painted last on top
    for ax, key, title, m in (
        (axes[0], basis, "before", before), (axes[1], adjusted_basis, "after Harmony", after),
    ):
        coords = np.asarray(adata.obsm[key])[order, :2]
        colours = np.array([cmap(cats.index(b) % cmap.N) for b in batches[order]])
        ax.scatter(coords[:, 0], coords[:, 1], s=4, c=colours, linewidths=0)
        ax.set_title(f"{title}: |batch silhouette| {m['batch_silhouette']:.3f}, entropy {m['batch_entropy']:.2f}",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{key} 1")
        ax.set_ylabel(f"{key} 2")
    for j, cat in enumerate(cats):
        axes[1].scatter([], [], s=12, color=cmap(j % cmap.N), label=cat)
    if len(cats) <= 30:
        axes[1].legend(markerscale=2, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5),
                       title=batch_key)
    report.savefig(fig, "integrate_batches.png")

    report.metrics({
        "method": f"harmony (harmonypy {harmonypy.__version__})",
        "batch_key": batch_key,
        "n_batches": n_batches,
        "basis": basis,
        "adjusted_basis": adjusted_basis,
        "theta": theta,
        "batch_silhouette_before": round(before["batch_silhouette"], 4),
        "batch_silhouette_after": round(after["batch_silhouette"], 4),
        "batch_entropy_before": round(before["batch_entropy"], 4),
        "batch_entropy_after": round(after["batch_entropy"], 4),
        "metric_cells": int(sub.size),
    })
    report.summary(
        f"Harmony over {n_batches} {batch_key} values: |batch silhouette| {before['batch_silhouette']:.3f} -> "
        f"{after['batch_silhouette']:.3f}, kNN batch entropy {before['batch_entropy']:.2f} -> "
        f"{after['batch_entropy']:.2f} (1 = mixed)"
    )
    report.suggest_child(block={"name": "umap", "parameters": {"use_rep": adjusted_basis}}, priority=1)
    report.suggest_child(block={"name": "leiden", "parameters": {"use_rep": adjusted_basis}}, priority=0)
    return adata

"""Helpers shared by the built-in blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import errors as E
from .. import knn, report


def scanpy() -> Any:
    import scanpy as sc

    sc.settings.verbosity = 1
    return sc


def plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


# Largest value log-normalised expression reaches in practice: log1p of a count per million is
# under 14 (ln 1e6); anything above 30 is not on a log scale.
LOG_SCALE_MAX = 30.0


def x_min_max(adata: Any) -> tuple[float, float]:
    import scipy.sparse as sp

    X = adata.X
    if X is None or adata.n_obs == 0 or adata.n_vars == 0:
        return 0.0, 0.0
    if sp.issparse(X):
        data = X.data
        lo = float(data.min()) if data.size else 0.0
        hi = float(data.max()) if data.size else 0.0
        if X.nnz < X.shape[0] * X.shape[1]:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        return lo, hi
    arr = np.asarray(X)
    return float(arr.min()), float(arr.max())


def require_obs(adata: Any, column: str, parameter: str) -> None:
    if column not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns)) or "none"
        raise E.InvalidParameters(f"parameter {parameter!r}: column {column!r} is not in adata.obs (columns: {cols})")


def looks_like_counts(X: Any) -> bool:
    """True when X's non-zero values (up to 100,000, evenly spread) are positive integers, not all 1."""
    import scipy.sparse as sp

    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    data = data[data != 0]  # a matrix whose first rows are empty says nothing there
    sample = np.asarray(data[:: max(1, data.size // 100_000)], dtype=np.float64)
    if sample.size == 0 or sample.min() < 0 or not np.all(np.mod(sample, 1) == 0):
        return False
    return float(sample.max()) > 1


def refuse_per_sample_groups(adata: Any, groupby: str) -> None:
    """Refuse grouping by a clustering that concatenate kept per sample: its ids are each
    sample's own (cluster "0" of one sample is not cluster "0" of another), so groups built on it
    pool unrelated cells. concatenate marks it uns[groupby]['per_sample']; a leiden run on the
    merged data replaces it."""
    entry = adata.uns.get(groupby)
    if isinstance(entry, Mapping) and entry.get("per_sample") is True:
        raise E.InvalidParameters(
            f"parameter 'groupby': obs[{groupby!r}] holds per-sample cluster ids (each input of concatenate was "
            f"clustered on its own, so the same id names different cells in each sample); run leiden on the "
            f"concatenated data first, or group by another column"
        )


def require_cells(adata: Any, block: str, at_least: int = 2) -> None:
    if adata.n_obs < at_least:
        raise E.InvalidParameters(f"block {block} needs at least {at_least} cells; the input has {adata.n_obs}")


def ensure_neighbors(
    adata: Any, n_neighbors: int, n_pcs: int | None, random_state: int, use_rep: str | None = None
) -> dict[str, Any]:
    """Build the kNN graph unless one with the same settings is there. Returns what was used.

    The graph is built on obsm[use_rep] when given (e.g. X_pca_harmony after integrate), on the
    expression matrix itself with use_rep='X', else on X_pca. Without X_pca and without use_rep
    this raises InvalidParameters: scanpy would silently compute a PCA of whatever X holds
    (counts, unscaled data). n_pcs: the representation's first n_pcs columns (all when None;
    ignored for 'X'). A graph already there is reused only when it was built on the same
    representation, with the same number of its columns and the same n_neighbors."""
    sc = scanpy()
    n_neighbors = int(min(n_neighbors, max(2, adata.n_obs - 1)))
    if use_rep is None:
        if "X_pca" not in adata.obsm:
            raise E.InvalidParameters(
                "parameter 'use_rep': the input has no PCA (obsm['X_pca']); run pca before this block, or set "
                "use_rep to an obsm key or to 'X' (the expression matrix itself)"
            )
        use_rep = "X_pca"
    elif use_rep != "X" and use_rep not in adata.obsm:
        have = ", ".join(adata.obsm.keys()) or "none"
        raise E.InvalidParameters(f"parameter 'use_rep': {use_rep!r} is not in adata.obsm (has: {have}; or 'X')")
    width = adata.n_vars if use_rep == "X" else int(adata.obsm[use_rep].shape[1])
    n_pcs = None if use_rep == "X" else (width if n_pcs is None else int(min(n_pcs, width)))
    existing = adata.uns.get("neighbors", {})
    params = existing.get("params", {}) if isinstance(existing, dict) else {}
    # scanpy records use_rep and n_pcs only when they were given; a graph without them was built
    # some other way, so it is rebuilt rather than guessed at.
    built_on = params.get("use_rep")
    built_width = params.get("n_pcs")
    if built_width is None and built_on is not None:
        built_width = adata.n_vars if built_on == "X" else (
            int(adata.obsm[built_on].shape[1]) if built_on in adata.obsm else None)
    if (
        "connectivities" in adata.obsp
        and built_on is not None
        and str(built_on) == use_rep
        and int(params.get("n_neighbors", -1)) == n_neighbors
        and (use_rep == "X" or (built_width is not None and int(built_width) == n_pcs))
    ):
        return {"n_neighbors": n_neighbors, "n_pcs": n_pcs, "use_rep": use_rep, "rebuilt": False}
    report.progress(0.3, "building neighbour graph")
    enable_numba_caching()
    # From 8,192 cells scanpy's own pynndescent transformer, minus the query index it would also
    # build and never use (knn.py); below, scanpy's exact path (no transformer).
    transformer = knn.graph_transformer(adata.n_obs, n_neighbors, random_state)
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=n_pcs, use_rep=use_rep, random_state=random_state,
                    transformer=transformer)
    return {"n_neighbors": n_neighbors, "n_pcs": n_pcs, "use_rep": use_rep, "rebuilt": True}


def drop_graph_on(adata: Any, rep: str) -> bool:
    """Remove the kNN graph (uns['neighbors'], obsp connectivities/distances) when it was built on
    obsm[rep]: a block that rewrites obsm[rep] makes it stale, and ensure_neighbors compares only
    the representation's name and width. Returns whether a graph was removed."""
    existing = adata.uns.get("neighbors")
    params = existing.get("params", {}) if isinstance(existing, dict) else {}
    if params.get("use_rep") != rep:
        return False
    del adata.uns["neighbors"]
    for key in ("connectivities", "distances"):
        if key in adata.obsp:
            del adata.obsp[key]
    return True


def embedding_plot(adata: Any, basis: str, color: str | None, title: str, name: str) -> str:
    """Scatter of obsm[basis][:, :2], coloured by an obs column when given."""
    pyplot = plt()
    coords = np.asarray(adata.obsm[basis])[:, :2]
    fig, ax = pyplot.subplots(figsize=(6.5, 5.5))
    if color is not None and color in adata.obs.columns:
        values = adata.obs[color]
        if str(values.dtype) == "category" or values.dtype == object:
            cats = values.astype("category")
            cmap = pyplot.get_cmap("tab20" if len(cats.cat.categories) > 10 else "tab10")
            for i, cat in enumerate(cats.cat.categories):
                m = (cats == cat).to_numpy()
                ax.scatter(coords[m, 0], coords[m, 1], s=6, color=cmap(i % cmap.N), label=str(cat), linewidths=0)
            if len(cats.cat.categories) <= 30:
                ax.legend(markerscale=3, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        else:
            sca = ax.scatter(
                coords[:, 0], coords[:, 1], s=6, c=values.to_numpy(dtype=float), cmap="viridis", linewidths=0
            )
            fig.colorbar(sca, ax=ax, label=color)
    else:
        ax.scatter(coords[:, 0], coords[:, 1], s=6, color="tab:blue", linewidths=0)
    label = basis.replace("X_", "").upper()
    ax.set_xlabel(f"{label} 1")
    ax.set_ylabel(f"{label} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return report.savefig(fig, name)


# umap-learn jit-compiles these with numba but without cache=True, so every process spent
# ~10 s compiling them again. Turning caching on (before their first call) lets them load from
# NUMBA_CACHE_DIR, which the image pre-fills at build time.
_UMAP_UNCACHED = {
    "umap.umap_": ("smooth_knn_dist", "compute_membership_strengths"),  # fuzzy_simplicial_set: plain Python
    # umap-learn 0.5.12 jits the epoch function as two module globals (serial and parallel); the
    # plain `_optimize_layout_euclidean_single_epoch` is no longer a dispatcher (it was, in the
    # umap these names were first read from, so the umap block compiled it for 1.1 s every time).
    "umap.layouts": ("_nb_optimize_layout_euclidean_single_epoch",
                     "_nb_optimize_layout_euclidean_single_epoch_parallel", "clip", "rdist"),
    "umap.utils": ("tau_rand_int", "tau_rand", "norm"),
}


def enable_numba_caching() -> int:
    """Turn on numba's on-disk cache for umap's uncached jitted functions; returns how many."""
    import importlib

    enabled = 0
    for module_name, names in _UMAP_UNCACHED.items():
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - umap missing or changed: nothing to do
            continue
        for name in names:
            fn = getattr(module, name, None)
            cache = type(getattr(fn, "_cache", None)).__name__
            if fn is None or not hasattr(fn, "enable_caching") or cache != "NullCache":
                continue
            try:
                fn.enable_caching()
                enabled += 1
            except Exception:  # noqa: BLE001 - e.g. no writable cache folder
                pass
    return enabled

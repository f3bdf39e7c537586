"""The kNN transformer the blocks give `scanpy.pp.neighbors` on large data sets.

scanpy 1.11 builds the neighbour graph with scikit-learn's exact brute force below 8,192 cells
(euclidean metric) and, from there on, with the `pynndescent.PyNNDescentTransformer` it makes
itself, with umap's defaults (`n_trees`, `n_iters` from the cell count). That transformer's
`fit_transform` is `fit(X, compress_index=False)`, then `transform(X=None)` -- the graph, read
from the fitted index -- and then `index_.compress_index()`, which prepares the index for
*queries* (a search tree, a diversified search graph, a compiled search function) and returns
nothing. scanpy only takes the graph; nothing in a block queries the index afterwards.

`graph_transformer` returns the same transformer, same keyword arguments, whose `fit_transform`
stops after the graph: the graph is the one scanpy's own transformer returns (it is computed
before the compression, which does not touch it), and the node does not pay for the query
structures: their numba functions took ~50 s to compile on 2 cores (of the ~90 s pynndescent
compiles in all), and their construction is work on every large data set. What remains is the
graph search itself, whose `nn_descent` numba cannot cache as pynndescent defines it: ~35 s of
compilation on 2 cores in every process that builds a graph this large, until
`nn_descent_cache.install()` (done here) made it cacheable. scanpy records the
graph's parameters the same way (`method` "umap", n_neighbors from the transformer).

Below `PYNNDESCENT_MIN_CELLS` the blocks pass no transformer: scanpy's exact path is unchanged.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

# scanpy's threshold for the euclidean metric (scanpy/neighbors/__init__.py `_handle_transformer`:
# exact "dense distances" below it).
PYNNDESCENT_MIN_CELLS = 8192


@cache
def _graph_only_class() -> type:
    """PyNNDescentTransformer minus the index compression (a class made on first use: importing
    pynndescent loads its numba functions, which a block on small data never needs). Installs
    the cacheable `nn_descent` (nn_descent_cache.py) on the way."""
    from pynndescent import PyNNDescentTransformer

    from . import nn_descent_cache

    nn_descent_cache.install()

    class GraphOnlyPyNNDescentTransformer(PyNNDescentTransformer):  # type: ignore[misc, valid-type]
        """`fit_transform` returns the kNN graph of the fitted index, without preparing it for
        queries (scikit-learn's `get_params` still sees the parent's constructor)."""

        def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
            self.fit(X, compress_index=False)
            return self.transform(X=None)

    return GraphOnlyPyNNDescentTransformer


def graph_transformer(n_obs: int, n_neighbors: int, random_state: int) -> Any | None:
    """The transformer for `scanpy.pp.neighbors(..., transformer=...)` on `n_obs` cells with the
    euclidean metric: None below PYNNDESCENT_MIN_CELLS (scanpy's exact path), else
    `pynndescent_graph_transformer`."""
    if n_obs < PYNNDESCENT_MIN_CELLS:
        return None
    return pynndescent_graph_transformer(n_obs, n_neighbors, random_state)


def pynndescent_graph_transformer(n_obs: int, n_neighbors: int, random_state: int) -> Any:
    """The PyNNDescentTransformer scanpy would build for `n_obs` cells (euclidean; umap's
    `n_trees` and `n_iters`), without the index compression. Any size: the image's warm-up
    builds it on a few hundred points, which fills numba's cache with the functions it can keep."""
    import scanpy as sc

    return _graph_only_class()(
        n_neighbors=n_neighbors, metric="euclidean", metric_kwds={}, random_state=random_state,
        n_jobs=sc.settings.n_jobs,
        n_trees=min(64, 5 + round(n_obs ** 0.5 / 20.0)),
        n_iters=max(5, round(np.log2(n_obs))),
    )

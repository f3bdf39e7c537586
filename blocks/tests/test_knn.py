"""The blocks' kNN transformer (ragomics_runner.knn): scanpy's exact path below 8,192 cells, and
above it scanpy's pynndescent transformer whose fit_transform stops at the graph (no index
compression). pynndescent and scanpy are stand-ins here (the unit tests run without the scanpy
stack); the real graph is checked against scanpy's own in test/blocks-image.test.ts."""

from __future__ import annotations

import sys
import types

import pytest

from ragomics_runner import knn, nn_descent_cache


class _FakeTransformer:
    """Records what the graph-only subclass calls on its parent."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls: list[tuple] = []

    def fit(self, X, compress_index=True):
        self.calls.append(("fit", X, compress_index))
        self.index_ = types.SimpleNamespace(compress_index=lambda: self.calls.append(("compress",)))
        return self

    def transform(self, X=None):
        self.calls.append(("transform", X))
        return "graph"

    def fit_transform(self, X, y=None):
        self.fit(X, compress_index=False)
        result = self.transform(X=None)
        self.index_.compress_index()
        return result


@pytest.fixture
def fake_stack(monkeypatch):
    installs: list[bool] = []
    monkeypatch.setattr(nn_descent_cache, "install", lambda: installs.append(True) or True)
    monkeypatch.setitem(sys.modules, "pynndescent", types.SimpleNamespace(PyNNDescentTransformer=_FakeTransformer))
    monkeypatch.setitem(sys.modules, "scanpy", types.SimpleNamespace(settings=types.SimpleNamespace(n_jobs=3)))
    knn._graph_only_class.cache_clear()
    yield installs
    knn._graph_only_class.cache_clear()


def test_below_the_threshold_scanpy_keeps_its_exact_path():
    assert knn.graph_transformer(knn.PYNNDESCENT_MIN_CELLS - 1, 15, 0) is None


def test_above_it_the_transformer_has_scanpys_arguments(fake_stack):
    t = knn.graph_transformer(10_000, 15, 7)
    assert isinstance(t, _FakeTransformer)
    # umap's defaults, as scanpy computes them: n_trees 5 + round(sqrt(n) / 20), n_iters round(log2 n)
    assert t.kwargs == {"n_neighbors": 15, "metric": "euclidean", "metric_kwds": {}, "random_state": 7,
                        "n_jobs": 3, "n_trees": 10, "n_iters": 13}


def test_fit_transform_returns_the_graph_without_compressing_the_index(fake_stack):
    t = knn.pynndescent_graph_transformer(400, 15, 0)
    knn.pynndescent_graph_transformer(400, 15, 0)
    assert fake_stack == [True], "the cacheable nn_descent is installed once, on first use"
    assert t.fit_transform("X") == "graph"
    assert t.calls == [("fit", "X", False), ("transform", None)]

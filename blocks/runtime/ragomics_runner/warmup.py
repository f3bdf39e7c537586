"""Run every built-in block once on the bundled dataset, so numba compiles (and caches) what
the blocks use and matplotlib builds its font cache. Used at image build time:

    NUMBA_CACHE_DIR=/opt/ragomics/cache-seed/numba MPLCONFIGDIR=/opt/ragomics/cache-seed/mpl \
        python -m ragomics_runner.warmup

Exits non-zero when any block fails, so a broken image does not build.

Numba's cache is keyed by function and argument types, not by data size: small inputs fill it as
well as large ones. The work is split in independent groups (the block chain on the bundled
dataset; the cohort blocks on a small synthetic cohort; pynndescent's neighbour search on a few
hundred points) run at the same time, one thread each waiting for its runner subprocesses, so a
build on several cores takes about as long as the longest group (RAGOMICS_WARMUP_PARALLEL=0 runs
them one after the other).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from .contract import ANNDATA_FILE, JOB_FILE, RESULT_FILE

CHAIN = [
    ("quality_control", {"min_genes": 200, "min_cells": 3}),
    ("normalize", {}),
    ("highly_variable_genes", {"n_top_genes": 500}),
    ("scale", {}),
    ("pca", {"n_comps": 30}),
    ("umap", {}),
    ("leiden", {"resolution": 0.5}),
    ("marker_genes", {}),
    ("sleep", {"seconds": 0}),
]

# The cohort blocks on a small synthetic cohort (4 samples): concatenate as a multi-input node
# (inputs/<sample>.h5ad, job.json `inputs` with the sheet's columns), then the single-input ones.
COHORT = {"n_samples": 4, "cells_per_sample": 150, "n_genes": 300, "n_types": 3, "n_batches": 2, "seed": 0}
COHORT_CHAIN = [
    ("normalize", {}),
    ("pca", {"n_comps": 10, "use_highly_variable": False}),
    ("integrate", {"batch_key": "batch"}),
    ("pseudobulk_de", {"groupby": "cell_type", "covariates": ["batch"], "min_cells": 5}),
]

# From 8,192 cells (euclidean metric) the blocks build the neighbour graph with pynndescent
# (knn.py: scanpy's own transformer minus the query index it never uses). The warm-up builds it on
# a few hundred points with the same transformer class and keyword arguments (hence the same
# compiled signatures), so the functions it compiles are in the image's numba cache: see
# _pynndescent_step. That includes pynndescent's `nn_descent`, which numba cannot cache as
# pynndescent defines it (nn_descent_cache.py says why and how the blocks get around it): without
# it every node building a graph on 8,192 cells or more compiled it (35 s on 2 cores): the leiden
# block's run() on 8,500 cells took 31.6-35.0 s before and 1.9-2.3 s with it (2026-12-01, the two
# images side by side, by hand).
PYNNDESCENT_POINTS = 400


def _pynndescent_input(n: int):
    """n points in 6 clusters with only a 20-dimensional float32 X_pca (the neighbours' input)."""
    import anndata
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(6, 20))
    pcs = centers[rng.integers(0, 6, n)] + rng.normal(size=(n, 20))
    adata = anndata.AnnData(X=sp.csr_matrix((n, 1), dtype=np.float32))
    adata.obsm["X_pca"] = pcs.astype(np.float32)
    return adata


def _pynndescent_step() -> int:
    """In this process: the neighbour graph of PYNNDESCENT_POINTS points through pynndescent, then
    leiden on it (what the leiden block runs above 8,192 cells, minus the data size)."""
    import scanpy as sc

    from . import compat, knn
    from .blocks._common import enable_numba_caching

    compat.install()
    t0 = time.monotonic()
    adata = _pynndescent_input(PYNNDESCENT_POINTS)
    enable_numba_caching()
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=0,
                    transformer=knn.pynndescent_graph_transformer(PYNNDESCENT_POINTS, 15, 0))
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    n = adata.obs["leiden"].nunique()
    _say(f"warmup: {'pynndescent neighbours':22s} {time.monotonic() - t0:5.1f} s  "
         f"{PYNNDESCENT_POINTS} points, {n} Leiden clusters")
    return 0


_PRINT = threading.Lock()


def _say(line: str) -> None:
    with _PRINT:
        print(line, flush=True)


def _cohort_step(root: str) -> tuple[int, str]:
    """Runs concatenate through the runner on the synthetic cohort; returns (exit, output)."""
    from . import synthetic

    ws = os.path.join(root, "cohort-concatenate")
    for sub in ("inputs", "output"):
        os.makedirs(os.path.join(ws, sub))
    inputs = []
    for row, adata in synthetic.iter_cohort(**COHORT):
        path = os.path.join(ws, "inputs", f"{row['sample']}.h5ad")
        adata.write_h5ad(path)
        columns = {k: v for k, v in row.items() if k != "sample"}
        inputs.append({"key": row["sample"], "path": path, "sample": {"sample": row["sample"], "columns": columns}})
    job = {"treeId": "warmup", "nodeId": "concatenate", "attempt": 1, "inputs": inputs,
           "block": {"name": "concatenate", "parameters": {}}}
    with open(os.path.join(ws, JOB_FILE), "w") as fh:
        json.dump(job, fh)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", ws],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        _say(f"warmup: concatenate failed with exit {proc.returncode}")
        return proc.returncode, ""
    with open(os.path.join(ws, "output", RESULT_FILE)) as fh:
        summary = json.load(fh)["summary"]
    _say(f"warmup: {'cohort concatenate':22s} {time.monotonic() - t0:5.1f} s  {summary}")
    return 0, os.path.join(ws, "output", ANNDATA_FILE)


def _run_step(root: str, folder: str, label: str, name: str, params: dict, current: str) -> tuple[int, str, str]:
    """Runs one block through the runner in a fresh workspace; returns (exit, summary, output)."""
    ws = os.path.join(root, folder)
    os.makedirs(os.path.join(ws, "input"))
    os.makedirs(os.path.join(ws, "output"))
    shutil.copy(current, os.path.join(ws, "input", ANNDATA_FILE))
    with open(os.path.join(ws, JOB_FILE), "w") as fh:
        json.dump({"treeId": "warmup", "nodeId": name, "attempt": 1, "block": {"name": name, "parameters": params}}, fh)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", ws],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        _say(f"warmup: {name} failed with exit {proc.returncode}")
        return proc.returncode, "", ""
    with open(os.path.join(ws, "output", RESULT_FILE)) as fh:
        summary = json.load(fh)["summary"]
    _say(f"warmup: {label:22s} {time.monotonic() - t0:5.1f} s  {summary}")
    return 0, summary, os.path.join(ws, "output", ANNDATA_FILE)


def _chain(root: str) -> int:
    """The block chain on the bundled dataset (what the demo tree runs), one runner each."""
    from .datasets import pbmc68k_counts

    current = os.path.join(root, "input.h5ad")
    pbmc68k_counts().write_h5ad(current)
    for i, (name, params) in enumerate(CHAIN):
        code, _, current = _run_step(root, f"step{i}", name, name, params, current)
        if code != 0:
            return 1
    return 0


def _cohort(root: str) -> int:
    """The cohort blocks on a small synthetic cohort: concatenate, then the single-input ones."""
    code, current = _cohort_step(root)
    if code != 0:
        return 1
    for i, (name, params) in enumerate(COHORT_CHAIN):
        code, _, current = _run_step(root, f"cohort{i}", f"cohort {name}", name, params, current)
        if code != 0:
            return 1
    return 0


def _pynndescent(root: str) -> int:
    """pynndescent's compilation, in a runner-like subprocess (its own numba/thread state)."""
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner.warmup", "--pynndescent"],
                          stderr=subprocess.PIPE, text=True, cwd=root)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        _say(f"warmup: pynndescent neighbours failed with exit {proc.returncode}")
        return 1
    return 0


GROUPS: list[tuple[str, Callable[[str], int]]] = [
    # Longest first: with fewer cores than groups they start in this order.
    ("chain", _chain),
    ("pynndescent", _pynndescent),
    ("cohort", _cohort),
]


def run_groups(groups: list[tuple[str, Callable[[str], int]]], root: str, parallel: bool) -> list[str]:
    """Runs each group (in its own folder under root), at the same time when parallel; returns
    the names of the groups that failed (a group that raised counts as failed)."""
    failed: list[str] = []

    def one(name: str, fn: Callable[[str], int]) -> None:
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        try:
            code = fn(folder)
        except Exception as e:  # noqa: BLE001 - reported as this group's failure, not a thread crash
            _say(f"warmup: group {name} raised {type(e).__name__}: {e}")
            code = 1
        if code != 0:
            with _PRINT:
                failed.append(name)

    if not parallel:
        for name, fn in groups:
            one(name, fn)
        return failed
    threads = [threading.Thread(target=one, args=g, name=f"warmup-{g[0]}") for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--pynndescent"]:
        return _pynndescent_step()
    if args:
        print(f"usage: python -m ragomics_runner.warmup [--pynndescent] (got {' '.join(args)})", file=sys.stderr)
        return 2
    parallel = os.environ.get("RAGOMICS_WARMUP_PARALLEL", "1") != "0"
    root = tempfile.mkdtemp(prefix="ragomics-warmup-")
    t0 = time.monotonic()
    try:
        failed = run_groups(GROUPS, root, parallel)
        _say(f"warmup: {'total':22s} {time.monotonic() - t0:5.1f} s  "
             f"({'parallel' if parallel else 'sequential'} groups: {', '.join(g for g, _ in GROUPS)})")
        return 1 if failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

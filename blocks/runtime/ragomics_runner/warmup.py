"""Run every built-in block once on the bundled dataset, so numba compiles (and caches) what
the blocks use and matplotlib builds its font cache. Used at image build time:

    NUMBA_CACHE_DIR=/opt/ragomics/cache-seed/numba MPLCONFIGDIR=/opt/ragomics/cache-seed/mpl \
        python -m ragomics_runner.warmup

Exits non-zero when any block fails, so a broken image does not build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

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

# scanpy's neighbors switches from scikit-learn's brute force to pynndescent at 8,192 cells
# (euclidean metric): one leiden run above that compiles (and caches) pynndescent's functions,
# which took ~70 s in every container that built the graph on a large data set.
LARGE_CELLS = 8300


def _large_input(path: str) -> None:
    """LARGE_CELLS cells with only a 20-dimensional X_pca in 6 clusters (the neighbours' input)."""
    import anndata
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(6, 20))
    pcs = centers[rng.integers(0, 6, LARGE_CELLS)] + rng.normal(size=(LARGE_CELLS, 20))
    adata = anndata.AnnData(X=sp.csr_matrix((LARGE_CELLS, 1), dtype=np.float32))
    adata.obsm["X_pca"] = pcs.astype(np.float32)
    adata.write_h5ad(path)


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
    with open(os.path.join(ws, "job.json"), "w") as fh:
        json.dump(job, fh)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", ws],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        print(f"warmup: concatenate failed with exit {proc.returncode}")
        return proc.returncode, ""
    with open(os.path.join(ws, "output", "result.json")) as fh:
        summary = json.load(fh)["summary"]
    print(f"warmup: {'cohort concatenate':22s} {time.monotonic() - t0:5.1f} s  {summary}")
    return 0, os.path.join(ws, "output", "_node_anndata.h5ad")


def _run_step(root: str, folder: str, label: str, name: str, params: dict, current: str) -> tuple[int, str, str]:
    """Runs one block through the runner in a fresh workspace; returns (exit, summary, output)."""
    ws = os.path.join(root, folder)
    os.makedirs(os.path.join(ws, "input"))
    os.makedirs(os.path.join(ws, "output"))
    shutil.copy(current, os.path.join(ws, "input", "_node_anndata.h5ad"))
    with open(os.path.join(ws, "job.json"), "w") as fh:
        json.dump({"treeId": "warmup", "nodeId": name, "attempt": 1, "block": {"name": name, "parameters": params}}, fh)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", ws],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        print(f"warmup: {name} failed with exit {proc.returncode}")
        return proc.returncode, "", ""
    with open(os.path.join(ws, "output", "result.json")) as fh:
        summary = json.load(fh)["summary"]
    print(f"warmup: {label:22s} {time.monotonic() - t0:5.1f} s  {summary}")
    return 0, summary, os.path.join(ws, "output", "_node_anndata.h5ad")


def main() -> int:
    from .datasets import pbmc68k_counts

    root = tempfile.mkdtemp(prefix="ragomics-warmup-")
    try:
        current = os.path.join(root, "input.h5ad")
        pbmc68k_counts().write_h5ad(current)
        for i, (name, params) in enumerate(CHAIN):
            code, _, current = _run_step(root, f"step{i}", name, name, params, current)
            if code != 0:
                return 1
        code, current = _cohort_step(root)
        if code != 0:
            return 1
        for i, (name, params) in enumerate(COHORT_CHAIN):
            code, _, current = _run_step(root, f"cohort{i}", f"cohort {name}", name, params, current)
            if code != 0:
                return 1
        large = os.path.join(root, "large.h5ad")
        _large_input(large)
        code, _, _ = _run_step(root, "large", f"leiden {LARGE_CELLS} cells", "leiden", {}, large)
        if code != 0:
            return 1
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

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


def main() -> int:
    from .datasets import pbmc68k_counts

    root = tempfile.mkdtemp(prefix="ragomics-warmup-")
    try:
        current = os.path.join(root, "input.h5ad")
        pbmc68k_counts().write_h5ad(current)
        for i, (name, params) in enumerate(CHAIN):
            ws = os.path.join(root, f"step{i}")
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
                return 1
            with open(os.path.join(ws, "output", "result.json")) as fh:
                summary = json.load(fh)["summary"]
            print(f"warmup: {name:22s} {time.monotonic() - t0:5.1f} s  {summary}")
            current = os.path.join(ws, "output", "_node_anndata.h5ad")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

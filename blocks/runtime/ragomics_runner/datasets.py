"""Real single-cell datasets that ship inside installed packages (no download at run time).

`python -m ragomics_runner.datasets NAME OUT.h5ad` writes one of them.

pbmc68k_counts: scanpy's bundled `pbmc68k_reduced` (700 PBMCs from 10x Genomics' 68k PBMC
data, Zheng et al. 2017). Its X is scaled (negative values), but `.raw.X` holds
log1p(counts / n_counts * 1e4) for 765 genes, with `obs['n_counts']` the cell's original total.
So counts = expm1(raw.X) * n_counts / 1e4, which comes out as whole numbers up to float32 rounding
(largest deviation ~0.08); they are rounded to integers. The result is a raw count matrix of
700 cells x 765 genes (the genes kept by the original authors' HVG selection; MT-ND3 is the
only mitochondrial gene), with the cell annotations `bulk_labels` and `phase` kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

DATASETS: dict[str, str] = {
    "pbmc68k_counts": "700 PBMCs x 765 genes, raw counts rebuilt from scanpy's bundled pbmc68k_reduced",
}


def pbmc68k_counts() -> Any:
    import anndata
    import numpy as np
    import pandas as pd
    import scanpy as sc
    import scipy.sparse as sp

    src = sc.datasets.pbmc68k_reduced()
    raw = src.raw
    X = raw.X.toarray() if sp.issparse(raw.X) else np.asarray(raw.X)
    size = src.obs["n_counts"].to_numpy(dtype=np.float64)[:, None]
    counts = np.expm1(X.astype(np.float64)) * size / 1e4
    rounded = np.rint(counts)
    deviation = float(np.abs(counts - rounded).max())
    if deviation > 0.25:
        raise RuntimeError(f"pbmc68k_reduced raw data is not log1p(CP10k) of whole counts (deviation {deviation})")
    obs = pd.DataFrame(index=src.obs_names.copy())
    for col in ("bulk_labels", "phase"):
        if col in src.obs.columns:
            obs[col] = src.obs[col].to_numpy()
            obs[col] = obs[col].astype("category")
    obs["orig_n_counts"] = src.obs["n_counts"].to_numpy(dtype=np.float32)
    var = pd.DataFrame(index=raw.var_names.copy())
    adata = anndata.AnnData(X=sp.csr_matrix(rounded.astype(np.float32)), obs=obs, var=var)
    adata.uns["dataset"] = {
        "name": "pbmc68k_counts",
        "source": "scanpy.datasets.pbmc68k_reduced() (bundled in the scanpy wheel)",
        "transform": "round(expm1(raw.X) * obs.n_counts / 1e4)",
        "max_rounding_deviation": deviation,
    }
    return adata


BUILDERS: dict[str, Callable[[], Any]] = {"pbmc68k_counts": pbmc68k_counts}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in BUILDERS:
        sys.stderr.write("usage: python -m ragomics_runner.datasets NAME OUT.h5ad\n")
        for name, text in DATASETS.items():
            sys.stderr.write(f"  {name}: {text}\n")
        return 64
    name, out = argv
    adata = BUILDERS[name]()
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)), f".tmp-{os.getpid()}-{os.path.basename(out)}")
    adata.write_h5ad(tmp, compression="gzip")
    os.replace(tmp, out)
    print(f"{name}: {adata.n_obs} cells x {adata.n_vars} genes -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

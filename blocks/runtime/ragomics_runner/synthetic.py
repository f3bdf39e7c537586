"""A synthetic raw-count dataset of any size, for benchmarks (e.g. 100,000 cells; the bundled real
dataset has only 700).

`python -m ragomics_runner.synthetic OUT.h5ad [--cells 100000] [--genes 2000] [--types 8] [--seed 0]`

Counts are negative binomial (a gamma-Poisson mixture) per cell and gene, "realistic-ish":
- gene abundances are log-normal (a few highly expressed genes, a long tail of rare ones), with
  a gene-specific dispersion;
- cells belong to one of `--types` cell types, each raising ~40 marker genes 3-12 fold, so
  highly variable genes, PCA and clustering find structure;
- library sizes are log-normal (median ~700 counts; ~400 genes detected per cell at 2,000 genes);
- the first 13 genes are the human mitochondrial genes (MT-ND1 ... MT-CYB), ~4 % of the counts
  of a healthy cell; ~4 % of the cells are "dying" (25-50 % mitochondrial, small libraries) and
  ~2 % are near-empty droplets, so quality_control has something to remove.

Written uncompressed, like every node's output. obs: `cell_type` (the ground truth), var: gene names.
Deterministic for a given (cells, genes, types, seed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

MITO_GENES = ("MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3",
              "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB")
CHUNK_CELLS = 5000


def synthetic_counts(n_cells: int, n_genes: int, n_types: int = 8, seed: int = 0) -> Any:
    import anndata
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    n_mito = len(MITO_GENES)
    if n_genes <= n_mito + 50:
        raise ValueError(f"need more than {n_mito + 50} genes, got {n_genes}")
    rng = np.random.default_rng(seed)
    n_nuclear = n_genes - n_mito

    # Per type: nuclear gene proportions (shared log-normal baseline, ~40 raised markers per type).
    base = rng.lognormal(mean=0.0, sigma=1.4, size=n_nuclear)
    profiles = np.tile(base, (n_types, 1))
    for k in range(n_types):
        markers = rng.choice(n_nuclear, size=min(40, n_nuclear // 4), replace=False)
        profiles[k, markers] *= rng.uniform(3.0, 12.0, size=markers.size)
    profiles /= profiles.sum(axis=1, keepdims=True)
    mito_profile = rng.dirichlet(np.full(n_mito, 2.0))
    # Dispersion 1/r per gene: larger for rarer genes, as in real UMI data.
    dispersion = 0.05 + 0.6 * rng.beta(2.0, 5.0, size=n_genes)
    r = 1.0 / dispersion

    types = rng.choice(n_types, size=n_cells, p=rng.dirichlet(np.full(n_types, 3.0)))
    library = rng.lognormal(mean=np.log(700.0), sigma=0.45, size=n_cells)
    mito_frac = rng.beta(4.0, 90.0, size=n_cells)  # ~4 %
    dying = rng.random(n_cells) < 0.04
    mito_frac[dying] = rng.uniform(0.25, 0.5, size=int(dying.sum()))
    library[dying] *= 0.5
    empty = rng.random(n_cells) < 0.02
    library[empty] = rng.uniform(30.0, 120.0, size=int(empty.sum()))

    chunks = []
    for start in range(0, n_cells, CHUNK_CELLS):
        stop = min(n_cells, start + CHUNK_CELLS)
        lib = library[start:stop, None]
        frac = mito_frac[start:stop, None]
        mean = np.empty((stop - start, n_genes), dtype=np.float64)
        mean[:, :n_mito] = lib * frac * mito_profile[None, :]
        mean[:, n_mito:] = lib * (1.0 - frac) * profiles[types[start:stop]]
        lam = rng.gamma(shape=r[None, :], scale=mean / r[None, :])
        counts = rng.poisson(lam).astype(np.float32)
        chunks.append(sp.csr_matrix(counts))
    X = sp.vstack(chunks, format="csr")

    obs = pd.DataFrame(index=pd.Index([f"cell{i:06d}" for i in range(n_cells)]))
    obs["cell_type"] = pd.Categorical([f"type{t}" for t in types])
    var = pd.DataFrame(index=pd.Index(list(MITO_GENES) + [f"GENE{j:05d}" for j in range(1, n_nuclear + 1)]))
    adata = anndata.AnnData(X=X, obs=obs, var=var)
    adata.uns["dataset"] = {
        "name": "synthetic",
        "source": "ragomics_runner.synthetic (negative-binomial counts)",
        "n_types": n_types,
        "seed": seed,
    }
    return adata


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ragomics_runner.synthetic", description="Write a synthetic raw-count .h5ad.")
    ap.add_argument("out")
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--types", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    adata = synthetic_counts(args.cells, args.genes, args.types, args.seed)
    out = os.path.abspath(args.out)
    tmp = os.path.join(os.path.dirname(out), f".tmp-{os.getpid()}-{os.path.basename(out)}")
    adata.write_h5ad(tmp)
    os.replace(tmp, out)
    nnz = int(adata.X.nnz)
    print(
        f"synthetic: {adata.n_obs} cells x {adata.n_vars} genes, {nnz} non-zeros "
        f"({nnz / adata.n_obs:.0f} genes per cell), {os.path.getsize(out) / 1e6:.0f} MB -> {out} "
        f"in {time.monotonic() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

A cohort (several samples with a sample sheet, for the cohort blocks and their science checks):

`python -m ragomics_runner.synthetic --cohort OUT_DIR [--samples 8] [--cells 300] [--genes 2000]
[--types 5] [--batches 2] [--seed 0]` writes OUT_DIR/<sample>.h5ad (raw counts, one per sample) and
OUT_DIR/samplesheet.csv (`sample,path,condition,batch,donor`; paths relative to the sheet). See
`synthetic_cohort` for what is planted (batch shift, condition-responsive genes) and where the truth is.
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


CONDITIONS = ("control", "treated")


def cohort_design(n_samples: int, n_batches: int) -> list[dict[str, str]]:
    """The sample sheet rows (without paths): conditions alternate and each batch holds both
    conditions (sample i: condition i % 2, batch (i // 2) % n_batches), so batch and condition are
    not confounded; one donor per sample."""
    if n_samples < 4 or n_samples % 2:
        raise ValueError(f"need an even number of samples >= 4 (two conditions), got {n_samples}")
    if n_batches < 1 or 2 * n_batches > n_samples:
        raise ValueError(f"need 1..{n_samples // 2} batches for {n_samples} samples, got {n_batches}")
    width = max(2, len(str(n_samples)))
    return [
        {
            "sample": f"S{i + 1:0{width}d}",
            "condition": CONDITIONS[i % 2],
            "batch": f"batch{(i // 2) % n_batches + 1}",
            "donor": f"D{i + 1:0{width}d}",
        }
        for i in range(n_samples)
    ]


def synthetic_cohort(**kwargs: Any) -> tuple[list[dict[str, str]], list[Any]]:
    """(sheet rows, AnnData per row) of `iter_cohort(**kwargs)`, all in memory."""
    pairs = list(iter_cohort(**kwargs))
    return [row for row, _ in pairs], [adata for _, adata in pairs]


def iter_cohort(
    n_samples: int = 8,
    cells_per_sample: int = 300,
    n_genes: int = 2000,
    n_types: int = 5,
    n_batches: int = 2,
    seed: int = 0,
    n_de_genes: int = 60,
    de_log2fc: float = 1.5,
    n_de_types: int = 2,
    batch_sigma: float = 0.5,
    sample_sigma: float = 0.1,
) -> Any:
    """Raw-count AnnData per sample of a two-condition cohort with known truth.

    Yields (sheet row, AnnData) sample by sample, so a 24 x 20,000-cell cohort is written without
    holding it all. What is planted, on top of the single-sample model of
    `synthetic_counts` (NB counts, log-normal gene abundances and library sizes, marker genes per
    cell type; no mitochondrial genes or dying cells here, so QC keeps nearly everything):
    - cell types `type0..` shared by all samples (obs `cell_type`), proportions varying per sample;
    - a batch shift: every gene's mean is multiplied by exp(N(0, batch_sigma)) per batch (and the
      library size by a batch factor), strong enough that unintegrated PCA/clustering splits by batch;
    - sample-to-sample biological variation: a gene-wise factor exp(N(0, sample_sigma)) per sample;
    - condition-responsive genes: `n_de_genes` genes (var `de_truth`) chosen among the upper half of
      baseline abundance, whose mean in the `treated` samples is multiplied by 2**(+-de_log2fc)
      (var `de_log2fc`, signed) in the first `n_de_types` cell types only (var `de_cell_types`,
      comma-separated; uns `cohort_truth`).
    Every sample carries the same var (gene names and truth columns). Deterministic for the arguments.
    """
    import anndata
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    if n_genes < 100:
        raise ValueError(f"need at least 100 genes, got {n_genes}")
    if not 1 <= n_de_types <= n_types:
        raise ValueError(f"n_de_types must be 1..{n_types}, got {n_de_types}")
    rows = cohort_design(n_samples, n_batches)
    rng = np.random.default_rng(seed)

    base = rng.lognormal(mean=0.0, sigma=1.4, size=n_genes)
    profiles = np.tile(base, (n_types, 1))
    for k in range(n_types):
        markers = rng.choice(n_genes, size=min(40, n_genes // 4), replace=False)
        profiles[k, markers] *= rng.uniform(3.0, 12.0, size=markers.size)
    dispersion = 0.05 + 0.6 * rng.beta(2.0, 5.0, size=n_genes)
    r = 1.0 / dispersion
    type_share = rng.dirichlet(np.full(n_types, 8.0))

    # Condition-responsive genes among the better-expressed half (so 4 vs 4 samples can see them).
    abundant = np.flatnonzero(base >= np.median(base))
    de_idx = np.sort(rng.choice(abundant, size=min(n_de_genes, abundant.size), replace=False))
    de_sign = rng.choice([-1.0, 1.0], size=de_idx.size)
    log2fc = np.zeros(n_genes)
    log2fc[de_idx] = de_sign * de_log2fc
    de_types = [f"type{k}" for k in range(n_de_types)]

    batches = sorted({row["batch"] for row in rows})
    batch_gene = {b: np.exp(rng.normal(0.0, batch_sigma, size=n_genes)) for b in batches}
    batch_lib = {b: float(np.exp(rng.normal(0.0, 0.25))) for b in batches}

    genes = [f"GENE{j:05d}" for j in range(1, n_genes + 1)]
    var = pd.DataFrame(index=pd.Index(genes))
    var["de_truth"] = np.zeros(n_genes, dtype=bool)
    var.iloc[de_idx, var.columns.get_loc("de_truth")] = True
    var["de_log2fc"] = log2fc
    var["de_cell_types"] = np.where(var["de_truth"].to_numpy(), ",".join(de_types), "")

    for i, row in enumerate(rows):
        srng = np.random.default_rng([seed, i + 1])
        treated = row["condition"] == CONDITIONS[1]
        gene_factor = batch_gene[row["batch"]] * np.exp(srng.normal(0.0, sample_sigma, size=n_genes))
        prof = profiles * gene_factor[None, :]
        if treated:
            prof[:n_de_types] *= np.exp2(log2fc)[None, :]
        prof /= prof.sum(axis=1, keepdims=True)
        types = srng.choice(n_types, size=cells_per_sample, p=srng.dirichlet(type_share * 60.0))
        library = srng.lognormal(mean=np.log(1500.0), sigma=0.35, size=cells_per_sample) * batch_lib[row["batch"]]
        chunks = []
        for start in range(0, cells_per_sample, CHUNK_CELLS):
            stop = min(cells_per_sample, start + CHUNK_CELLS)
            mean = library[start:stop, None] * prof[types[start:stop]]
            lam = srng.gamma(shape=r[None, :], scale=mean / r[None, :])
            chunks.append(sp.csr_matrix(srng.poisson(lam).astype(np.float32)))
        obs = pd.DataFrame(index=pd.Index([f"{row['sample']}_cell{c:06d}" for c in range(cells_per_sample)]))
        obs["cell_type"] = pd.Categorical([f"type{t}" for t in types], categories=[f"type{k}" for k in range(n_types)])
        adata = anndata.AnnData(X=sp.vstack(chunks, format="csr"), obs=obs, var=var.copy())
        adata.uns["dataset"] = {"name": "synthetic_cohort", "seed": seed, **row}
        adata.uns["cohort_truth"] = {
            "de_cell_types": de_types,
            "de_log2fc": de_log2fc,
            "batch_sigma": batch_sigma,
            "conditions": list(CONDITIONS),
        }
        yield row, adata


def write_cohort(out_dir: str, **kwargs: Any) -> str:
    """Write one .h5ad per sample and samplesheet.csv into out_dir; returns the sheet's path."""
    import csv

    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for row, adata in iter_cohort(**kwargs):
        rows.append(row)
        target = os.path.join(out_dir, f"{row['sample']}.h5ad")
        tmp = os.path.join(out_dir, f".tmp-{os.getpid()}-{row['sample']}.h5ad")
        adata.write_h5ad(tmp)
        os.replace(tmp, target)
    sheet = os.path.join(out_dir, "samplesheet.csv")
    tmp = os.path.join(out_dir, f".tmp-{os.getpid()}-samplesheet.csv")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", "path", "condition", "batch", "donor"])
        for row in rows:
            writer.writerow([row["sample"], f"{row['sample']}.h5ad", row["condition"], row["batch"], row["donor"]])
    os.replace(tmp, sheet)
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ragomics_runner.synthetic", description="Write a synthetic raw-count .h5ad.")
    ap.add_argument("out", help="the .h5ad to write, or with --cohort the folder")
    ap.add_argument("--cohort", action="store_true", help="write a cohort folder (per-sample .h5ad + samplesheet.csv)")
    ap.add_argument("--cells", type=int, default=None, help="cells (per sample with --cohort); 100000 / 300")
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--types", type=int, default=None, help="cell types; 8 / 5 with --cohort")
    ap.add_argument("--samples", type=int, default=8, help="--cohort: samples (even, >= 4)")
    ap.add_argument("--batches", type=int, default=2, help="--cohort: batches")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    if args.cohort:
        cells = 300 if args.cells is None else args.cells
        try:
            cohort_design(args.samples, args.batches)  # a bad design is a usage error: one line, exit 2
        except ValueError as exc:
            print(f"ragomics_runner.synthetic: {exc}", file=sys.stderr)
            return 2
        sheet = write_cohort(
            os.path.abspath(args.out), n_samples=args.samples, cells_per_sample=cells, n_genes=args.genes,
            n_types=5 if args.types is None else args.types, n_batches=args.batches, seed=args.seed,
        )
        print(
            f"synthetic cohort: {args.samples} samples x {cells} cells x {args.genes} genes, "
            f"{args.batches} batches -> {sheet} in {time.monotonic() - t0:.1f} s"
        )
        return 0
    args.cells = 100_000 if args.cells is None else args.cells
    args.types = 8 if args.types is None else args.types
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

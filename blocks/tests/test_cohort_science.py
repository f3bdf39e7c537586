"""Science checks of the cohort blocks on a synthetic cohort with planted truth.

The chain runs as the tree would, by calling the blocks' run() one after another on what the
previous node wrote (each node's output is written to .h5ad and read back):
per sample quality_control -> normalize -> highly_variable_genes, then concatenate (a plain dict
of the samples, as the runner's lazy mapping would give), then pca -> integrate -> leiden on
X_pca_harmony, and pseudobulk_de on concatenate's output (raw counts in layers['counts']).

Cohort: ragomics_runner.synthetic.synthetic_cohort, 8 samples x 300 cells x 1000 genes, 2 conditions
x 2 batches, 5 cell types, 60 condition-responsive genes (|log2FC| 1.5) in type0 and type1, a
batch shift of every gene (log-normal, sigma 0.5). The figures are printed past pytest's capture
(capsys.disabled), so `npm test` shows them.
Needs the image's packages (scripts/ensure-python-tools.sh installs them into the tools venv).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from ragomics_runner import errors as E
from ragomics_runner import report, synthetic
from ragomics_runner.blocks import (
    concatenate,
    highly_variable_genes,
    integrate,
    leiden,
    normalize,
    pca,
    pseudobulk_de,
    quality_control,
)

COHORT = {"n_samples": 8, "cells_per_sample": 300, "n_genes": 1000, "n_types": 5, "n_batches": 2, "seed": 0}
FDR = 0.05


def _node(root: Path, name: str, block: Any, inp: Any, **params: Any) -> tuple[Any, dict[str, Any]]:
    """Run one block in its own output folder; write its AnnData and read it back like the next node."""
    out = root / name
    out.mkdir(parents=True)
    report._reset(out)
    adata = block.run(inp, **params)
    snap = report._snapshot()
    for fig in snap["figures"]:
        assert (out / fig).is_file(), f"{name}: figure {fig} not written"
    path = out / "_node_anndata.h5ad"
    adata.write_h5ad(path)
    return anndata.read_h5ad(path), snap


def run_chain(root: Path) -> dict[str, Any]:
    sheet = Path(synthetic.write_cohort(str(root / "cohort"), **COHORT))
    rows = pd.read_csv(sheet, dtype=str)
    per_sample: dict[str, Any] = {}
    for row in rows.itertuples():
        adata = anndata.read_h5ad(sheet.parent / row.path)
        adata, _ = _node(root, f"qc-{row.sample}", quality_control, adata)
        adata, _ = _node(root, f"norm-{row.sample}", normalize, adata)
        adata, _ = _node(root, f"hvg-{row.sample}", highly_variable_genes, adata, n_top_genes=500)
        per_sample[row.sample] = adata
    samples = {r["sample"]: {"sample": r["sample"], "condition": r["condition"], "batch": r["batch"],
                             "donor": r["donor"]} for r in rows.to_dict("records")}

    out = root / "concat"
    out.mkdir()
    report._reset(out)
    merged = concatenate.run(per_sample, samples=samples)
    concat_metrics = report._snapshot()["metrics"]
    merged.write_h5ad(out / "_node_anndata.h5ad")
    merged = anndata.read_h5ad(out / "_node_anndata.h5ad")

    pcs, _ = _node(root, "pca", pca, merged.copy(), n_comps=30)
    unintegrated, _ = _node(root, "leiden-unintegrated", leiden, pcs.copy(), resolution=0.5)
    integrated, integ = _node(root, "integrate", integrate, pcs)
    clustered, _ = _node(root, "leiden", leiden, integrated, resolution=0.5, use_rep="X_pca_harmony")
    de, de_report = _node(root, "pseudobulk", pseudobulk_de, merged, groupby="cell_type", covariates=["batch"])
    return {
        "merged": merged,
        "concat_metrics": concat_metrics,
        "unintegrated": unintegrated,
        "integrate": integ["metrics"],
        "clustered": clustered,
        "de": de,
        "de_metrics": de_report["metrics"],
        "csv": root / "pseudobulk" / "pseudobulk_de.csv",
    }


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_chain(tmp_path_factory.mktemp("cohort-run1"))


def test_concatenate_keeps_samples_sheet_columns_and_counts(chain: dict[str, Any]) -> None:
    merged = chain["merged"]
    assert merged.n_obs == chain["concat_metrics"]["n_cells"]
    assert list(merged.obs["sample"].cat.categories) == [f"S{i:02d}" for i in range(1, 9)]
    for col in ("condition", "batch", "donor"):
        assert col in merged.obs.columns
    per_sample = merged.obs.groupby("sample", observed=True)[["condition", "batch"]].nunique()
    assert (per_sample.to_numpy() == 1).all()
    counts = merged.layers["counts"]
    assert counts.sum() > 0 and np.all(np.mod(counts.data, 1) == 0), "raw counts must survive into the merge"
    assert merged.var["de_truth"].sum() == 60, "ground truth columns agreed by every sample are kept"
    nsamples = merged.var["highly_variable_nsamples"].to_numpy()
    assert np.array_equal(merged.var["highly_variable"].to_numpy(dtype=bool), nsamples >= 4)
    assert 0 < merged.var["highly_variable"].sum() < merged.n_vars


def test_integration_mixes_batches_and_keeps_cell_types(chain: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    m = chain["integrate"]
    un, cl = chain["unintegrated"], chain["clustered"]
    ari_before = adjusted_rand_score(un.obs["cell_type"], un.obs["leiden"])
    ari_batch_before = adjusted_rand_score(un.obs["batch"], un.obs["leiden"])
    ari_after = adjusted_rand_score(cl.obs["cell_type"], cl.obs["leiden"])
    ari_batch_after = adjusted_rand_score(cl.obs["batch"], cl.obs["leiden"])
    line = (
        f"\nintegrate: |batch silhouette| {m['batch_silhouette_before']:.4f} -> {m['batch_silhouette_after']:.4f}; "
        f"kNN batch entropy {m['batch_entropy_before']:.3f} -> {m['batch_entropy_after']:.3f} (1 = mixed); "
        f"Leiden ARI vs cell types {ari_before:.3f} -> {ari_after:.3f}, vs batch {ari_batch_before:.3f} -> "
        f"{ari_batch_after:.3f}; clusters {un.obs['leiden'].nunique()} -> {cl.obs['leiden'].nunique()}"
    )
    with capsys.disabled():
        print(line)
    assert m["batch_entropy_before"] < 0.5, "the planted batch shift must separate batches before integration"
    assert m["batch_entropy_after"] > m["batch_entropy_before"] + 0.3
    assert m["batch_silhouette_after"] < m["batch_silhouette_before"]
    assert ari_after >= 0.8


def test_pseudobulk_de_recovers_the_planted_genes(chain: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    merged, de = chain["merged"], chain["de"]
    results = de.uns["pseudobulk_de"]["results"]
    on_disk = pd.read_csv(chain["csv"])
    assert len(on_disk) == len(results)
    truth_genes = set(merged.var_names[merged.var["de_truth"].to_numpy(dtype=bool)])
    de_types = merged.var.loc[merged.var["de_truth"].to_numpy(dtype=bool), "de_cell_types"].iloc[0].split(",")
    truth = {(g, gene) for g in de_types for gene in truth_genes}
    sig = results[results["padj"].fillna(1.0) < FDR]
    called = set(zip(sig["group"].astype(str), sig["gene"].astype(str), strict=True))
    tp = len(called & truth)
    precision = tp / max(1, len(called))
    recall = tp / len(truth)
    genes_called = set(sig["gene"].astype(str))
    signs = merged.var["de_log2fc"]
    right_sign = np.mean([np.sign(r.log2FoldChange) == np.sign(signs[r.gene])
                          for r in sig.itertuples() if (r.group, r.gene) in truth])
    line = (
        f"\npseudobulk_de (FDR {FDR}): {len(called)} gene x cell type calls, {tp} of {len(truth)} planted; "
        f"precision {precision:.3f}, recall {recall:.3f}; genes: {len(genes_called)} called, "
        f"precision {len(genes_called & truth_genes) / max(1, len(genes_called)):.3f}, "
        f"recall {len(genes_called & truth_genes) / len(truth_genes):.3f}; sign right in {right_sign:.3f}"
    )
    with capsys.disabled():
        print(line)
    assert chain["de_metrics"]["n_significant"] == len(called)
    assert precision >= 0.8
    assert recall >= 0.8
    assert right_sign == 1.0


def test_a_rerun_gives_identical_results(chain: dict[str, Any], tmp_path: Path) -> None:
    again = run_chain(tmp_path)
    assert np.array_equal(chain["clustered"].obsm["X_pca_harmony"], again["clustered"].obsm["X_pca_harmony"])
    assert chain["clustered"].obs["leiden"].tolist() == again["clustered"].obs["leiden"].tolist()
    a = chain["de"].uns["pseudobulk_de"]["results"]
    b = again["de"].uns["pseudobulk_de"]["results"]
    pd.testing.assert_frame_equal(a, b)
    assert chain["integrate"] == again["integrate"]


def test_the_generator_writes_a_balanced_sheet(chain: dict[str, Any], tmp_path: Path) -> None:
    rows = synthetic.cohort_design(8, 2)
    pairs = {(r["condition"], r["batch"]) for r in rows}
    assert pairs == {(c, b) for c in synthetic.CONDITIONS for b in ("batch1", "batch2")}
    with pytest.raises(ValueError, match="even number"):
        synthetic.cohort_design(7, 2)


def test_bad_inputs_are_named(chain: dict[str, Any], tmp_path: Path) -> None:
    report._reset(tmp_path)
    merged = chain["merged"]
    with pytest.raises(E.InvalidParameters, match="raw counts"):
        pseudobulk_de.run(merged.copy(), layer=None, groupby="cell_type")
    with pytest.raises(E.InvalidParameters, match="'condition_key'"):
        pseudobulk_de.run(merged.copy(), condition_key="nope")
    with pytest.raises(E.InvalidParameters, match="'test_level'"):
        pseudobulk_de.run(merged.copy(), reference="control", test_level="other")
    with pytest.raises(E.InvalidParameters, match="run pca first"):
        integrate.run(merged.copy())
    with pytest.raises(E.InvalidParameters, match="'batch_key'"):
        integrate.run(chain["unintegrated"].copy(), batch_key="nope")
    with pytest.raises(E.InvalidParameters, match="at least one input"):
        concatenate.run({})
    with pytest.raises(E.InvalidParameters, match="'use_rep'"):
        leiden.run(merged.copy(), use_rep="X_nope")

"""The built-in blocks refuse what would give a wrong result, and keep what later blocks read.

Each case is a mistake a user makes (or a tree makes for them) that used to crash with a raw
traceback, or worse, ran and returned something scientifically wrong: normalize without log1p,
an outer join's unmeasured genes in pseudobulk DE, a lost log1p marker after concatenate, a
neighbour graph reused for another n_pcs, a silent PCA of raw X, HVG flavours on the wrong kind of
data, PCA on too few genes, confounded DE covariates, integration over its own input, a
clustering written over a data column, marker genes on scaled data, a mito prefix that matches
nothing. Small synthetic data; needs the image's packages (scripts/ensure-python-tools.sh).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ragomics_runner import errors as E
from ragomics_runner import report
from ragomics_runner.blocks import (
    concatenate,
    highly_variable_genes,
    integrate,
    leiden,
    marker_genes,
    normalize,
    pca,
    pseudobulk_de,
    quality_control,
    scale,
    umap,
)


@pytest.fixture(autouse=True)
def _out(tmp_path: Path) -> None:
    report._reset(tmp_path)


def counts(n_obs: int = 120, n_vars: int = 60, seed: int = 0, prefix: str = "g") -> anndata.AnnData:
    """Poisson counts with two groups of cells that differ in the first ten genes."""
    rng = np.random.default_rng(seed)
    rate = np.full((n_obs, n_vars), 3.0)
    rate[: n_obs // 2, :10] = 12.0
    X = rng.poisson(rate).astype(np.float32)
    ad = anndata.AnnData(sp.csr_matrix(X))
    ad.obs_names = [f"c{seed}_{i}" for i in range(n_obs)]
    ad.var_names = [f"{prefix}{j}" for j in range(n_vars)]
    ad.obs["group"] = pd.Categorical(np.where(np.arange(n_obs) < n_obs // 2, "a", "b"))
    return ad


def logged(ad: anndata.AnnData | None = None) -> anndata.AnnData:
    return normalize.run(ad if ad is not None else counts())


def with_pca(n_comps: int = 10) -> anndata.AnnData:
    return pca.run(logged(), n_comps=n_comps, use_highly_variable=False)


def test_normalize_without_log1p_runs_and_draws_its_figure(tmp_path: Path) -> None:
    out = normalize.run(counts(), log1p=False)
    sums = np.asarray(out.X.sum(axis=1)).ravel()
    assert np.allclose(sums, 1e4, rtol=1e-4)
    assert "log1p" not in out.uns
    assert (tmp_path / "figures" / "normalize_library_size.png").is_file()


def test_concatenate_records_which_sample_measured_which_gene_and_keeps_log1p() -> None:
    a = logged(counts(seed=1))
    b = logged(counts(seed=2))
    b = b[:, 5:].copy()  # sample B's panel lacks g0..g4
    out = concatenate.run({"A": a, "B": b}, join="outer")
    measured = np.asarray(out.varm["sample_measured"])
    assert out.uns["concatenate"]["samples"] == ["A", "B"]
    assert measured.shape == (out.n_vars, 2)
    missing_in_b = set(out.var_names[~measured[:, 1]])
    assert missing_in_b == {f"g{j}" for j in range(5)}
    assert measured[:, 0].all()
    assert "log1p" in out.uns, "every input was log-normalised, so the output says so"
    # And what reads the marker now refuses to log it twice.
    with pytest.raises(E.InvalidParameters, match="already log-transformed"):
        normalize.run(out.copy())
    # Not every input logged: X would mix counts and log values, refused naming which is which.
    with pytest.raises(E.InvalidParameters, match=r"inputs 'A' are log-normalised \(uns\['log1p'\]\) and 'B' are not"):
        concatenate.run({"A": logged(counts(seed=3)), "B": counts(seed=4)})


def test_concatenate_keeps_a_categorical_gene_annotation_whose_values_differ_between_inputs() -> None:
    a, b = counts(seed=1), counts(seed=2, prefix="h")
    a.var["biotype"] = pd.Categorical(["protein_coding"] * a.n_vars)
    b.var["biotype"] = pd.Categorical(["lncRNA"] * b.n_vars)
    out = concatenate.run({"A": a, "B": b}, join="outer")
    assert out.var["biotype"].isna().sum() == 0
    assert set(out.var["biotype"]) == {"protein_coding", "lncRNA"}


def test_concatenate_refuses_a_sample_key_that_is_also_a_sheet_column() -> None:
    rows = {"A": {"sample": "A", "batch": "b1"}, "B": {"sample": "B", "batch": "b2"}}
    with pytest.raises(E.InvalidParameters, match=r"'sample_key': 'batch' is also a column of the sample sheet"):
        concatenate.run({"A": counts(seed=1), "B": counts(seed=2)}, samples=rows, sample_key="batch")


def _cohort(n_samples: int = 8, drop_in_treated: int = 0, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample counts (layers['counts'] kept by normalize) and their sheet rows. The treated
    samples' panel lacks the last `drop_in_treated` genes."""
    rng = np.random.default_rng(seed)
    parts: dict[str, Any] = {}
    rows: dict[str, Any] = {}
    n_vars = 80
    for i in range(n_samples):
        treated = i % 2 == 1
        rate = np.full((60, n_vars), 5.0) * rng.lognormal(0, 0.1)
        X = rng.poisson(rate).astype(np.float32)
        ad = anndata.AnnData(sp.csr_matrix(X))
        ad.obs_names = [f"s{i}_{k}" for k in range(60)]
        ad.var_names = [f"g{j}" for j in range(n_vars)]
        if treated and drop_in_treated:
            ad = ad[:, : n_vars - drop_in_treated].copy()
        name = f"S{i}"
        parts[name] = normalize.run(ad)
        rows[name] = {"sample": name, "condition": "treated" if treated else "control", "batch": f"b{i % 4 // 2}",
                      "age": str(30 + i), "donor": f"d{i}"}
    return parts, rows


def test_pseudobulk_de_leaves_out_genes_some_samples_never_measured() -> None:
    parts, rows = _cohort(drop_in_treated=10)
    merged = concatenate.run(parts, samples=rows, join="outer")
    out = pseudobulk_de.run(merged, condition_key="condition", reference="control", test_level="treated",
                            min_cells=5, min_counts=1)
    results = out.uns["pseudobulk_de"]["results"]
    tested = set(results["gene"])
    unmeasured = {f"g{j}" for j in range(70, 80)}
    assert not (tested & unmeasured), "genes absent from the treated panel were tested"
    assert len(tested) == 70
    stats = report._snapshot()["metrics"]["groups_tested"]["all"]
    assert stats["n_genes_not_measured_in_every_sample"] == 10


def test_pseudobulk_de_fits_a_numeric_covariate_and_names_a_confounded_one() -> None:
    parts, rows = _cohort()
    merged = concatenate.run(parts, samples=rows, join="outer")
    assert str(merged.obs["age"].dtype) == "category", "a sheet column arrives as text categories"
    # As categories, 8 ages are 7 coefficients: more than 8 samples can fit with the condition.
    with pytest.raises(E.InvalidParameters, match=r"coefficients for 8 samples"):
        pseudobulk_de.run(merged.copy(), covariates=["age"], min_cells=5, min_counts=1)
    out = pseudobulk_de.run(merged.copy(), condition_key="condition", reference="control", test_level="treated",
                            covariates=["age"], numeric_covariates=["age"], min_cells=5, min_counts=1)
    assert len(out.uns["pseudobulk_de"]["results"]) > 0
    assert report._snapshot()["metrics"]["design"] == "~age + condition"
    with pytest.raises(E.InvalidParameters, match=r"'numeric_covariates': 'batch' is not one of the covariates"):
        pseudobulk_de.run(merged.copy(), covariates=["age"], numeric_covariates=["batch"], min_cells=5)
    with pytest.raises(E.InvalidParameters, match=r"column 'batch' has a value that is not a number \('b0'\)"):
        pseudobulk_de.run(merged.copy(), covariates=["batch"], numeric_covariates=["batch"], min_cells=5)
    constant = merged.copy()
    constant.obs["dose"] = "1.5"
    with pytest.raises(E.InvalidParameters, match=r"numeric covariate 'dose' takes one value in these samples"):
        pseudobulk_de.run(constant, covariates=["dose"], numeric_covariates=["dose"], min_cells=5)
    # donor has one value per sample: 1 + 7 + 1 coefficients for 8 samples.
    with pytest.raises(E.InvalidParameters, match=r"coefficients for 8 samples"):
        pseudobulk_de.run(merged.copy(), condition_key="condition", reference="control", test_level="treated",
                          covariates=["donor"], min_cells=5, min_counts=1)
    # A covariate that is the condition under another name.
    merged.obs["arm"] = merged.obs["condition"].astype(str).map({"treated": "x", "control": "y"})
    with pytest.raises(E.InvalidParameters, match=r"covariate 'arm' is confounded with 'condition'"):
        pseudobulk_de.run(merged.copy(), condition_key="condition", reference="control", test_level="treated",
                          covariates=["arm", "batch"], min_cells=5, min_counts=1)


def test_a_graph_built_on_all_pcs_is_not_reused_for_fewer() -> None:
    ad = umap.run(with_pca(10), n_neighbors=10)
    assert report._snapshot()["metrics"]["neighbors_rebuilt"] is True
    ad = leiden.run(ad, n_neighbors=10, n_pcs=5, resolution=0.5)
    m = report._snapshot()["metrics"]
    assert m["neighbors_rebuilt"] is True, "a 10-PC graph was reused for n_pcs=5"
    ad = leiden.run(ad, n_neighbors=10, n_pcs=5, resolution=0.8, key_added="leiden_08")
    assert report._snapshot()["metrics"]["neighbors_rebuilt"] is False, "the same settings reuse the graph"


def test_umap_and_leiden_without_a_pca_refuse_instead_of_computing_one() -> None:
    ad = logged()
    for block in (umap, leiden):
        with pytest.raises(E.InvalidParameters, match=r"no PCA .*run pca before this block"):
            block.run(ad.copy())
        assert "X_pca" not in ad.obsm
    out = leiden.run(ad.copy(), use_rep="X", n_neighbors=10)
    assert "X_pca" not in out.obsm, "use_rep X builds the graph on X itself"
    assert report._snapshot()["metrics"]["use_rep"] == "X"


def test_hvg_flavours_refuse_the_wrong_kind_of_data() -> None:
    with pytest.raises(E.InvalidParameters, match="expects log-normalised data and X holds raw counts"):
        highly_variable_genes.run(counts(), flavor="seurat", n_top_genes=10)
    no_counts = logged()
    del no_counts.layers["counts"]
    with pytest.raises(E.InvalidParameters, match="seurat_v3 works on raw counts"):
        highly_variable_genes.run(no_counts, flavor="seurat_v3", n_top_genes=10)
    ok = highly_variable_genes.run(logged(), flavor="seurat", n_top_genes=10)
    assert int(ok.var["highly_variable"].sum()) == 10


def test_pca_on_too_few_genes_names_the_cause() -> None:
    ad = logged()
    ad.var["highly_variable"] = False
    ad.var.iloc[0, ad.var.columns.get_loc("highly_variable")] = True
    with pytest.raises(E.InvalidParameters, match=r"1 genes marked highly_variable .*use_highly_variable: false"):
        pca.run(ad, n_comps=10)


def test_integrate_refuses_to_overwrite_its_input_embedding() -> None:
    ad = with_pca()
    ad.obs["batch"] = np.where(np.arange(ad.n_obs) % 2 == 0, "x", "y")
    with pytest.raises(E.InvalidParameters, match=r"'adjusted_basis': must differ from basis \('X_pca'\)"):
        integrate.run(ad, batch_key="batch", adjusted_basis="X_pca")


def test_leiden_does_not_write_over_a_data_column_but_may_over_its_own() -> None:
    ad = with_pca()
    ad.obs["cell_type"] = "t"
    with pytest.raises(E.InvalidParameters, match="'key_added': obs column 'cell_type' is already in the input"):
        leiden.run(ad.copy(), key_added="cell_type", n_neighbors=10)
    once = leiden.run(ad, n_neighbors=10, resolution=0.5)
    again = leiden.run(once, n_neighbors=10, resolution=1.0)
    assert "leiden" in again.obs.columns


def test_marker_genes_refuse_scaled_data_without_raw() -> None:
    ad = scale.run(with_pca())
    ad.obs["leiden"] = ad.obs["group"].astype(str)
    del ad.raw
    with pytest.raises(E.InvalidParameters, match="X looks scaled"):
        marker_genes.run(ad, groupby="leiden")
    kept = scale.run(with_pca())  # normalize's .raw is still there
    kept.obs["leiden"] = kept.obs["group"].astype(str)
    marker_genes.run(kept, groupby="leiden")
    lfc = np.asarray(kept.uns["rank_genes_groups"]["logfoldchanges"].tolist(), dtype=float)
    assert np.isfinite(lfc).all()


def test_quality_control_says_when_the_mito_prefix_matches_almost_nothing(tmp_path: Path) -> None:
    quality_control.run(counts(), min_genes=1, min_cells=0)
    m = report._snapshot()["metrics"]
    assert m["n_mito_genes"] == 0 and m["mito_genes"] == []
    assert "mito_prefix 'MT-' matched 0 gene(s)" in m["warning"]
    report._reset(tmp_path)  # a node of its own
    ad = counts()
    ad.var_names = [f"MT-{j}" if j < 6 else f"g{j}" for j in range(ad.n_vars)]
    quality_control.run(ad, min_genes=1, min_cells=0, max_pct_mito=100)
    m = report._snapshot()["metrics"]
    assert m["n_mito_genes"] == 6 and "warning" not in m


def test_pseudobulk_de_says_when_its_input_was_subset_to_highly_variable_genes() -> None:
    parts, rows = _cohort()
    merged = concatenate.run(parts, samples=rows, join="outer")
    pseudobulk_de.run(merged.copy(), min_cells=5, min_counts=1)
    assert "warning" not in report._snapshot()["metrics"]
    merged.var["highly_variable"] = True
    pseudobulk_de.run(merged, min_cells=5, min_counts=1)
    assert "holds only its 80 highly variable genes" in report._snapshot()["metrics"]["warning"]


def test_umap_refuses_a_min_dist_above_its_spread() -> None:
    with pytest.raises(E.InvalidParameters, match=r"'min_dist': 5 is above 1"):
        umap.run(with_pca(), min_dist=5.0)


def test_a_per_sample_clustering_can_be_replaced_by_a_cohort_clustering_after_concatenate() -> None:
    a, b = (leiden.run(pca.run(logged(counts(seed=s)), n_comps=5, use_highly_variable=False), n_neighbors=10)
            for s in (5, 6))
    merged = concatenate.run({"A": a, "B": b})
    assert merged.uns["leiden"]["per_sample"] is True
    out = leiden.run(pca.run(merged, n_comps=5, use_highly_variable=False), n_neighbors=10)
    assert "per_sample" not in out.uns["leiden"], "the cohort-wide clustering replaced the per-sample one"


def test_a_pca_run_again_drops_the_graph_built_on_the_old_one() -> None:
    ad = leiden.run(with_pca(10), n_neighbors=10)
    assert "connectivities" in ad.obsp
    ad.var["highly_variable"] = np.arange(ad.n_vars) < 30  # another gene set, the same n_comps
    ad = pca.run(ad, n_comps=10)
    assert "connectivities" not in ad.obsp and "neighbors" not in ad.uns
    leiden.run(ad, n_neighbors=10, resolution=0.7)
    assert report._snapshot()["metrics"]["neighbors_rebuilt"] is True


def test_counts_are_recognised_even_when_the_first_rows_are_empty() -> None:
    ad = counts()
    dense = np.asarray(ad.X.todense())
    dense[:100] = 0
    ad.X = dense
    with pytest.raises(E.InvalidParameters, match="X holds raw counts"):
        highly_variable_genes.run(ad, flavor="seurat", n_top_genes=10)


def test_marker_genes_and_pseudobulk_de_refuse_per_sample_cluster_ids() -> None:
    a, b = (leiden.run(pca.run(logged(counts(seed=s)), n_comps=5, use_highly_variable=False), n_neighbors=10)
            for s in (5, 6))
    merged = concatenate.run({"A": a, "B": b})
    with pytest.raises(E.InvalidParameters, match=r"'groupby': obs\['leiden'\] holds per-sample cluster ids"):
        marker_genes.run(merged.copy())
    # The same data grouped by a real cohort-wide column, or re-clustered, goes through.
    marker_genes.run(merged.copy(), groupby="group")
    marker_genes.run(leiden.run(pca.run(merged, n_comps=5, use_highly_variable=False), n_neighbors=10))


def test_pseudobulk_de_refuses_per_sample_cluster_ids_as_groups() -> None:
    parts, rows = _cohort()
    merged = concatenate.run(parts, samples=rows, join="outer")
    # As concatenate leaves a clustering every input had (test above: real leiden runs).
    merged.obs["leiden"] = pd.Categorical(np.arange(merged.n_obs) % 2)
    merged.uns["leiden"] = {"params": {"resolution": 1.0}, "per_sample": True}
    with pytest.raises(E.InvalidParameters, match=r"per-sample cluster ids"):
        pseudobulk_de.run(merged, groupby="leiden", min_cells=5, min_counts=1)


def test_pseudobulk_de_fits_columns_whose_names_are_not_formula_names() -> None:
    parts, rows = _cohort()
    for r in rows.values():
        r["treatment-group"] = r.pop("condition")
        r["batch.id"] = r.pop("batch")
    merged = concatenate.run(parts, samples=rows, join="outer")
    out = pseudobulk_de.run(merged, condition_key="treatment-group", covariates=["batch.id"], reference="control",
                            test_level="treated", min_cells=5, min_counts=1)
    assert len(out.uns["pseudobulk_de"]["results"]) > 0
    assert report._snapshot()["metrics"]["design"] == "~batch.id + treatment-group"


def test_pseudobulk_de_checks_every_value_for_counts_not_only_the_first_cells() -> None:
    rng = np.random.default_rng(13)
    X = sp.csr_matrix(rng.poisson(5.0, size=(1600, 80)).astype(np.float32) + 1)
    assert X.data.size > 100_000, "more values than a prefix check would look at"
    X.data[-1] += 0.5  # the last cell's last value is not a count
    ad = anndata.AnnData(X)
    ad.obs["sample"] = pd.Categorical([f"S{i % 8}" for i in range(ad.n_obs)])
    ad.obs["condition"] = pd.Categorical(["treated" if i % 2 else "control" for i in range(ad.n_obs)])
    with pytest.raises(E.InvalidParameters, match=r"X does not hold raw counts"):
        pseudobulk_de.run(ad, layer=None, min_cells=5, min_counts=1)


def test_quality_control_run_again_after_normalize_reads_and_keeps_the_counts() -> None:
    raw = counts(seed=7)
    first = quality_control.run(raw.copy(), min_genes=1, min_cells=0, max_pct_mito=None)
    normed = normalize.run(first)
    again = quality_control.run(normed.copy(), min_genes=1, min_cells=0, max_pct_mito=None)
    assert report._snapshot()["metrics"]["counts_from"] == "layers['counts']"
    # The counts are still counts, and the metrics were computed on them, not on log values.
    np.testing.assert_array_equal(again.layers["counts"].toarray(), raw.X.toarray())
    np.testing.assert_allclose(again.obs["total_counts"].to_numpy(), np.asarray(raw.X.sum(axis=1)).ravel(), rtol=1e-5)
    # Log-transformed with no counts to read: refused.
    del normed.layers["counts"]
    with pytest.raises(E.InvalidParameters, match=r"X is log-transformed \(uns\['log1p'\]\) with no layers"):
        quality_control.run(normed, min_genes=1)


def test_pca_warns_on_raw_counts_and_hvg_on_counts_suggests_normalize_not_pca(tmp_path: Path) -> None:
    raw = counts(seed=8)
    out = highly_variable_genes.run(raw.copy(), flavor="seurat_v3", n_top_genes=20)
    assert [c["block"]["name"] for c in report._snapshot()["suggestedChildren"]] == ["normalize"]
    pca.run(out, n_comps=5)
    assert "run normalize before pca" in report._snapshot()["metrics"]["warning"]
    # After normalize: no warning, and HVG suggests pca as before (one report per run).
    normed = logged(counts(seed=8))
    report._reset(tmp_path)
    normed = highly_variable_genes.run(normed, n_top_genes=20)
    assert [c["block"]["name"] for c in report._snapshot()["suggestedChildren"]] == ["pca"]
    report._reset(tmp_path)
    pca.run(normed, n_comps=5)
    assert "warning" not in report._snapshot()["metrics"]


def test_scale_draws_its_histogram_without_a_dense_copy_of_a_sparse_matrix() -> None:
    import tracemalloc

    # 20,000 cells x 500 genes at 1 % density: 100,000 stored values (about 1 MB), where a dense
    # copy is 10 million values (40-80 MB).
    rng = np.random.default_rng(12)
    X = sp.random(20_000, 500, density=0.01, format="csr", random_state=rng, dtype=np.float32)
    X.data = np.floor(X.data * 10) + 1
    ad = anndata.AnnData(X)
    scale.run(logged(counts(n_obs=20, n_vars=10)), zero_center=False)  # imports and figure set-up, not measured
    tracemalloc.start()
    try:
        out = scale.run(ad, zero_center=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sp.issparse(out.X), "without zero-centring X stays sparse"
    assert "scale_histogram.png" in report._snapshot()["figures"][-1]
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB: a dense copy of X was made"


def test_hvg_seurat_refuses_normalised_data_that_is_not_log_transformed() -> None:
    not_logged = normalize.run(counts(seed=10), log1p=False)
    with pytest.raises(E.InvalidParameters, match=r"X is not log-transformed \(no uns\['log1p'\], values up to"):
        highly_variable_genes.run(not_logged, n_top_genes=10)


def test_marker_genes_warns_when_its_matrix_is_not_log_transformed(tmp_path: Path) -> None:
    marker_genes.run(normalize.run(counts(seed=11), log1p=False), groupby="group")
    assert "log fold changes are meaningless" in report._snapshot()["metrics"]["warning"]
    report._reset(tmp_path)
    marker_genes.run(logged(counts(seed=11)), groupby="group")
    assert "warning" not in report._snapshot()["metrics"]

"""Pseudobulk differential expression between two conditions (PyDESeq2).

1. Counts: layers[`layer`] (default `counts`, the raw counts quality_control/normalize keep);
   with layer=null, X, which must then hold raw counts. Non-integer or negative values are
   rejected (DESeq2 models counts; a log-normalised X is not one).
2. Pseudobulk: the counts are summed per sample (obs[`sample_key`]) x cell group
   (obs[`groupby`]; groupby=null: one group, all cells). A sample x group with fewer than
   `min_cells` cells is left out.
3. For each group with at least `min_samples` samples in each of the two conditions, PyDESeq2
   fits `~ covariates + condition` (condition = obs[`condition_key`], one value per sample, like
   every covariate; a covariate named in `numeric_covariates` is fitted as a slope, any other as
   categories; genes with
   fewer than `min_counts` summed counts in that group are dropped, and so are genes some of its
   samples never measured, per concatenate's varm['sample_measured']) and tests `test_level`
   against `reference` (defaults: the two levels in sorted order, the second against the first)
   with Wald tests and Benjamini-Hochberg FDR. A group whose design cannot be fitted (a covariate
   confounded with the condition, more coefficients than samples) or whose fit fails is listed in
   `groups_skipped` with the reason; the block fails only when no group could be tested.

Output: uns['pseudobulk_de'] = {parameters, `results` (a table: group, gene, baseMean,
log2FoldChange, lfcSE, stat, pvalue, padj), per-group sample counts}; output/pseudobulk_de.csv
(the same table); figure: volcano per group (up to 6 groups in one figure). Metric
`n_significant` = (group, gene) pairs with padj < alpha, and `n_genes_significant` = genes
significant in any group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import plt, refuse_per_sample_groups, require_obs

USES_SCANPY = False
MAX_VOLCANOES = 6


def _all_integers(data: np.ndarray, chunk: int = 1 << 22) -> bool:
    """True when every value is a whole number. Every one: a prefix would only see the first cells
    (the first sample's, after concatenate). In chunks, so the check holds no copy of the data."""
    return all(np.array_equal(part, np.rint(part)) for part in (data[i:i + chunk] for i in range(0, data.size, chunk)))


def _counts_matrix(adata: Any, layer: str | None) -> Any:
    import scipy.sparse as sp

    if layer is not None:
        if layer not in adata.layers:
            have = ", ".join(adata.layers.keys()) or "none"
            raise E.InvalidParameters(f"parameter 'layer': {layer!r} is not in adata.layers (has: {have})")
        X = adata.layers[layer]
    else:
        X = adata.X
    X = sp.csr_matrix(X) if not sp.issparse(X) else X.tocsr()
    data = X.data
    if data.size and (data.min() < 0 or not _all_integers(data)):
        where = f"layers[{layer!r}]" if layer is not None else "X"
        raise E.InvalidParameters(
            f"parameter 'layer': {where} does not hold raw counts (negative or non-integer values); "
            "pseudobulk DE needs counts (normalize keeps them in layers['counts'])"
        )
    return X


def _aggregate(X: Any, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of X per key: returns (unique keys, matrix keys x genes)."""
    import scipy.sparse as sp

    uniq, inv = np.unique(keys, return_inverse=True)
    indicator = sp.csr_matrix((np.ones(len(keys)), (inv, np.arange(len(keys)))), shape=(len(uniq), len(keys)))
    return uniq, np.asarray((indicator @ X).todense())


def _measured(adata: Any, sample_key: str) -> Any:
    """From concatenate's varm['sample_measured']: a function (samples -> genes measured in all of
    them), or None when the input has no such record (one sample's genes: all measured). When the
    record's samples are not this sample_key's values, a gene counts only if every input had it."""
    mask = adata.varm.get("sample_measured") if hasattr(adata.varm, "get") else None
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    info = adata.uns.get("concatenate", {})
    order = [str(s) for s in info.get("samples", [])] if isinstance(info, dict) else []
    same_key = isinstance(info, dict) and info.get("sample_key") == sample_key and len(order) == mask.shape[1]
    column = {s: i for i, s in enumerate(order)} if same_key else {}

    def everywhere(samples: list[str]) -> np.ndarray:
        cols = [column.get(str(s)) for s in samples]
        if not column or any(c is None for c in cols):
            return mask.all(axis=1)
        return mask[:, cols].all(axis=1)

    return everywhere


def _design_problem(md: Any, covariates: list[str], condition_key: str) -> str | None:
    """Why `~ covariates + condition` cannot be fitted on these samples, or None: more
    coefficients than samples, or a covariate confounded with the condition or the others."""
    import pandas as pd

    def matrix(cols: list[str]) -> np.ndarray:
        parts = [np.ones((len(md), 1))]
        for c in cols:
            if pd.api.types.is_numeric_dtype(md[c].dtype):
                parts.append(md[[c]].to_numpy(dtype=float))
            else:
                parts.append(pd.get_dummies(md[c].astype(str), drop_first=True).to_numpy(dtype=float))
        return np.hstack(parts)

    constant = [c for c in covariates if pd.api.types.is_numeric_dtype(md[c].dtype) and md[c].nunique() < 2]
    if constant:
        return f"numeric covariate {', '.join(repr(c) for c in constant)} takes one value in these samples"
    full = matrix([*covariates, condition_key])
    if np.linalg.matrix_rank(full) == full.shape[1]:
        return None
    n = len(md)
    if full.shape[1] > n:
        return f"the design has {full.shape[1]} coefficients for {n} samples (fewer covariate levels, or more samples)"
    def fits_without(c: str) -> bool:
        m = matrix([x for x in covariates if x != c] + [condition_key])
        return bool(np.linalg.matrix_rank(m) == m.shape[1])

    culprits = [c for c in covariates if fits_without(c)]
    named = ", ".join(repr(c) for c in culprits) or ", ".join(repr(c) for c in covariates)
    return f"covariate {named} is confounded with {condition_key!r} (or the other covariates) in these samples"


def run(
    adata: Any = None,
    condition_key: str = "condition",
    reference: str | None = None,
    test_level: str | None = None,
    sample_key: str = "sample",
    groupby: str | None = None,
    layer: str | None = "counts",
    covariates: list[str] | None = None,
    numeric_covariates: list[str] | None = None,
    min_cells: int = 10,
    min_samples: int = 2,
    min_counts: int = 10,
    alpha: float = 0.05,
) -> Any:
    import pandas as pd

    covariates = list(covariates or [])
    require_obs(adata, condition_key, "condition_key")
    require_obs(adata, sample_key, "sample_key")
    if groupby is not None:
        require_obs(adata, groupby, "groupby")
        refuse_per_sample_groups(adata, groupby)
    for cov in covariates:
        require_obs(adata, cov, "covariates")
        if cov in (condition_key, sample_key):
            raise E.InvalidParameters(f"parameter 'covariates': {cov!r} is the condition or the sample column")
    X = _counts_matrix(adata, layer)
    if "highly_variable" in adata.var.columns and bool(adata.var["highly_variable"].all()):
        # highly_variable_genes(subset=true) upstream subsets the counts layer too.
        report.metric(
            "warning",
            f"the input holds only its {adata.n_vars} highly variable genes (subset upstream): DE tests only those, "
            "and DESeq2's size factors come from them; run pseudobulk_de on a node before the subset",
        )
    obs = adata.obs
    samples = obs[sample_key].astype(str).to_numpy()

    # One value of the condition and of each covariate per sample. The covariates named in
    # numeric_covariates (age, a score) are read as numbers and fitted as a slope; the others are
    # categories (a batch numbered 1, 2, 3 is still a batch), one coefficient per level.
    numeric = list(numeric_covariates or [])
    for cov in numeric:
        if cov not in covariates:
            raise E.InvalidParameters(
                f"parameter 'numeric_covariates': {cov!r} is not one of the covariates {covariates}"
            )
    per_sample = pd.DataFrame({"sample": samples})
    for col in [condition_key, *covariates]:
        if col in numeric:
            values = pd.to_numeric(obs[col].astype(str), errors="coerce").to_numpy(dtype=float)
            if np.isnan(values).any():
                bad = obs[col].astype(str).to_numpy()[np.isnan(values)][0]
                raise E.InvalidParameters(
                    f"parameter 'numeric_covariates': column {col!r} has a value that is not a number ({bad!r})"
                )
            per_sample[col] = values
        else:
            per_sample[col] = obs[col].astype(str).to_numpy()
    meta = per_sample.drop_duplicates()
    if meta["sample"].duplicated().any():
        bad = meta.loc[meta["sample"].duplicated(), "sample"].iloc[0]
        raise E.InvalidParameters(
            f"sample {bad!r} has cells with different {condition_key}/covariate values; each must be one per sample"
        )
    meta = meta.set_index("sample")
    levels = sorted(meta[condition_key].unique())
    reference = reference if reference is not None else (levels[0] if levels else None)
    if reference not in levels:
        raise E.InvalidParameters(
            f"parameter 'reference': {reference!r} is not a value of {condition_key!r} ({levels})"
        )
    others = [lv for lv in levels if lv != reference]
    test_level = test_level if test_level is not None else (others[0] if len(others) == 1 else None)
    if test_level is None or test_level not in others:
        raise E.InvalidParameters(
            f"parameter 'test_level': name one of {others} to test against {reference!r}"
            if others else f"column {condition_key!r} has a single value ({reference!r}); nothing to compare"
        )

    groups = obs[groupby].astype(str).to_numpy() if groupby is not None else np.full(adata.n_obs, "all")
    keys = np.char.add(np.char.add(samples.astype(str), "\x1f"), groups.astype(str))
    uniq, summed = _aggregate(X, keys)
    n_cells = pd.Series(keys).value_counts()
    enough_cells = np.array([n_cells[k] >= min_cells for k in uniq])
    pb_sample = np.array([k.split("\x1f")[0] for k in uniq])
    pb_group = np.array([k.split("\x1f")[1] for k in uniq])
    genes = np.asarray(adata.var_names.astype(str))
    measured_in = _measured(adata, sample_key)

    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats
    from threadpoolctl import threadpool_limits

    # PyDESeq2 fits every gene with tiny (samples x coefficients) linear algebra: BLAS threads only
    # add overhead there (measured several-fold slower on 2 busy cores), so one thread, one process.
    limiter = threadpool_limits(limits=1)
    try:
        inference = DefaultInference(n_cpus=1)
        tables = []
        tested: dict[str, dict[str, int]] = {}
        skipped: dict[str, str] = {}
        group_names = sorted(set(pb_group.tolist()))
        for gi, group in enumerate(group_names):
            report.progress(0.1 + 0.8 * gi / len(group_names), f"DESeq2 for {groupby or 'all cells'} {group}")
            rows = np.flatnonzero((pb_group == group) & enough_cells)
            md = meta.loc[pb_sample[rows]].copy()
            md.index = pd.Index(pb_sample[rows])
            n_ref = int((md[condition_key] == reference).sum())
            n_test = int((md[condition_key] == test_level).sum())
            if n_ref < min_samples or n_test < min_samples:
                skipped[group] = f"{n_ref} {reference} / {n_test} {test_level} samples with >= {min_cells} cells"
                continue
            keep_md = md[condition_key].isin([reference, test_level]).to_numpy()
            rows, md = rows[keep_md], md[keep_md]
            counts = summed[rows]
            gene_ok = counts.sum(axis=0) >= min_counts
            # A gene some of these samples never measured (outer join in concatenate) reads 0 there:
            # not a level DESeq2 may compare, so it is left out of this group's test.
            unmeasured = 0
            if measured_in is not None:
                everywhere = measured_in(md.index.tolist())
                unmeasured = int((gene_ok & ~everywhere).sum())
                gene_ok &= everywhere
            counts_df = pd.DataFrame(counts[:, gene_ok].astype(np.int64), index=md.index, columns=genes[gene_ok])
            # Column names go into a formula, where formulaic would read a name such as
            # `treatment-group` as an expression: the fit sees plain aliases of the columns.
            alias = {c: f"v{i}" for i, c in enumerate([*covariates, condition_key])}
            design = "~" + " + ".join(alias[c] for c in [*covariates, condition_key])
            problem = _design_problem(md, covariates, condition_key)
            if problem is not None:
                skipped[group] = problem
                continue
            try:
                dds = DeseqDataSet(counts=counts_df, metadata=md[list(alias)].rename(columns=alias), design=design,
                                   refit_cooks=True, inference=inference, quiet=True)
                dds.deseq2()
                stats = DeseqStats(dds, contrast=[alias[condition_key], test_level, reference], alpha=alpha,
                                   inference=inference, quiet=True)
                stats.summary()
            except (ValueError, np.linalg.LinAlgError) as exc:
                # One group's fit failing (e.g. too few counts left) does not lose the others'.
                skipped[group] = f"PyDESeq2 failed: {str(exc).splitlines()[0][:200]}"
                continue
            res = stats.results_df.copy()
            res.insert(0, "gene", res.index.astype(str))
            res.insert(0, "group", group)
            tables.append(res.reset_index(drop=True))
            tested[group] = {"n_samples_" + reference: n_ref, "n_samples_" + test_level: n_test,
                             "n_genes_tested": int(gene_ok.sum()), "n_genes_not_measured_in_every_sample": unmeasured}
    finally:
        limiter.restore_original_limits()
    if not tables:
        raise E.InvalidParameters(
            f"no {groupby or 'sample'} group could be tested (each needs >= {min_samples} samples per condition "
            f"with >= {min_cells} cells, and a design that can be fitted): "
            f"{'; '.join(f'{g}: {why}' for g, why in skipped.items())}"
        )
    results = pd.concat(tables, ignore_index=True)
    results["padj"] = results["padj"].astype(float)
    sig = results["padj"].fillna(1.0).to_numpy() < alpha
    results.to_csv(report.output_dir() / "pseudobulk_de.csv", index=False)
    adata.uns["pseudobulk_de"] = {
        "params": {"condition_key": condition_key, "reference": reference, "test_level": test_level,
                   "sample_key": sample_key, "groupby": groupby or "", "layer": layer or "X",
                   "covariates": covariates, "numeric_covariates": numeric, "alpha": alpha,
                   "min_cells": min_cells},
        "results": results,
    }

    pyplot = plt()
    shown = list(tested)[:MAX_VOLCANOES]
    ncol = min(3, len(shown))
    nrow = int(np.ceil(len(shown) / ncol))
    fig, axes = pyplot.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False)
    for ax, group in zip(axes.ravel(), shown, strict=False):
        part = results[results["group"] == group]
        lfc = part["log2FoldChange"].to_numpy(dtype=float)
        p = np.clip(part["pvalue"].fillna(1.0).to_numpy(dtype=float), 1e-300, 1.0)
        s = part["padj"].fillna(1.0).to_numpy(dtype=float) < alpha
        ax.scatter(lfc[~s], -np.log10(p[~s]), s=4, color="lightgray", linewidths=0)
        ax.scatter(lfc[s & (lfc > 0)], -np.log10(p[s & (lfc > 0)]), s=6, color="tab:red", linewidths=0)
        ax.scatter(lfc[s & (lfc < 0)], -np.log10(p[s & (lfc < 0)]), s=6, color="tab:blue", linewidths=0)
        ax.set_title(f"{group}: {int(s.sum())} at FDR {alpha:g}", fontsize=9)
        ax.set_xlabel(f"log2 fold change ({test_level} / {reference})")
        ax.set_ylabel("-log10 p")
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    report.savefig(fig, "pseudobulk_volcano.png")

    per_group = {g: int(((results["group"] == g).to_numpy() & sig).sum()) for g in tested}
    n_genes_sig = int(results.loc[sig, "gene"].nunique())
    report.metrics({
        "contrast": f"{condition_key}: {test_level} vs {reference}",
        "design": "~" + " + ".join([*covariates, condition_key]),
        "groupby": groupby,
        "alpha": alpha,
        "n_pseudobulks": int(len(uniq)),
        "groups_tested": tested,
        "groups_skipped": skipped,
        "n_significant": int(sig.sum()),
        "n_genes_significant": n_genes_sig,
        "significant_per_group": per_group,
        "results_csv": "pseudobulk_de.csv",
    })
    report.summary(
        f"pseudobulk DESeq2 {test_level} vs {reference} in {len(tested)} {groupby or 'sample'} group(s): "
        f"{n_genes_sig} genes at FDR {alpha:g} ({int(sig.sum())} gene x group pairs)"
    )
    return adata

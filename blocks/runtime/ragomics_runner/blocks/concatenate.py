"""Concatenate the AnnData of several inputs (anndata.concat) into one, one sample per input.

A multi-input block: `run(adatas, samples, ...)` gets the inputs as a read-only mapping
key -> AnnData in input order (a gather's keys are sample ids; an explicit list's keys are node
ids) and, for inputs of a sample sheet, `samples[key] = {"sample": id, **columns}`.

- obs[`sample_key`] (default `sample`) holds each cell's sample id (the sheet's id when the input
  carries one, else the input key); every further sheet column (condition, batch, donor, ...)
  becomes an obs column (categorical). Cell names are made unique by appending `-<sample>`.
- `join="outer"` keeps the union of the genes (a gene missing in a sample reads 0 there, in X and
  in every layer), `"inner"` only the genes every sample has. Which sample measured which gene
  is kept in varm['sample_measured'] (genes x samples, in uns['concatenate']['samples'] order),
  so pseudobulk_de never reads an unmeasured gene's 0 as an expression level.
- uns['log1p'] is kept when every input has it (normalize and highly_variable_genes read it to
  tell log-normalised data from counts); inputs of which some are log-normalised and others not
  are refused (X would mix the two scales); so are the parameters of a clustering every input has
  (obs['leiden'] with uns['leiden']['params'], marked `per_sample`: its ids are per sample, and a
  leiden node downstream may replace it); other uns entries are dropped.
- Layers present in every input are kept (layers['counts'], the raw counts of quality_control /
  normalize, is what pseudobulk_de sums); `.raw` is not concatenated (anndata.concat drops it), so
  downstream blocks use X and the layers.
- var columns that every input has are kept when, gene by gene, every input holding the gene
  agrees on the value (gene annotations, ground truth); per-sample statistics that differ
  (means, dispersions, ...) are dropped.
- Highly variable genes: when every input has var['highly_variable'] (per-sample HVG selection),
  var['highly_variable_nsamples'] counts in how many samples a gene was selected and
  var['highly_variable'] marks the genes selected in at least `min_hvg_fraction` of the samples
  (scanpy's batch-aware HVG selection works the same way), which pca then uses.

Inputs are read one after another from the lazy mapping (each input's `.raw` is freed as soon
as it is read); the inputs and the concatenated matrix are in memory together while
anndata.concat runs, about twice the cohort's X + layers: this node bounds the cohort size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import errors as E
from .. import report
from ._common import plt

# Takes several inputs (`run(adatas=...)`; `inputs: "many"` in the catalog). No scanpy needed.
USES_SCANPY = False


def _sample_columns(samples: Mapping[str, Any] | None, key: str) -> dict[str, str]:
    info = dict((samples or {}).get(key) or {})
    return {str(k): str(v) for k, v in info.items()}


def _agreed_var(parts: list[Any]) -> dict[str, Any]:
    """var columns common to all inputs whose value, per gene, is the same in every input having it."""
    import pandas as pd

    common = [c for c in parts[0].var.columns if all(c in p.var.columns for p in parts[1:])]
    kept: dict[str, Any] = {}
    for col in common:
        if col == "highly_variable":
            continue
        long = pd.concat([p.var[col].astype(object) for p in parts])
        if (long.groupby(level=0, sort=False).nunique(dropna=False) > 1).any():
            continue
        first = long[~long.index.duplicated(keep="first")]
        dtype = parts[0].var[col].dtype
        # Each input's categories are its own (a value only sample B has is not among sample A's):
        # categories are rebuilt from every input's values, never cast to the first input's.
        kept[col] = first.astype("category") if isinstance(dtype, pd.CategoricalDtype) else first.astype(dtype)
    return kept


def run(
    adatas: Mapping[str, Any] | None = None,
    samples: Mapping[str, Any] | None = None,
    join: str = "outer",
    sample_key: str = "sample",
    min_hvg_fraction: float = 0.5,
) -> Any:
    import anndata
    import pandas as pd

    if adatas is None or len(adatas) == 0:
        raise E.InvalidParameters("block concatenate needs at least one input (a gather or a list of nodes)")
    if join not in ("outer", "inner"):
        raise E.InvalidParameters(f"parameter 'join': must be 'outer' or 'inner', got {join!r}")
    keys = list(adatas.keys())
    parts: list[Any] = []
    labels: list[str] = []
    columns: dict[str, dict[str, str]] = {}
    hvg_all = True
    for i, key in enumerate(keys):
        report.progress(0.6 * i / len(keys), f"reading input {key}")
        adata = adatas[key]
        info = _sample_columns(samples, key)
        label = info.pop("sample", None) or str(key)
        if label in columns:
            raise E.InvalidParameters(f"block concatenate: sample id {label!r} appears in two inputs")
        if sample_key in info:
            raise E.InvalidParameters(
                f"parameter 'sample_key': {sample_key!r} is also a column of the sample sheet (its values would be "
                f"replaced by the sample ids); keep the default 'sample', or choose a name the sheet does not use"
            )
        columns[label] = info
        if adata.raw is not None:
            # anndata.concat drops .raw anyway; freeing it now keeps one matrix fewer per input in
            # memory while the others are read (normalize's .raw is a full copy of X).
            del adata.raw
        if sample_key in adata.obs.columns:
            # The input already names its cells' sample (e.g. a re-concatenation); the label wins.
            adata.obs = adata.obs.drop(columns=[sample_key])
        hvg_all = hvg_all and "highly_variable" in adata.var.columns
        parts.append(adata)
        labels.append(label)

    report.progress(0.65, f"concatenating {len(parts)} inputs ({join} join)")
    hvg_sets = [p.var_names[p.var["highly_variable"].to_numpy(dtype=bool)] for p in parts] if hvg_all else []
    n_genes_in = [int(p.n_vars) for p in parts]
    gene_sets = [p.var_names for p in parts]
    logged = [p.uns.get("log1p") for p in parts]
    if any(entry is None for entry in logged) and any(entry is not None for entry in logged):
        # One X would hold counts for some cells and log-normalised values for others: nothing
        # downstream could read it right.
        raw = [lb for lb, entry in zip(labels, logged, strict=True) if entry is None]
        log = [lb for lb, entry in zip(labels, logged, strict=True) if entry is not None]
        raise E.InvalidParameters(
            f"block concatenate: inputs {', '.join(map(repr, log[:5]))} are log-normalised (uns['log1p']) and "
            f"{', '.join(map(repr, raw[:5]))} are not; give it inputs from the same step "
            f"(e.g. every sample after normalize)"
        )
    # Per-sample clusterings (an obs column whose parameters scanpy keeps in uns[column]): their
    # ids mean nothing across samples, and leiden must be able to replace them with a cohort-wide
    # clustering, so the parameters that mark the column as a clustering come along.
    clusterings = {
        col: dict(parts[0].uns[col]["params"]) for col in parts[0].obs.columns
        if all(col in p.obs.columns and isinstance(p.uns.get(col), dict) and "params" in p.uns[col] for p in parts)
    }
    agreed = _agreed_var(parts)
    out = anndata.concat(parts, join=join, label=sample_key, keys=labels, index_unique="-", merge=None,
                         uns_merge=None, fill_value=0)
    del parts
    for col, values in agreed.items():
        out.var[col] = values.reindex(out.var_names).to_numpy()
    measured = np.column_stack([out.var_names.isin(genes) for genes in gene_sets])
    out.varm["sample_measured"] = measured
    n_partial = int((~measured.all(axis=1)).sum())
    if all(entry is not None for entry in logged):
        out.uns["log1p"] = dict(logged[0])
    for col, params in clusterings.items():
        if col in out.obs.columns:
            out.uns[col] = {"params": params, "per_sample": True}

    # Sheet columns as obs columns (categorical, in sheet order of first appearance).
    names = sorted({c for info in columns.values() for c in info} - {sample_key})
    sample_of_cell = out.obs[sample_key].astype(str).to_numpy()
    for name in names:
        per_sample = {s: columns[s].get(name, "") for s in labels}
        values = pd.Series(sample_of_cell).map(per_sample).to_numpy()
        out.obs[name] = pd.Categorical(values, categories=list(dict.fromkeys(per_sample[s] for s in labels)))
    out.obs[sample_key] = pd.Categorical(sample_of_cell, categories=labels)

    n_hvg = None
    if hvg_all:
        count = pd.Series(0, index=out.var_names, dtype=int)
        for genes in hvg_sets:
            count[count.index.intersection(genes)] += 1
        out.var["highly_variable_nsamples"] = count.to_numpy()
        need = max(1, int(np.ceil(min_hvg_fraction * len(labels))))
        out.var["highly_variable"] = count.to_numpy() >= need
        n_hvg = int(out.var["highly_variable"].sum())
    elif "highly_variable" in out.var.columns:
        out.var = out.var.drop(columns=["highly_variable"])
    out.uns["concatenate"] = {"samples": labels, "join": join, "sample_key": sample_key, "columns": names}

    sizes = out.obs[sample_key].value_counts().reindex(labels)
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(max(4.5, 0.35 * len(labels) + 2), 3.6))
    colour_by = next((c for c in ("condition", "batch") if c in names), None)
    if colour_by is not None:
        groups = [columns[s].get(colour_by, "") for s in labels]
        cats = list(dict.fromkeys(groups))
        cmap = pyplot.get_cmap("tab10")
        colours = [cmap(cats.index(g) % 10) for g in groups]
        for j, cat in enumerate(cats):
            ax.bar([], [], color=cmap(j % 10), label=f"{colour_by} {cat}")
        ax.legend(frameon=False, fontsize=7)
    else:
        colours = ["tab:blue"] * len(labels)
    ax.bar(labels, sizes.to_numpy(), color=colours)
    ax.set_ylabel("cells")
    ax.set_title(f"cells per sample ({len(labels)} samples, {out.n_obs} cells)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    report.savefig(fig, "cells_per_sample.png")

    report.metrics({
        "n_samples": len(labels),
        "n_cells": int(out.n_obs),
        "n_genes": int(out.n_vars),
        "join": join,
        "cells_per_sample": {s: int(v) for s, v in sizes.items()},
        "genes_per_input_min": min(n_genes_in),
        "genes_per_input_max": max(n_genes_in),
        "sheet_columns": names,
        "layers": list(out.layers.keys()),
        "n_highly_variable": n_hvg,
        "n_genes_not_in_every_sample": n_partial,
        "log1p": "log1p" in out.uns,
    })
    report.summary(
        f"{len(labels)} samples concatenated ({join} join): {out.n_obs} cells x {out.n_vars} genes"
        + (f", {n_hvg} highly variable in >= {min_hvg_fraction:g} of samples" if n_hvg is not None else "")
        + (f"; {n_partial} genes are missing from some samples (0 there; varm['sample_measured'])" if n_partial else "")
    )
    report.suggest_child(block={"name": "pca", "parameters": {}}, priority=0)
    return out

"""`python -m ragomics_runner --job /workspace/job.json [--workspace /workspace]`

Runs one node: built-in block by name or inline code, then writes `output/_node_anndata.h5ad`,
`output/figures/*`, and `output/result.json`; on failure `output/error.json`, a traceback on
stderr and, as the last stderr line, `RAGOMICS_ERROR {...}`. Exit codes: contract.py (generated
from blocks/runner-contract.json) and blocks/README.md.

This module is the sequence and the process exit; each step lives in the module named for it:
job (job.json), loading (the block), anndata_io (input and output AnnData), execution (run()),
figures, output (result.json, error.json), timings (result.json `timings`), environment (caches).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from . import STARTED_AT_MS, compat, report, timings
from . import errors as E
from .anndata_io import LazyInputs, configure_scanpy, describe, describe_file, load_input, open_inputs, write_output
from .environment import prepare_environment
from .execution import apply_info, call_block, input_argument, sample_kwargs, split_result
from .figures import collect_figures, save_open_figures, track_savefig
from .job import job_path, load_job
from .loading import load_block, release_inline_module, remove_temp_dirs
from .output import NO_ANNDATA, file_facts, prepare_output_dir, write_error, write_manifest
from .paths import CONTAINER_WORKSPACE, Workspace, install_rebase


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ragomics_runner", description="Run one ragomics function block.")
    ap.add_argument("--job", default=None, help="job.json (default: <workspace>/job.json)")
    ap.add_argument("--workspace", default=CONTAINER_WORKSPACE, help="workspace folder (default: /workspace)")
    return ap.parse_args(argv)


def run(ws: Workspace, job_arg: str | None) -> int:
    """Run the node of `ws`; returns EXIT_OK or raises a RunnerError (or MemoryError)."""
    started = time.monotonic()
    timings.start(STARTED_AT_MS)
    prepare_output_dir(ws)
    report._reset(ws.output_dir)

    job = load_job(job_path(ws, job_arg))
    block = job["block"]
    report.progress(0.0, "loading block")

    timings.mark("importStart")
    import anndata  # noqa: F401 - needed for I/O in every case
    import matplotlib

    matplotlib.use("Agg", force=True)
    track_savefig()
    install_rebase(ws)
    # Before any block is imported: shims for the pinned packages (scanpy 1.11.5 calls
    # getnnz() on scipy 1.17's sparse arrays, which lack it); see compat.py.
    compat.install()

    loaded = load_block(block, ws)
    required = loaded.requires_input or bool(job.get("inputRequired", False))
    if loaded.preload_scanpy:
        # The block would import scanpy first thing in run(); importing it here instead costs the
        # same but books it as import time, not as the block's compute time.
        import scanpy  # noqa: F401
    configure_scanpy(ws)
    install_rebase(ws)
    timings.mark("importsDone")

    multi = job.get("inputs") is not None
    count = len(job["inputs"]) if multi else int(ws.input_path.exists())
    # Before any input is read: a block that cannot take this node's inputs fails at once.
    argument = input_argument(loaded, multi, count, f" of node {job.get('nodeId', '?')}")

    report.progress(0.05, "loading input")
    adata: Any = None
    inputs: LazyInputs | None = None
    if multi:
        inputs = open_inputs(ws, job["inputs"], loaded.backed)  # nothing read yet: run() reads on access
        data: dict[str, Any] = {argument: inputs}
    else:
        adata = load_input(ws, required)
        data = {argument: adata}
    data.update(sample_kwargs(loaded, job))
    timings.mark("inputRead")
    report.progress(0.1, f"running {loaded.label}")

    output_mtime_before = ws.output_path.stat().st_mtime_ns if ws.output_path.exists() else None
    returned = call_block(loaded, adata, data)
    configure_scanpy(ws)  # inline code may have imported scanpy inside run()
    install_rebase(ws)
    result_adata, info = split_result(loaded.label, returned)
    apply_info(loaded.label, info)

    try:
        save_open_figures()
    except (E.RunnerError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a figure the block left open that cannot be drawn is its crash
        raise E.BlockCrashed(
            f"block {loaded.label} left a figure open that cannot be saved: {E.short_exc(exc)}", E.current_traceback()
        ) from None
    timings.mark("runDone")
    report.progress(0.95, "writing output")
    described: dict[str, Any] = NO_ANNDATA
    if result_adata is not None:
        write_output(ws, result_adata, f"block {loaded.label}")
        described = describe(result_adata)
    elif ws.output_path.exists() and ws.output_path.stat().st_mtime_ns != output_mtime_before:
        described = describe_file(ws.output_path)  # seed convention: the block wrote it itself
    elif adata is not None:
        write_output(ws, adata, f"block {loaded.label}")  # modified in place (or untouched): pass it on
        described = describe(adata)
    timings.mark("outputWritten")

    write_manifest(ws, build_manifest(ws, loaded.label, described, job.get("inputs")))
    report.progress(1.0, f"done in {time.monotonic() - started:.1f} s")
    return E.EXIT_OK


#: Longest summary kept in result.json (a longer one ends in "...").
MAX_SUMMARY = 2000
#: Most bytes of metrics (as JSON) a node may report.
MAX_METRICS_BYTES = 256 * 1024


def build_manifest(
    ws: Workspace, label: str, described: dict[str, Any], inputs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """result.json's content from the report state, the output's description and the timings.

    `io.input` is the single input's file facts; a multi-input node has `io.input` null and
    `io.inputs`, one {key, bytes, inode, device} per input in order (facts null when missing)."""
    snap = report._snapshot()
    summary = snap["summary"]
    if not summary:
        shape = described["shape"]
        summary = f"{label}: " + (f"{shape[0]} cells x {shape[1]} genes" if shape else "no AnnData output")
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 3] + "..."
    metrics = report.to_jsonable(snap["metrics"])
    # Metrics travel in the node's result through Temporal (payloads are limited to 2 MB) and in
    # the tree's state: data belongs in a file under OUTPUT_DIR, which is published with the node.
    size = len(json.dumps(metrics, default=str).encode("utf-8"))  # ASCII-escaped: bytes = characters
    if size > MAX_METRICS_BYTES:
        biggest = max(metrics, key=lambda k: len(json.dumps(metrics[k], default=str)))
        raise E.BlockCrashed(
            f"block {label} reported {size // 1024} KiB of metrics, more than {MAX_METRICS_BYTES // 1024} KiB "
            f"(largest: {biggest!r}); write large results to a file in OUTPUT_DIR instead"
        )
    return {
        "shape": described["shape"],
        "metrics": metrics,
        "suggestedChildren": snap["suggestedChildren"],
        "summary": summary,
        "figures": collect_figures(ws, snap["figures"]),
        "obsColumns": described["obsColumns"],
        "obsmKeys": described["obsmKeys"],
        "timings": timings.timings(),
        "io": io_facts(ws, inputs),
    }


def io_facts(ws: Workspace, inputs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The input and output files' sizes and identities (zero-copy checks compare inodes)."""
    io: dict[str, Any] = {
        "input": None if inputs is not None else file_facts(ws.input_path),
        "output": file_facts(ws.output_path),
    }
    if inputs is not None:
        io["inputs"] = [{"key": e["key"], "facts": file_facts(ws.input_of(e["key"]))} for e in inputs]
    return io


def failure_of(exc: BaseException) -> E.RunnerError:
    """The RunnerError to report for anything `run` raised (MemoryError and runner bugs included)."""
    if isinstance(exc, E.RunnerError):
        return exc
    if isinstance(exc, MemoryError):
        detail = " ".join(str(exc).split())
        return E.OutOfMemory(
            f"out of memory (MemoryError{': ' + detail if detail else ''}); "
            "give the node more memory (resources.memoryMB)",
            E.current_traceback(),
        )
    if isinstance(exc, KeyboardInterrupt):
        return E.BlockCrashed("interrupted (SIGINT)")
    return E.BlockCrashed(f"runner error: {E.short_exc(exc)}", E.current_traceback())  # a bug in the runner


def main(argv: list[str] | None = None) -> int:
    """Run one node. Returns EXIT_OK on success; on failure reports it and ends the process with
    its exit code at once (`os._exit`: nothing may print after the RAGOMICS_ERROR line)."""
    args = parse_args(argv)
    ws = Workspace(args.workspace)
    prepare_environment()
    try:
        os.chdir(ws.root)
    except OSError:
        pass
    try:
        code = run(ws, args.job)
        remove_temp_dirs()
        return code
    except (Exception, MemoryError, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure is reported
        failure = failure_of(exc)
    write_error(ws, failure)
    remove_temp_dirs()
    release_inline_module()  # closes files the block left open at module level (they print nothing)
    os._exit(failure.code)

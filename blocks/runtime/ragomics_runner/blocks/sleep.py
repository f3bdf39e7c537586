"""Diagnostic block (CONTRACT.md): sleep, optionally hold memory, optionally fail.

Passes the input through unchanged, or writes a tiny 10 x 5 AnnData when there is no input.
On a multi-input node (`adatas`) it reads none of the inputs: it records their keys, in the
order it got them, as the metric `input_keys` and writes the tiny AnnData.
"""

from __future__ import annotations

import time
from typing import Any

from .. import report

REQUIRES_INPUT = False
USES_SCANPY = False  # the runner would otherwise import scanpy before run() (see loading.load_builtin)
CHUNK_MB = 16
PAGE = 4096


def _cgroup_memory() -> tuple[int | None, int | None]:
    """(limit, usage) in bytes of this container's memory cgroup, None when unknown/unlimited."""

    def read(path: str) -> str | None:
        try:
            with open(path, encoding="ascii") as fh:
                return fh.read().strip()
        except OSError:
            return None

    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        limit_s = read(limit_path)
        if limit_s is None:
            continue
        usage_s = read(usage_path)
        limit = None if limit_s == "max" or not limit_s.isdigit() or int(limit_s) >= 1 << 60 else int(limit_s)
        usage = int(usage_s) if usage_s and usage_s.isdigit() else None
        return limit, usage
    return None, None


def hold_memory(megabytes: int) -> list[bytearray]:
    """Allocate `megabytes` MiB in chunks and write to every page so it is really resident.

    Before each chunk the container's cgroup limit is checked: an allocation that would pass it
    raises MemoryError (clean exit 71) instead of waiting for the kernel's OOM killer."""
    chunks: list[bytearray] = []
    remaining = int(megabytes) * 1024 * 1024
    done = 0
    while remaining > 0:
        size = min(remaining, CHUNK_MB * 1024 * 1024)
        limit, usage = _cgroup_memory()
        if limit is not None and usage is not None and usage + size > limit - 8 * 1024 * 1024:
            raise MemoryError(
                f"cannot hold {megabytes} MB: {done // (1024 * 1024)} MB held, the container's memory limit is "
                f"{limit // (1024 * 1024)} MB"
            )
        chunk = bytearray(size)
        chunk[::PAGE] = b"\x01" * len(range(0, size, PAGE))
        chunks.append(chunk)
        remaining -= size
        done += size
    return chunks


def _tiny_anndata() -> Any:
    import anndata
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(10, 5)).astype(np.float32)
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(10)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(5)])
    return anndata.AnnData(X=X, obs=obs, var=var)


def run(
    adata: Any = None, adatas: Any = None, seconds: float = 0, fail: bool = False, memoryMB: int = 0
) -> Any:
    held = hold_memory(memoryMB) if memoryMB > 0 else []
    if memoryMB:
        report.metric("memoryMB_held", memoryMB)
    start = time.monotonic()
    last = start
    while True:
        left = seconds - (time.monotonic() - start)
        if left <= 0:
            break
        time.sleep(min(left, 1.0))
        now = time.monotonic()
        if now - last >= 2.0 and seconds > 0:
            report.progress(0.1 + 0.8 * min(1.0, (now - start) / seconds), f"slept {now - start:.0f}/{seconds:g} s")
            last = now
    report.metric("slept_seconds", round(time.monotonic() - start, 3))
    del held
    if fail:
        raise RuntimeError(f"sleep block failed on purpose after {seconds:g} s (fail=true)")
    if adatas is not None:
        report.metric("input_keys", list(adatas))  # iterating reads nothing
    out = adata if adata is not None else _tiny_anndata()
    report.metric("passthrough", adata is not None)
    report.summary(
        f"slept {seconds:g} s"
        + (f", held {memoryMB} MB" if memoryMB else "")
        + (f"; passed through {out.n_obs} x {out.n_vars}" if adata is not None else "; wrote a tiny 10 x 5 AnnData")
    )
    # Every block writes at least one figure: a small bar of what was asked.
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    # This block measures the runtime's own overhead, so its figure is kept cheap: fixed margins
    # that fit the labels (drawn once; a tight box draws twice) and the values written on the bars
    # instead of a value axis (fewer texts to lay out): about 30 ms instead of 55 ms a node.
    fig, ax = plt.subplots(figsize=(4, 2.5))
    fig.subplots_adjust(left=0.36, right=0.85, bottom=0.05, top=0.88)
    bars = ax.barh(["seconds", "memoryMB/100"], [seconds, memoryMB / 100.0], color=["tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%g", padding=3)
    ax.xaxis.set_visible(False)
    ax.spines[["top", "right", "bottom"]].set_visible(False)
    ax.set_title("sleep block")
    report.savefig(fig, "sleep.png", bbox_inches=None)
    return out

"""Phase timings: wall-clock marks (epoch ms) written to result.json as `timings`.

They let the worker and the benchmarks tell where a node's time goes (interpreter start,
imports, reading the input, the block itself, writing the output). Wall clock, not a monotonic
clock, because the marks are compared with the host's clock (container create/start times), and
a container shares it. The mark names and their order are contract.TIMING_MARKS, shared with
TypeScript (activities/result-manifest.ts reads them).
"""

from __future__ import annotations

import os
import time

from .contract import OPTIONAL_TIMING_MARKS, TIMING_MARKS

_marks: dict[str, float | None] = {}
# Optional marks (contract.OPTIONAL_TIMING_MARKS) belong to the process, not to one start():
# a warm runner takes `jobReceivedAt` before the run starts its marks.
_optional: dict[str, float] = {}


def now_ms() -> float:
    """Wall clock in epoch milliseconds, to 0.1 ms."""
    return round(time.time() * 1000, 1)


def start(runner_start_ms: float) -> None:
    """Forget earlier marks; record `processStart` (from the kernel) and `runnerStart`.

    A pooled runner (a warm container's, or a fork server's spare: `jobReceivedAt` is set) was
    created ahead of its job, so its process start says nothing about this node: `processStart`
    is null there, and no boot phase is counted for it."""
    _marks.clear()
    pooled = "jobReceivedAt" in _optional
    _marks.update(processStart=None if pooled else process_start_ms(), runnerStart=runner_start_ms)


def mark(name: str) -> None:
    """Record mark `name` now. Raises ValueError for a name the contract does not list."""
    if name not in TIMING_MARKS:
        raise ValueError(f"unknown timing mark {name!r}; the contract lists {', '.join(TIMING_MARKS)}")
    _marks[name] = now_ms()


def set_job_received(at_ms: float) -> None:
    """Record `jobReceivedAt` (a warm runner got its job line at `at_ms`, epoch ms)."""
    _optional["jobReceivedAt"] = at_ms


def timings() -> dict[str, float | None]:
    """Every contract mark in contract order, None for a mark not taken; then the optional
    marks that were taken (absent otherwise)."""
    out = {name: _marks.get(name) for name in TIMING_MARKS}
    out.update({name: _optional[name] for name in OPTIONAL_TIMING_MARKS if name in _optional})
    return out


def process_start_ms() -> float | None:
    """Wall-clock time (epoch ms) this process was created, from /proc/self/stat; None off Linux.

    The kernel counts a process's start in clock ticks since boot (10 ms resolution), so this is
    the moment the container runtime (or the worker) forked it, before the interpreter ran at all."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
        # Fields after "(comm)" start at field 3 (state); starttime is field 22.
        start_ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
        since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
        return round((time.time() - since_start) * 1000, 1)
    except (OSError, ValueError, AttributeError, IndexError):
        return None

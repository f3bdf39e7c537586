"""`python -m ragomics_runner --warm`: a runner started before it knows its node.

A cold run pays the interpreter's start and the imports of anndata, matplotlib and scanpy
(1-3 s) on every node. A warm process pays them while it waits in the executor's pool:

1. `warm_up()`: everything a run does before it reads job.json (the environment's caches,
   anndata, matplotlib on Agg with figure tracking, the compat shims, scanpy);
2. prints exactly one line `RAGOMICS_WARM_READY` on stdout (anything before it is warm-up
   chatter the executor discards);
3. reads ONE line from stdin, JSON `{"job": <job.json path>, "workspace": <dir>, "threads": <int ≥ 1>}`.
   EOF or an empty line: the pool is being drained, exit 0 without a word. A malformed line:
   the usual error report (stderr, error.json when the workspace is known) and exit
   EXIT_INVALID_PARAMETERS;
   then watches stdin: EOF while the node runs means the worker died, and the process exits
   EXIT_ORPHANED at once (orphan.py);
4. limits BLAS/OpenMP/numba threads to `threads`, then runs the node exactly as
   `main(["--job", job, "--workspace", workspace])` does. One process = one node, always.

result.json's `timings` gain `jobReceivedAt` (epoch ms the job line arrived), so benchmarks can
split "waiting in the pool" from the node's own time.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from . import errors as E
from . import runner, timings
from .contract import ERROR_LINE_PREFIX, WARM_READY_LINE
from .environment import prepare_environment
from .orphan import exit_when_stdin_closes
from .output import write_error
from .paths import Workspace
from .runner import main

READY_LINE = WARM_READY_LINE

# Environment variables the BLAS / OpenMP runtimes read when they start their pools. Not
# NUMBA_NUM_THREADS: numba's threads may already run (set_num_threads launches them), and a
# config reload (umap, pynndescent) then fails if that variable disagrees with their count.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class WarmJob:
    """One parsed job line."""

    job: str
    workspace: str
    threads: int


def warm_up() -> None:
    """Import what every node needs before its job is known. A library that fails to import is
    left for the run to import (and report) as a cold run would: warm-up never fails the process."""
    prepare_environment()
    try:
        import anndata  # noqa: F401
        import matplotlib

        matplotlib.use("Agg", force=True)
        from .figures import track_savefig

        track_savefig()
    except ImportError:
        pass
    from . import compat

    compat.install()
    try:
        import scanpy  # noqa: F401 - configure_scanpy needs the workspace: the run calls it
    except ImportError:
        pass


def parse_job_line(line: str) -> WarmJob:
    """The job of one stdin line. Raises E.InvalidParameters naming what is wrong."""
    try:
        obj: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise E.InvalidParameters(f"warm runner: the job line is not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise E.InvalidParameters("warm runner: the job line must be a JSON object {job, workspace, threads}")
    job, workspace, threads = obj.get("job"), obj.get("workspace"), obj.get("threads")
    if not isinstance(job, str) or not job:
        raise E.InvalidParameters("warm runner: job line field `job` must be a non-empty string (the job.json path)")
    if not isinstance(workspace, str) or not workspace:
        raise E.InvalidParameters("warm runner: job line field `workspace` must be a non-empty string (a folder)")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise E.InvalidParameters(f"warm runner: job line field `threads` must be an integer >= 1, got {threads!r}")
    return WarmJob(job=job, workspace=workspace, threads=threads)


def limit_threads(threads: int, controller: Any = None) -> None:
    """Cap BLAS/OpenMP (threadpoolctl, for pools already started by the imports), numba, and the
    environment (for pools started later and for child processes) at `threads`. `controller`: a
    threadpoolctl.ThreadpoolController made earlier (the fork server's, of the libraries loaded
    before the fork), which saves the library scan; default: scan now."""
    for key in THREAD_ENV:
        os.environ[key] = str(threads)
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            # First: starting numba's threading layer may load an OpenMP runtime (libgomp) that
            # threadpoolctl must then see. numba cannot go above the count it started with.
            numba.set_num_threads(min(threads, int(numba.config.NUMBA_NUM_THREADS)))
        except Exception:  # noqa: BLE001 - a numba without threading layer
            pass
    try:
        if controller is not None:
            controller.limit(limits=threads)
        else:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=threads)
    except Exception:  # noqa: BLE001 - threadpoolctl missing or a library it cannot steer
        pass


def _workspace_of(line: str) -> Workspace | None:
    """The workspace a malformed line names, if it names one, so error.json lands where the
    executor looks for it."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    ws = obj.get("workspace") if isinstance(obj, dict) else None
    return Workspace(ws) if isinstance(ws, str) and ws and os.path.isdir(ws) else None


def report_bad_line(line: str, err: E.RunnerError) -> None:
    """The usual failure report; error.json only when the line names an existing workspace."""
    ws = _workspace_of(line)
    if ws is not None:
        os.makedirs(ws.output_dir, exist_ok=True)
        write_error(ws, err)
        return
    sys.stderr.write(f"ragomics_runner: {err.type} (exit {err.code}): {err.message}\n")
    obj = {"code": err.code, "type": err.type, "message": err.message}
    sys.stderr.write(f"{ERROR_LINE_PREFIX}{json.dumps(obj, ensure_ascii=False)}\n")
    sys.stderr.flush()


def warm_main() -> int:
    """Warm up, announce readiness, wait for one job line and run it. Returns the exit code
    (ends through `os._exit` on failure, exactly like `runner.main`)."""
    warm_up()
    sys.stdout.write(READY_LINE + "\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    received = timings.now_ms()
    if not line.strip():
        return E.EXIT_OK  # EOF or empty line: drained
    try:
        job = parse_job_line(line)
    except E.InvalidParameters as err:
        report_bad_line(line, err)
        return err.code
    timings.set_job_received(received)
    # The executor keeps stdin open while the node runs: EOF now means its worker is gone.
    exit_when_stdin_closes(0, Workspace(job.workspace))
    limit_threads(job.threads)
    # The node's runner starts at its job, not at the pool's warm-up (as a fork server's child).
    runner.STARTED_AT_MS = received
    return main(["--job", job.job, "--workspace", job.workspace])

"""`python -m ragomics_runner --warm`: the ready line, one job per process, drain on EOF, the
malformed job line, and the thread limits of the job line (warm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RUNTIME_DIR

from ragomics_runner import errors as E
from ragomics_runner.warm import READY_LINE, parse_job_line

# Reports the thread limits the node actually runs under, as metrics.
THREADS_CODE = """
def run(adata=None):
    import os
    import numba
    import threadpoolctl
    from ragomics_runner import report
    report.metric("blas", sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()}))
    report.metric("omp_env", os.environ["OMP_NUM_THREADS"])
    report.metric("numba", numba.get_num_threads())
"""

# umap/pynndescent reload numba's config; it must still agree with the threads numba launched.
NUMBA_RELOAD_CODE = """
def run(adata=None):
    import numba
    from numba.core import config
    from ragomics_runner import report
    config.reload_config()
    report.metric("numba", numba.get_num_threads())
"""


def start_warm(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(home)}
    env.pop("RAGOMICS_CACHE_SEED", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ragomics_runner", "--warm"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def wait_ready(proc: subprocess.Popen[str]) -> None:
    """Reads stdout up to the ready line (warm-up chatter before it is allowed)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.rstrip("\n") == READY_LINE:
            return
    stderr = proc.stderr.read() if proc.stderr else ""
    raise AssertionError(f"no {READY_LINE} line; exit {proc.wait()}, stderr: {stderr}")


def workspace(root: Path, block: dict[str, object]) -> Path:
    root.mkdir()
    (root / "job.json").write_text(json.dumps({"block": block}))
    return root


def job_line(ws: Path, threads: int = 1) -> str:
    return json.dumps({"job": str(ws / "job.json"), "workspace": str(ws), "threads": threads}) + "\n"


def run_job(proc: subprocess.Popen[str], lines: str, timeout: float) -> tuple[str, str]:
    """Writes the job line(s) and waits for the exit with stdin still open, as the executor
    does (closing it would now mean the worker died: see the orphan tests)."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(lines)
    proc.stdin.flush()
    proc.wait(timeout=timeout)
    proc.stdin.close()
    return proc.stdout.read(), proc.stderr.read()


def test_ready_then_one_job_then_exit(tmp_path: Path) -> None:
    first = workspace(tmp_path / "a", {"name": "sleep", "parameters": {"seconds": 0}})
    second = workspace(tmp_path / "b", {"name": "sleep", "parameters": {"seconds": 0}})
    proc = start_warm(tmp_path)
    wait_ready(proc)
    # Two job lines: the process runs the first and exits without reading the second.
    out, err = run_job(proc, job_line(first) + job_line(second), timeout=120)
    assert proc.returncode == 0, err
    assert READY_LINE not in out  # exactly one ready line (already read)
    result = json.loads((first / "output" / "result.json").read_text())
    t = result["timings"]
    # The node's runner starts at its job line, not at the pool's warm-up, and it has no boot
    # phase of its own (its process was created ahead of the job).
    assert t["runnerStart"] == t["jobReceivedAt"] <= t["importStart"] <= t["outputWritten"]
    assert t["processStart"] is None
    assert not (second / "output").exists()


def test_eof_and_empty_line_exit_0_silently(tmp_path: Path) -> None:
    for stdin in ("", "\n"):
        proc = start_warm(tmp_path)
        wait_ready(proc)
        out, err = proc.communicate(stdin, timeout=60)
        assert (proc.returncode, out, err) == (0, "", ""), stdin


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("not json\n", "not JSON"),
        ("[1]\n", "JSON object"),
        ('{"job": "/x/job.json", "workspace": "/x"}\n', "threads"),
        ('{"job": "", "workspace": "/x", "threads": 1}\n', "`job`"),
        ('{"job": "/x/job.json", "threads": 1}\n', "`workspace`"),
        ('{"job": "/x/job.json", "workspace": "/x", "threads": 0}\n', "threads"),
        ('{"job": "/x/job.json", "workspace": "/x", "threads": true}\n', "threads"),
    ],
)
def test_a_malformed_line_exits_invalid_parameters(tmp_path: Path, line: str, names: str) -> None:
    with pytest.raises(E.InvalidParameters, match=names):
        parse_job_line(line)
    if names == "not JSON":  # one of them end to end: exit code and the usual error line
        proc = start_warm(tmp_path)
        wait_ready(proc)
        _, err = proc.communicate(line, timeout=60)
        assert proc.returncode == E.EXIT_INVALID_PARAMETERS
        last = json.loads(err.rstrip("\n").splitlines()[-1].removeprefix("RAGOMICS_ERROR "))
        assert last["type"] == "InvalidParameters" and "not JSON" in last["message"]


def test_a_malformed_line_naming_a_workspace_writes_error_json(tmp_path: Path) -> None:
    proc = start_warm(tmp_path)
    wait_ready(proc)
    line = json.dumps({"job": "j.json", "workspace": str(tmp_path), "threads": -2}) + "\n"
    _, err = proc.communicate(line, timeout=60)
    assert proc.returncode == E.EXIT_INVALID_PARAMETERS, err
    assert json.loads((tmp_path / "output" / "error.json").read_text())["type"] == "InvalidParameters"


def test_the_threads_of_the_job_line_are_applied(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "t", {"code": THREADS_CODE})
    proc = start_warm(tmp_path)
    wait_ready(proc)
    _, err = run_job(proc, job_line(ws, threads=1), timeout=120)
    assert proc.returncode == 0, err
    metrics = json.loads((ws / "output" / "result.json").read_text())["metrics"]
    assert metrics["omp_env"] == "1"
    assert metrics["numba"] == 1
    assert metrics["blas"] == [1]  # every BLAS/OpenMP pool threadpoolctl sees (openblas, libgomp) is at 1


def test_numba_config_reload_after_the_thread_limit_does_not_fail(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "r", {"code": NUMBA_RELOAD_CODE})
    proc = start_warm(tmp_path)
    wait_ready(proc)
    _, err = run_job(proc, job_line(ws, threads=1), timeout=120)
    assert proc.returncode == 0, err
    assert json.loads((ws / "output" / "result.json").read_text())["metrics"]["numba"] == 1


def test_stdin_closed_while_the_node_runs_stops_it_with_orphaned(tmp_path: Path) -> None:
    # The executor's connection closes mid-node (its worker died): the runner exits at once.
    ws = workspace(tmp_path / "o", {"name": "sleep", "parameters": {"seconds": 600}})
    proc = start_warm(tmp_path)
    wait_ready(proc)
    assert proc.stdin is not None
    proc.stdin.write(job_line(ws))
    proc.stdin.flush()
    # Wait for the node to be running (its runner's started mark), not for a fixed time.
    deadline = time.monotonic() + 120
    while not (ws / "output").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the node never started"
        time.sleep(0.05)
    proc.stdin.close()
    # 60 s: far above the ~0.1 s this takes, far below the node's 600 s.
    assert proc.wait(timeout=60) == E.EXIT_ORPHANED
    error = json.loads((ws / "output" / "error.json").read_text())
    assert error["type"] == "Orphaned" and "worker is gone" in error["message"]
    assert not (ws / "output" / "result.json").exists()


def test_job_received_at_is_written_only_when_taken() -> None:
    from ragomics_runner import timings

    timings._optional.clear()
    timings.start(1.0)
    assert "jobReceivedAt" not in timings.timings()  # a cold run: absent, not null
    assert timings.timings()["processStart"] is not None
    timings.set_job_received(2.0)
    timings.start(3.0)  # the run's start keeps the process's optional marks
    assert timings.timings()["jobReceivedAt"] == 2.0
    assert timings.timings()["processStart"] is None, "a pooled runner's process start is not this node's"
    timings._optional.clear()

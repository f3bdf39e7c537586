"""`python -m ragomics_runner` as a process: the failures that end before any AnnData is touched,
and the mapping of unexpected exceptions to exit codes. (Successful runs need the scanpy stack:
test/runner-timings, test/blocks-image and the executor tests cover them.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RUNTIME_DIR

from ragomics_runner import errors as E
from ragomics_runner.runner import failure_of


def run_runner(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(workspace)}
    env.pop("RAGOMICS_CACHE_SEED", None)
    return subprocess.run(
        [sys.executable, "-m", "ragomics_runner", "--workspace", str(workspace), *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def last_error(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    last = proc.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("RAGOMICS_ERROR "), proc.stderr
    return json.loads(last[len("RAGOMICS_ERROR ") :])


def test_a_missing_job_exits_64_and_clears_a_stale_result(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "result.json").write_text("{}")
    proc = run_runner(tmp_path)
    assert proc.returncode == E.EXIT_INVALID_PARAMETERS
    assert last_error(proc)["type"] == "InvalidParameters"
    assert not (tmp_path / "output" / "result.json").exists()
    assert json.loads((tmp_path / "output" / "error.json").read_text())["code"] == 64
    assert proc.stdout == ""  # nothing was started


def test_empty_inline_code_exits_65(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps({"block": {"code": " "}}))
    proc = run_runner(tmp_path, "--job", "/workspace/job.json")  # rebased like a container path
    assert (proc.returncode, last_error(proc)["type"]) == (E.EXIT_INVALID_BLOCK_CODE, "InvalidBlockCode")


def test_an_output_that_cannot_be_made_exits_73(tmp_path: Path) -> None:
    (tmp_path / "output").write_text("a file where the folder should be")
    proc = run_runner(tmp_path)
    assert (proc.returncode, last_error(proc)["type"]) == (E.EXIT_OUTPUT_ERROR, "OutputError")


def test_failure_of_maps_every_exception_to_a_typed_failure() -> None:
    typed = E.InputMissing("x")
    assert failure_of(typed) is typed
    try:
        raise MemoryError("big")
    except MemoryError as exc:
        oom = failure_of(exc)
    assert (oom.code, oom.type) == (E.EXIT_OUT_OF_MEMORY, "OutOfMemory")
    assert "MemoryError: big" in oom.message and "resources.memoryMB" in oom.message and oom.traceback_text
    assert failure_of(KeyboardInterrupt()).message == "interrupted (SIGINT)"
    bug = failure_of(AttributeError("oops"))
    assert (bug.code, bug.message) == (E.EXIT_BLOCK_CRASHED, "runner error: AttributeError: oops")


@pytest.mark.parametrize("flag", ["--help"])
def test_the_entry_point_keeps_its_arguments(tmp_path: Path, flag: str) -> None:
    proc = run_runner(tmp_path, flag)
    assert proc.returncode == 0 and "--job" in proc.stdout and "--workspace" in proc.stdout

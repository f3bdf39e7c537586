"""A cold run with RAGOMICS_WATCH_STDIN=1 stops when the stdin its executor held closes
(orphan.py; the warm runner's watch is in test_warm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import RUNTIME_DIR

from ragomics_runner import errors as E

# Silent on purpose: a write to a closed stdout pipe would end the runner by itself.
SILENT_SLEEP = (
    "def run(adata=None):\n"
    "    import os, time\n"
    '    open(os.path.join(OUTPUT_DIR, "running"), "w").close()\n'
    "    time.sleep(600)\n"
)


def test_a_cold_run_stops_with_orphaned_when_its_stdin_closes(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps({"block": {"code": SILENT_SLEEP}}))
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(tmp_path), "RAGOMICS_WATCH_STDIN": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragomics_runner", "--job", str(tmp_path / "job.json"), "--workspace", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    # Wait for the block to run (its file), not for a fixed time.
    deadline = time.monotonic() + 120
    while not (tmp_path / "output" / "running").exists():
        if proc.poll() is not None:
            raise AssertionError(f"the runner exited {proc.returncode}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "the block did not start within 120 s"
        time.sleep(0.05)
    proc.stdin.close()
    # 60 s: far above the ~0.1 s this takes, far below the block's 600 s.
    assert proc.wait(timeout=60) == E.EXIT_ORPHANED
    last = proc.stderr.read().rstrip("\n").splitlines()[-1]
    assert json.loads(last.removeprefix("RAGOMICS_ERROR "))["type"] == "Orphaned"
    assert not (tmp_path / "output" / "result.json").exists()

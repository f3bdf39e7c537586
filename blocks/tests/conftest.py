"""Shared fixtures of the runner's unit tests (blocks/tests; run by scripts/check-python.sh).

They need only the standard library, jsonschema and packaging (blocks/requirements-dev.txt):
nothing here imports anndata or scanpy, whose paths the node tests cover end to end.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ragomics_runner import report, timings
from ragomics_runner.paths import Workspace

SESSION_START_MS = time.time() * 1000
BLOCKS_DIR = Path(__file__).resolve().parent.parent
RUNTIME_DIR = BLOCKS_DIR / "runtime"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A host workspace with input/ and output/ folders, and fresh report and timing state."""
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    workspace = Workspace(tmp_path)
    report._reset(workspace.output_dir)
    timings._marks.clear()
    return workspace

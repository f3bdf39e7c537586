"""What a block can throw at the runner, and the one typed line it gets back for it.

A review fed the runner the odd cases: a BaseException that is not an Exception, a message
with a lone surrogate (legal in JSON, common in non-UTF-8 file names), an AnnData that cannot be
written, a 200 KB message, an exception whose str() raises, a parameter named like the runner's
own sample arguments, a job file that is not UTF-8, and a fork() that fails in the fork server.
Each must end with the documented exit code, a RAGOMICS_ERROR line, an error.json and no stray
temporary file, and the fork server must go on. Runs the real runner with inline code (needs
anndata: scripts/ensure-python-tools.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import RUNTIME_DIR

from ragomics_runner import errors as E
from ragomics_runner import forkserver as fs


def run_inline(
    ws: Path, code: str, parameters: dict[str, Any] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    job = {"block": {"code": code, "parameters": parameters or {}}}
    (ws / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(ws)}
    env.pop("RAGOMICS_CACHE_SEED", None)
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", str(ws)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    last = proc.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("RAGOMICS_ERROR "), proc.stderr[-2000:]
    return proc, json.loads(last[len("RAGOMICS_ERROR "):])


def no_temp_files(ws: Path) -> list[str]:
    return [str(p.relative_to(ws)) for p in ws.rglob(".tmp-*")]


@pytest.mark.parametrize(("where", "code", "exit_code", "kind"), [
    ("in run()", "def run(adata=None):\n    raise GeneratorExit('stop')\n", E.EXIT_BLOCK_CRASHED, "BlockCrashed"),
    ("while loading", "class Halt(BaseException):\n    pass\nraise Halt('at import')\n", E.EXIT_INVALID_BLOCK_CODE,
     "InvalidBlockCode"),
])
def test_a_base_exception_is_the_blocks_failure(
    tmp_path: Path, where: str, code: str, exit_code: int, kind: str
) -> None:
    proc, err = run_inline(tmp_path, code)
    assert (proc.returncode, err["type"]) == (exit_code, kind), where
    assert "GeneratorExit" in err["message"] or "Halt" in err["message"]
    assert json.loads((tmp_path / "output" / "error.json").read_text())["type"] == kind
    assert no_temp_files(tmp_path) == []


def test_a_lone_surrogate_in_the_message_is_written_escaped(tmp_path: Path) -> None:
    proc, err = run_inline(tmp_path, "def run(adata=None):\n    raise ValueError('bad file \\udce9.h5ad')\n")
    assert (proc.returncode, err["type"]) == (E.EXIT_BLOCK_CRASHED, "BlockCrashed")
    stored = json.loads((tmp_path / "output" / "error.json").read_text(encoding="utf-8"))
    assert "bad file" in stored["message"]
    assert no_temp_files(tmp_path) == []


def test_an_anndata_that_cannot_be_written_is_the_blocks_crash_naming_the_key(tmp_path: Path) -> None:
    code = ("def run(adata=None):\n    import anndata, numpy\n"
            "    a = anndata.AnnData(numpy.ones((3, 2), dtype='float32'))\n"
            "    a.uns['tags'] = {'a', 'b'}\n    return a\n")
    proc, err = run_inline(tmp_path, code)
    # Not OutputError (73, retried as if the disk had failed): a set in uns fails every time.
    assert (proc.returncode, err["type"]) == (E.EXIT_BLOCK_CRASHED, "BlockCrashed")
    assert "cannot be written as .h5ad" in err["message"]
    assert "tags" in err["message"], err["message"]
    assert no_temp_files(tmp_path) == []


def test_a_huge_message_is_cut_to_a_bounded_line(tmp_path: Path) -> None:
    proc, err = run_inline(tmp_path, "def run(adata=None):\n    raise ValueError('x' * 200_000)\n")
    assert proc.returncode == E.EXIT_BLOCK_CRASHED
    assert len(err["message"]) <= E.MAX_MESSAGE
    assert err["message"].endswith("...")


def test_an_exception_whose_str_raises_is_still_named_by_its_type(tmp_path: Path) -> None:
    code = ("class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('nostr')\n"
            "def run(adata=None):\n    raise Odd()\n")
    proc, err = run_inline(tmp_path, code)
    assert (proc.returncode, err["type"]) == (E.EXIT_BLOCK_CRASHED, "BlockCrashed")
    assert "Odd" in err["message"] and "could not be read" in err["message"]


@pytest.mark.parametrize("name", ["sample", "samples"])
def test_a_parameter_named_like_the_runners_sample_arguments_is_refused(tmp_path: Path, name: str) -> None:
    proc, err = run_inline(tmp_path, f"def run(adata=None, {name}=None):\n    return adata\n", {name: "S1"})
    assert (proc.returncode, err["type"]) == (E.EXIT_INVALID_PARAMETERS, "InvalidParameters")
    assert f"parameter '{name}': run() declares it" in err["message"]


def test_a_job_file_that_is_not_utf8_is_invalid_parameters(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_bytes(b'{"block": {"code": "\xff"}}')
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert proc.returncode == E.EXIT_INVALID_PARAMETERS, proc.stderr
    assert "is not UTF-8 text" in proc.stderr


def test_a_failed_fork_rejects_the_job_and_the_server_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    try:
        server = fs.Server(w, speedups=True)

        def no_fork() -> int:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(os, "fork", no_fork)
        before = len(os.listdir("/proc/self/fd"))
        server.refill()  # no spare this time; no exception, no descriptor left open
        line = json.dumps({"token": 7, "job": "/x/job.json", "workspace": "/x", "threads": 1, "socket": "/x/s"})
        server.handle(line)
        assert len(os.listdir("/proc/self/fd")) == before, "pipe ends leaked"
        sent = os.read(r, 65536).decode().strip().splitlines()
        rejected = [json.loads(x)["rejected"] for x in sent if "rejected" in x]
        assert rejected and rejected[-1]["token"] == 7
        assert "cannot start a child" in rejected[-1]["error"]
        assert server.spare is None and 7 not in server.tokens.values()
    finally:
        os.close(r)
        os.close(w)


def test_a_file_the_block_left_open_at_module_level_is_flushed_before_the_fast_exit(tmp_path: Path) -> None:
    code = ("import os\nLOG = open(os.path.join(OUTPUT_DIR, 'notes.txt'), 'w')\n"
            "def run(adata=None):\n    LOG.write('kept\\n' * 400)\n    raise ValueError('after writing notes')\n")
    proc, err = run_inline(tmp_path, code)
    assert proc.returncode == E.EXIT_BLOCK_CRASHED
    assert (tmp_path / "output" / "notes.txt").read_text() == "kept\n" * 400


def test_metrics_are_bounded_and_a_long_summary_is_cut(tmp_path: Path) -> None:
    code = ("from ragomics_runner import report\ndef run(adata=None):\n"
            "    report.metric('small', 1)\n    report.metric('table', list(range(100_000)))\n")
    big = tmp_path / "big"
    big.mkdir()
    proc, err = run_inline(big, code)
    assert (proc.returncode, err["type"]) == (E.EXIT_BLOCK_CRASHED, "BlockCrashed")
    assert "KiB of metrics, more than 256 KiB (largest: 'table')" in err["message"]
    ws = tmp_path / "long"
    ws.mkdir()
    (ws / "job.json").write_text(json.dumps({"block": {"code": (
        "from ragomics_runner import report\ndef run(adata=None):\n    report.summary('word ' * 2000)\n")}}))
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(ws)}
    ok = subprocess.run([sys.executable, "-m", "ragomics_runner", "--workspace", str(ws)],
                        capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    summary = json.loads((ws / "output" / "result.json").read_text())["summary"]
    assert len(summary) == 2000 and summary.endswith("...")


def test_report_refuses_hidden_or_overlong_figure_names_and_takes_numpy_priorities(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ragomics_runner import report

    report._reset(tmp_path)
    for bad in ("", ".hidden.png", "x" * 250 + ".png"):
        fig = plt.figure()
        with pytest.raises(ValueError, match="figure name"):
            report.savefig(fig, bad)
        plt.close(fig)
    assert report.savefig(plt.figure(), "ok") == "figures/ok.png"
    report.suggest_child(block={"name": "pca", "parameters": {}}, priority=np.int64(2))
    assert report._snapshot()["suggestedChildren"][-1]["priority"] == 2

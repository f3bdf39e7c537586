"""job.json: where it is looked for and what shape it must have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragomics_runner import errors as E
from ragomics_runner.job import job_path, load_job
from ragomics_runner.paths import Workspace


def write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "job.json"
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def test_a_builtin_job_gets_empty_parameters(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, {"treeId": "t", "block": {"name": "sleep", "parameters": None}}))
    assert job["block"] == {"name": "sleep", "parameters": {}}


def test_an_inline_job_keeps_its_parameters(tmp_path: Path) -> None:
    block = {"code": "def run(adata=None): pass", "parameters": {"k": 1}}
    assert load_job(write(tmp_path, {"block": block}))["block"]["parameters"] == {"k": 1}


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("{", E.InvalidParameters, "is not valid JSON"),
        ([1, 2], E.InvalidParameters, "must hold a JSON object"),
        ({"block": "pca"}, E.InvalidParameters, "job.block must be an object"),
        ({"block": {"name": "pca", "parameters": [1]}}, E.InvalidParameters, "block.parameters must be an object"),
        ({"block": {"name": "pca", "code": "x"}}, E.InvalidParameters, "exactly one of 'name'"),
        ({"block": {"parameters": {}}}, E.InvalidParameters, "exactly one of 'name'"),
        ({"block": {"name": 3}}, E.InvalidParameters, "block.name must be a string"),
        ({"block": {"code": "   "}}, E.InvalidBlockCode, "non-empty string of Python source"),
        ({"block": {"code": 7}}, E.InvalidBlockCode, "non-empty string of Python source"),
    ],
)
def test_a_malformed_job_names_what_is_wrong(tmp_path: Path, content: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_job(write(tmp_path, content))


def test_a_missing_job_file_is_invalid_parameters(tmp_path: Path) -> None:
    with pytest.raises(E.InvalidParameters, match="does not exist"):
        load_job(tmp_path / "nope.json")


def test_job_path_defaults_to_the_workspace_and_rebases_container_paths(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert job_path(ws, None) == tmp_path / "job.json"
    assert job_path(ws, "/workspace/job.json") == tmp_path / "job.json"  # as written in a container job
    other = write(tmp_path, {})
    assert job_path(ws, str(other)) == other

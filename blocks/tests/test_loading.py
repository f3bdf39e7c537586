"""Loading a block: built-in by name, inline code, and inline requirements."""

from __future__ import annotations

import os

import pytest

from ragomics_runner import errors as E
from ragomics_runner import loading
from ragomics_runner.loading import ensure_requirements, load_block, load_builtin, load_inline, remove_temp_dirs
from ragomics_runner.paths import Workspace


@pytest.fixture(autouse=True)
def repo_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAGOMICS_CATALOG", raising=False)


def inline(ws: Workspace, code: str, **block: object) -> loading.LoadedBlock:
    return load_inline({"code": code, "parameters": {}, **block}, ws)


def test_the_sleep_block_loads_with_its_defaults() -> None:
    loaded = load_builtin("sleep", {"seconds": 1})
    assert loaded.label == "sleep" and callable(loaded.run)
    assert loaded.parameters == {"seconds": 1, "fail": False, "memoryMB": 0}
    assert (loaded.requires_input, loaded.preload_scanpy) == (False, False)


@pytest.mark.parametrize("name", ["nope", "../sleep", "Sleep"])
def test_an_unknown_block_lists_the_known_ones(name: str) -> None:
    with pytest.raises(E.InvalidParameters, match=r"unknown block .*; built-in blocks are: .*sleep"):
        load_builtin(name, {})


def test_builtin_parameters_are_validated_before_the_import() -> None:
    with pytest.raises(E.InvalidParameters, match="parameter 'seconds' of block sleep"):
        load_builtin("sleep", {"seconds": -1})


def test_inline_code_gets_the_workspace_globals_and_its_parameters(ws: Workspace) -> None:
    code = "def run(adata=None, k=1):\n    return (WORKSPACE, OUTPUT_PATH, report.__name__, k)\n"
    loaded = load_block({"code": code, "parameters": {"k": 5}}, ws)
    assert (loaded.label, loaded.requires_input, loaded.parameters) == ("inline", False, {"k": 5})
    assert loaded.run(adata=None, **loaded.parameters) == (
        str(ws.root), str(ws.output_path), "ragomics_runner.report", 5
    )


@pytest.mark.parametrize(
    ("code", "params", "error", "message"),
    [
        ("def run(:\n", {}, E.InvalidBlockCode, "does not compile: SyntaxError at line 1"),
        ("x = 1\n", {}, E.InvalidBlockCode, "defines no callable run"),
        ("run = 3\n", {}, E.InvalidBlockCode, "defines no callable run"),
        ("def run(data):\n    pass\n", {}, E.InvalidBlockCode, "must accept an 'adata' argument"),
        ("import no_such_module_xyz\n", {}, E.InvalidBlockCode, "failed while loading .*ModuleNotFoundError"),
        ("import sys\nsys.exit(2)\n", {}, E.InvalidBlockCode, r"called sys.exit\(2\) while loading"),
        ("def run(adata=None, k=1):\n    pass\n", {"j": 1}, E.InvalidParameters, "parameter 'j'"),
        ("def run(adata, k):\n    pass\n", {}, E.InvalidParameters, "parameter 'k'"),
        # Named from the signature, not from the TypeError's words.
        ("def run(adata=None, *, k):\n    pass\n", {}, E.InvalidParameters, "parameter 'k'"),
        ("def run(adata=None, k=1, /):\n    pass\n", {"k": 2}, E.InvalidParameters, "parameter 'k'"),
        ("def run(adata=None, **p):\n    pass\n", {"adata": 1}, E.InvalidParameters, "parameters do not fit run"),
    ],
)
def test_bad_inline_code_is_typed(ws: Workspace, code: str, params: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        inline(ws, code, parameters=params)


def test_run_with_kwargs_only_is_accepted(ws: Workspace) -> None:
    assert inline(ws, "def run(**kw):\n    return kw\n").run(adata=None) == {"adata": None}


def test_the_inline_source_is_kept_for_tracebacks_until_the_end(ws: Workspace) -> None:
    loaded = inline(ws, "def run(adata=None):\n    raise ValueError('boom')\n")
    src = loaded.run.__code__.co_filename
    assert os.path.isfile(src)
    remove_temp_dirs()
    assert not os.path.exists(src)


def test_installed_requirements_need_no_network() -> None:
    ensure_requirements(["pytest", "packaging>=20"], network=False)  # both are in the tools venv


def test_a_missing_requirement_without_network_is_invalid_code() -> None:
    with pytest.raises(E.InvalidBlockCode, match=r"'no-such-package-xyz==1.0' is not installed .* network: false"):
        ensure_requirements(["pytest", "no-such-package-xyz==1.0"], network=False)
    with pytest.raises(E.InvalidBlockCode, match="'pytest<1' is not installed"):
        ensure_requirements(["pytest<1"], network=False)  # installed, but not in an accepted version


@pytest.mark.parametrize("bad", ["numpy", ["numpy", ""], [3]])
def test_requirements_must_be_a_list_of_strings(bad: object) -> None:
    with pytest.raises(E.InvalidParameters, match="list of pip requirement strings"):
        ensure_requirements(bad, network=False)  # type: ignore[arg-type]

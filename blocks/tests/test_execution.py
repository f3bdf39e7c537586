"""Calling run() and taking apart what it returned."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ragomics_runner import errors as E
from ragomics_runner import report
from ragomics_runner.execution import apply_info, call_block, split_result
from ragomics_runner.loading import LoadedBlock
from ragomics_runner.paths import Workspace


def block(run: Any, **params: Any) -> LoadedBlock:
    return LoadedBlock("b", run, params, False)


def test_run_gets_adata_and_the_parameters() -> None:
    assert call_block(block(lambda adata, k: (adata, k), k=2), "data") == ("data", 2)


def test_an_exception_becomes_block_crashed_with_its_traceback() -> None:
    def run(adata: Any) -> None:
        raise ValueError("bad\nvalue")

    with pytest.raises(E.BlockCrashed, match="block b raised ValueError: bad value") as info:
        call_block(block(run), None)
    assert "Traceback" in info.value.traceback_text and "ValueError" in info.value.traceback_text


@pytest.mark.parametrize(("code", "crashed"), [(None, False), (0, False), (1, True), ("why", True)])
def test_sys_exit_zero_is_success_and_anything_else_a_crash(code: object, crashed: bool) -> None:
    def run(adata: Any) -> None:
        sys.exit(code)

    if crashed:
        with pytest.raises(E.BlockCrashed, match=r"called sys.exit"):
            call_block(block(run), None)
    else:
        assert call_block(block(run), None) is None


@pytest.mark.parametrize("exc", [MemoryError("x"), E.InputMissing("typed by the block")])
def test_memory_errors_and_typed_failures_pass_through(exc: BaseException) -> None:
    def run(adata: Any) -> None:
        raise exc

    with pytest.raises(type(exc)):
        call_block(block(run), None)


def test_split_result_accepts_none_and_a_none_tuple() -> None:
    assert split_result("b", None) == (None, {})
    assert split_result("b", (None, {"summary": "s"})) == (None, {"summary": "s"})


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ((None, {}, 3), "returned a tuple; expected"),
        ((None, "info"), "returned a tuple; expected"),
        (42, "returned int; expected AnnData, None or"),
        (({"a": 1}, {}), "returned dict; expected"),
    ],
)
def test_split_result_rejects_anything_else(returned: object, message: str) -> None:
    with pytest.raises(E.BlockCrashed, match=message):
        split_result("b", returned)


def test_apply_info_records_like_the_report_calls(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    apply_info("b", {
        "metrics": {"n": 3},
        "summary": "three\nthings",
        "suggestedChildren": [{"block": {"name": "pca"}, "priority": 2}],
        "figures": ["figures/x.png"],
        "extra": 1,
    })  # fmt: skip
    snap = report._snapshot()
    assert snap["metrics"] == {"n": 3} and snap["summary"] == "three things"
    assert snap["suggestedChildren"] == [{"block": {"name": "pca", "parameters": {}}, "priority": 2}]
    assert snap["figures"] == ["figures/x.png"]
    assert "ignoring unknown result keys: extra" in capsys.readouterr().err


@pytest.mark.parametrize(
    "info",
    [{"suggestedChildren": [{"priority": 1}]}, {"metrics": ["not", "a", "dict"]}, {"metrics": {"": 1}}],
)
def test_malformed_info_is_a_crash(ws: Workspace, info: dict[str, Any]) -> None:
    with pytest.raises(E.BlockCrashed, match="block b: invalid result info"):
        apply_info("b", info)

"""The generated contract matches its source, and the error classes follow it."""

from __future__ import annotations

import json

import pytest
from conftest import BLOCKS_DIR

from ragomics_runner import contract
from ragomics_runner import errors as E

SOURCE = json.loads((BLOCKS_DIR / "runner-contract.json").read_text(encoding="utf-8"))


def test_exit_codes_match_the_source() -> None:
    for entry in SOURCE["exitCodes"]:
        const = "EXIT_" + "".join(f"_{c}" if c.isupper() else c.upper() for c in entry["name"])
        assert getattr(contract, const) == entry["code"], const
        if entry["type"] is not None:
            assert contract.ERROR_TYPES[entry["code"]] == entry["type"]
    assert contract.EXIT_OK == 0 and 0 not in contract.ERROR_TYPES
    assert len(contract.ERROR_TYPES) == len(SOURCE["exitCodes"]) - 1


def test_timing_marks_match_the_source() -> None:
    assert contract.TIMING_MARKS == tuple(m["name"] for m in SOURCE["timingMarks"])


@pytest.mark.parametrize(
    "cls",
    [E.InvalidParameters, E.InvalidBlockCode, E.InputMissing, E.BlockCrashed, E.OutOfMemory, E.OutputError, E.Orphaned],
)
def test_each_error_class_carries_the_code_of_its_type(cls: type[E.RunnerError]) -> None:
    err = cls("first line\n  second   line", "Traceback ...")
    assert err.type == cls.__name__
    assert contract.ERROR_TYPES[err.code] == cls.__name__
    assert err.message == "first line second line"  # always one line
    assert err.traceback_text == "Traceback ..."


def test_an_unknown_code_reports_as_block_crashed() -> None:
    assert E.RunnerError(99, "x").type == "BlockCrashed"


def test_short_exc_is_one_bounded_line() -> None:
    assert E.short_exc(ValueError("a\nb")) == "ValueError: a b"
    assert E.short_exc(KeyError()) == "KeyError"
    long = E.short_exc(RuntimeError("x" * 1000))
    assert long.startswith("RuntimeError: xxx") and long.endswith("...") and len(long) == len("RuntimeError: ") + 500

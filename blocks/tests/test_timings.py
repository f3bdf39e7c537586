"""The phase marks of result.json's `timings`."""

from __future__ import annotations

import time

import pytest
from conftest import SESSION_START_MS

from ragomics_runner import timings
from ragomics_runner.contract import TIMING_MARKS


def test_marks_come_back_in_contract_order_with_none_for_the_missing(ws: object) -> None:
    timings.start(123.0)
    for name in reversed(TIMING_MARKS[2:5]):
        timings.mark(name)
    got = timings.timings()
    assert list(got) == list(TIMING_MARKS)
    assert got["runnerStart"] == 123.0
    assert got["runDone"] is None and got["outputWritten"] is None
    now = time.time() * 1000
    assert all(now - 5000 <= got[n] <= now + 1 for n in TIMING_MARKS[2:5])  # type: ignore[operator]


def test_start_forgets_the_marks_of_an_earlier_run(ws: object) -> None:
    timings.start(1.0)
    timings.mark("runDone")
    timings.start(2.0)
    assert timings.timings()["runDone"] is None


def test_a_mark_the_contract_does_not_list_is_refused(ws: object) -> None:
    with pytest.raises(ValueError, match="unknown timing mark 'rundone'"):
        timings.mark("rundone")


def test_process_start_is_before_this_test_session_began() -> None:
    start = timings.process_start_ms()
    assert start is not None, "/proc/self/stat is readable on Linux"
    # The kernel counts in 10 ms ticks; the interpreter then needed some time to import conftest.
    assert SESSION_START_MS - 600_000 <= start <= SESSION_START_MS + 20

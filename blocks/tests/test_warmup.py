"""The warm-up's group runner (ragomics_runner.warmup.run_groups): every group runs, in its own
folder, at the same time when asked; a failing or raising group is reported, the others still run."""

from __future__ import annotations

import os
import threading

from ragomics_runner import warmup


def test_parallel_groups_run_at_the_same_time_each_in_its_folder(tmp_path):
    barrier = threading.Barrier(2, timeout=10)
    seen: dict[str, str] = {}

    def group(name):
        def fn(folder):
            seen[name] = folder
            barrier.wait()  # both must be running at once, else this times out
            return 0
        return fn

    failed = warmup.run_groups([("a", group("a")), ("b", group("b"))], str(tmp_path), parallel=True)
    assert failed == []
    assert seen == {"a": os.path.join(str(tmp_path), "a"), "b": os.path.join(str(tmp_path), "b")}
    assert all(os.path.isdir(p) for p in seen.values())


def test_failures_and_exceptions_are_reported_and_the_rest_still_runs(tmp_path, capsys):
    ran: list[str] = []

    def ok(_folder):
        ran.append("ok")
        return 0

    def boom(_folder):
        raise RuntimeError("no numba")

    for parallel in (True, False):
        groups = [("bad", lambda _f: 1), ("boom", boom), ("ok", ok)]
        failed = warmup.run_groups(groups, str(tmp_path / str(parallel)), parallel)
        assert sorted(failed) == ["bad", "boom"]
    assert ran == ["ok", "ok"]
    assert "warmup: group boom raised RuntimeError: no numba" in capsys.readouterr().out


def test_sequential_groups_run_in_order(tmp_path):
    order: list[str] = []
    def group(name):
        def fn(_folder):
            order.append(name)
            return 0
        return fn

    groups = [(n, group(n)) for n in ("x", "y", "z")]
    assert warmup.run_groups(groups, str(tmp_path), parallel=False) == []
    assert order == ["x", "y", "z"]


def test_unknown_arguments_exit_2(capsys):
    assert warmup.main(["--nope"]) == 2
    assert "usage: python -m ragomics_runner.warmup" in capsys.readouterr().err

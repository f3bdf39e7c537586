"""Writable caches on a read-only root file system."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from ragomics_runner.environment import prepare_environment

KEYS = ("HOME", "MPLBACKEND", "MPLCONFIGDIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "RAGOMICS_CACHE_SEED")


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def test_unset_or_unwritable_caches_move_into_the_temp_folder(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        unwritable = "/proc/ragomics-no-such-dir"  # root may write anywhere else
    else:
        ro = tmp.parent / "ro"
        ro.mkdir(mode=stat.S_IRUSR | stat.S_IXUSR)
        unwritable = str(ro / "mpl")
    monkeypatch.setenv("MPLCONFIGDIR", unwritable)
    prepare_environment()
    assert os.environ["HOME"] == str(tmp)
    assert os.environ["MPLBACKEND"] == "Agg"
    assert os.environ["MPLCONFIGDIR"] == str(tmp / "mpl")
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp / "numba")
    assert all((tmp / d).is_dir() for d in ("mpl", "numba", "cache"))


def test_a_writable_setting_is_kept(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp.parent / "my-numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(mine))
    prepare_environment()
    assert os.environ["NUMBA_CACHE_DIR"] == str(mine) and mine.is_dir()


def test_the_image_caches_are_seeded_once(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = tmp.parent / "seed"
    (seed / "numba").mkdir(parents=True)
    (seed / "numba" / "f.nbi").write_text("compiled")
    (seed / "mpl").mkdir()
    (seed / "mpl" / "fontlist.json").write_text("{}")
    monkeypatch.setenv("RAGOMICS_CACHE_SEED", str(seed))
    prepare_environment()
    assert (tmp / "numba" / "f.nbi").read_text() == "compiled"
    assert (tmp / "mpl" / "fontlist.json").exists()
    (tmp / "numba" / "f.nbi").write_text("recompiled here")
    prepare_environment()  # a cache folder with content is left alone
    assert (tmp / "numba" / "f.nbi").read_text() == "recompiled here"

"""What the runner leaves in output/: the folder, result.json, error.json and RAGOMICS_ERROR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragomics_runner import errors as E
from ragomics_runner.figures import collect_figures
from ragomics_runner.output import atomic_write_text, file_facts, prepare_output_dir, write_error, write_manifest
from ragomics_runner.paths import Workspace


def test_prepare_removes_stale_records_and_makes_the_figures_folder(ws: Workspace) -> None:
    ws.result_path.write_text("{}")
    ws.error_path.write_text("{}")
    prepare_output_dir(ws)
    assert not ws.result_path.exists() and not ws.error_path.exists()
    assert ws.figures_dir.is_dir()


def test_prepare_creates_a_missing_output_folder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "new")
    prepare_output_dir(ws)
    assert ws.figures_dir.is_dir()


def test_an_output_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "output").write_text("not a folder")
    with pytest.raises(E.OutputError, match="is missing and cannot be created"):
        prepare_output_dir(Workspace(tmp_path))


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["f.json"]


def test_the_manifest_is_strict_json(ws: Workspace) -> None:
    write_manifest(ws, {"metrics": {"a": 1.5}})
    assert json.loads(ws.result_path.read_text()) == {"metrics": {"a": 1.5}}
    with pytest.raises(E.OutputError, match="could not be written: Out of range float"):
        write_manifest(ws, {"metrics": {"a": float("nan")}})


def test_a_failure_ends_stderr_with_one_ragomics_error_line(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    write_error(ws, E.InputMissing("no\ninput", "Traceback (most recent call last):\n  boom\n"))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):"
    assert err[-2] == "ragomics_runner: InputMissing (exit 66): no input"
    prefix, _, record = err[-1].partition(" ")
    assert prefix == "RAGOMICS_ERROR"
    assert json.loads(record) == {"code": 66, "type": "InputMissing", "message": "no input"}
    saved = json.loads(ws.error_path.read_text())
    assert saved["traceback"].startswith("Traceback") and saved["code"] == 66


def test_the_error_line_comes_even_when_error_json_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "output").write_text("a file, not a folder")
    write_error(Workspace(tmp_path), E.OutputError("cannot write"))
    err = capsys.readouterr().err.splitlines()
    assert "could not write" in err[-2]
    assert err[-1].startswith("RAGOMICS_ERROR ") and json.loads(err[-1][15:])["code"] == 73


def test_file_facts(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"12345")
    facts = file_facts(f)
    assert facts is not None and facts["bytes"] == 5 and facts["inode"] == os.stat(f).st_ino
    assert file_facts(tmp_path / "missing") is None


def test_figures_listed_reported_first_then_the_rest_without_temporaries(ws: Workspace) -> None:
    ws.figures_dir.mkdir()
    for name in ("a.png", "b.png", ".tmp-1-c.png"):
        (ws.figures_dir / name).write_bytes(b"")
    (ws.figures_dir / "sub").mkdir()
    (ws.figures_dir / "sub" / "d.png").write_bytes(b"")
    listed = collect_figures(ws, ["figures/b.png", "figures/gone.png"])
    assert listed == ["figures/b.png", "figures/a.png", "figures/sub/d.png"]


def test_savefig_crops_by_default_and_keeps_the_figure_size_without_a_tight_box(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from PIL import Image

    from ragomics_runner import report

    report._reset(tmp_path)
    sizes = {}
    for name, box in (("tight.png", "tight"), ("whole.png", None)):
        fig, ax = plt.subplots(figsize=(4, 2.5))
        ax.plot([0, 1], [0, 1])
        assert report.savefig(fig, name, bbox_inches=box) == f"figures/{name}"
        with Image.open(tmp_path / "figures" / name) as im:
            sizes[name] = im.size
    # 4 x 2.5 in at 100 dpi: kept as is without the box; the tight box crops the empty margins.
    assert sizes["whole.png"] == (400, 250)
    assert sizes["tight.png"] != (400, 250)
    assert report._state["figures"] == ["figures/tight.png", "figures/whole.png"]
    assert not [p for p in (tmp_path / "figures").iterdir() if p.name.startswith(".tmp-")]


def test_the_sleep_block_draws_its_figure_at_its_own_size(tmp_path: Path) -> None:
    from PIL import Image

    from ragomics_runner import report
    from ragomics_runner.blocks import sleep

    report._reset(tmp_path)
    sleep.run(None, seconds=0, memoryMB=0)
    assert report._state["figures"] == ["figures/sleep.png"]
    with Image.open(tmp_path / "figures" / "sleep.png") as im:
        assert im.size == (400, 250)


def test_a_block_written_output_that_cannot_be_read_is_an_output_error_but_memory_is_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anndata

    from ragomics_runner.anndata_io import describe_file

    bad = tmp_path / "output.h5ad"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(E.OutputError, match="is not a readable AnnData"):
        describe_file(bad)

    def no_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("reading obs")

    # Out of memory while reading back is not a bad file: it stays a MemoryError, which the
    # runner reports as OutOfMemory (exit 137, retried with more memory), not OutputError.
    monkeypatch.setattr(anndata, "read_h5ad", no_memory)
    with pytest.raises(MemoryError, match="reading obs"):
        describe_file(bad)

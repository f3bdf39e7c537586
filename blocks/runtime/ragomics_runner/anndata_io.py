"""AnnData in and out: reading the input, writing the output, describing it for result.json.

anndata is imported inside each function: the runner imports it after the job checks, and that
import is booked as import time in `timings`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import errors as E
from .paths import Workspace


def configure_scanpy(ws: Workspace) -> None:
    """Point scanpy's figure, cache and data folders at the workspace and /tmp, if it is imported."""
    sc = sys.modules.get("scanpy")
    if sc is None:
        return
    try:
        sc.settings.figdir = str(ws.figures_dir)
        sc.settings.autoshow = False
        sc.settings.autosave = False
        sc.settings.cachedir = os.path.join(tempfile.gettempdir(), "scanpy-cache")
        sc.settings.datasetdir = os.path.join(tempfile.gettempdir(), "scanpy-data")
    except Exception:  # noqa: BLE001 - settings are a convenience only
        pass


def load_input(ws: Workspace, required: bool) -> Any:
    """The input AnnData, or None when there is none and none is required (else InputMissing)."""
    path = ws.input_path
    if not path.exists():
        if required:
            raise E.InputMissing(
                f"input AnnData {path} does not exist (this block needs an input: a root node reads the tree's "
                "inputDataPath or its sample's file, any other node its parent's output)"
            )
        return None
    try:
        import anndata

        return anndata.read_h5ad(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever anndata raises, the file is unreadable
        raise E.InputMissing(f"input AnnData {path} is unreadable: {E.short_exc(exc)}", E.current_traceback()) from None


def read_anndata(path: Path, backed: str | None = None) -> Any:
    """`anndata.read_h5ad(path)`, or opened backed (`backed="r"`: X stays on disk)."""
    import anndata

    return anndata.read_h5ad(path, backed=backed) if backed else anndata.read_h5ad(path)


class LazyInputs(Mapping[str, Any]):
    """The inputs of a multi-input node as a read-only mapping key -> AnnData, in input order.

    Nothing is read up front: `inputs[key]` reads that one file on first access (and keeps it;
    `release(key)` forgets it so a block can walk 24 inputs holding one at a time). With
    `backed="r"` each is opened backed instead. Iterating, `len`, `in` and `paths` read nothing.
    A file that cannot be read raises InputMissing naming its key."""

    def __init__(
        self,
        paths: Mapping[str, Path],
        backed: str | None = None,
        reader: Callable[[Path, str | None], Any] = read_anndata,
    ):
        self._paths = dict(paths)
        self._backed = backed
        self._reader = reader
        self._loaded: dict[str, Any] = {}

    @property
    def paths(self) -> Mapping[str, Path]:
        """key -> the input's file (for blocks that read it themselves)."""
        return dict(self._paths)

    def loaded(self) -> list[str]:
        """The keys read so far, in input order."""
        return [k for k in self._paths if k in self._loaded]

    def release(self, key: str) -> None:
        """Forget the AnnData of `key` (read again on the next access)."""
        self._loaded.pop(key, None)

    def __getitem__(self, key: str) -> Any:
        if key not in self._loaded:
            path = self._paths[key]  # KeyError for an unknown key, as a Mapping should
            try:
                self._loaded[key] = self._reader(path, self._backed)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever anndata raises, the file is unreadable
                raise E.InputMissing(
                    f"input {key!r} ({path}) is unreadable: {E.short_exc(exc)}", E.current_traceback()
                ) from None
        return self._loaded[key]

    def __contains__(self, key: object) -> bool:
        return key in self._paths  # Mapping's default would read the file

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"LazyInputs({list(self._paths)}, loaded={self.loaded()})"


def open_inputs(ws: Workspace, inputs: list[dict[str, Any]], backed: str | None = None) -> LazyInputs:
    """The LazyInputs of a multi-input node: every `inputs/<key>.h5ad` must exist (InputMissing
    naming the key and path otherwise); none is read yet."""
    paths: dict[str, Path] = {}
    for entry in inputs:
        key = entry["key"]
        path = ws.input_of(key)
        if not path.is_file():
            raise E.InputMissing(f"input {key!r} ({path}, from {entry.get('path')}) does not exist")
        paths[key] = path
    return LazyInputs(paths, backed)


def write_output(ws: Workspace, adata: Any, label: str = "the block") -> None:
    """Write `adata` to a temporary name, then replace the output with it.

    A file-system failure (OSError: disk full, permissions) is an OutputError, which may pass
    with a retry; anything else the writer raises is about what the block returned (a set or a
    Timestamp in uns, an object column that is not text) and is the block's crash, named with the
    key anndata could not write (its exception notes)."""
    tmp = ws.output_dir / f".tmp-{os.getpid()}-{ws.output_path.name}"
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, ws.output_path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the writer raises, the output is not written
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise E.OutputError(
                f"output AnnData {ws.output_path} could not be written: {E.short_exc(exc)}", E.current_traceback()
            ) from None
        raise E.BlockCrashed(
            f"{label} returned an AnnData that cannot be written as .h5ad: {E.short_exc(exc)}", E.current_traceback()
        ) from None


def describe(adata: Any) -> dict[str, Any]:
    """Shape, obs columns and obsm keys of an AnnData, for result.json."""
    return {
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "obsColumns": [str(c) for c in adata.obs.columns],
        "obsmKeys": [str(k) for k in adata.obsm.keys()],
    }


def describe_file(path: Path) -> dict[str, Any]:
    """describe() of an .h5ad the block wrote itself, opened backed (OutputError if unreadable)."""
    import anndata

    try:
        ad = anndata.read_h5ad(path, backed="r")
    except MemoryError:
        raise  # out of memory, not a bad file: the runner reports it as such (exit 137)
    except Exception as exc:  # noqa: BLE001 - whatever anndata raises, the output is unusable
        raise E.OutputError(
            f"block wrote {path} but it is not a readable AnnData: {E.short_exc(exc)}", E.current_traceback()
        ) from None
    try:
        return describe(ad)
    finally:
        try:
            ad.file.close()
        except Exception:  # noqa: BLE001 - closing a read-only handle may not fail the node
            pass


def is_anndata(obj: Any) -> bool:
    """True for an AnnData (without importing anndata when nothing did)."""
    mod = sys.modules.get("anndata")
    return mod is not None and isinstance(obj, mod.AnnData)

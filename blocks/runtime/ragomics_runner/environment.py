"""The process environment: writable caches on a read-only root file system.

The container runs with `--read-only --tmpfs /tmp`; matplotlib, numba and scanpy all want a
writable cache folder, and numba only uses a cache it can write to, so the warm caches baked
into the image are copied into the tmpfs once.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def prepare_environment() -> None:
    """Point every cache at a writable temp folder and seed it from the image's warm caches.

    Must run before matplotlib, numba or scanpy are imported."""
    tmp = tempfile.gettempdir()
    home = os.environ.get("HOME")
    if not home or not _writable_dir(home):
        os.environ["HOME"] = tmp
    os.environ.setdefault("MPLBACKEND", "Agg")
    defaults = {
        "MPLCONFIGDIR": os.path.join(tmp, "mpl"),
        "NUMBA_CACHE_DIR": os.path.join(tmp, "numba"),
        "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
    }
    for key, value in defaults.items():
        current = os.environ.get(key)
        if not current or not _writable_dir(current):
            os.environ[key] = value
    # Warm caches baked into the image at build time (numba's compiled functions of pynndescent,
    # umap and scanpy; matplotlib's font list). Numba only uses a cache folder it can write to,
    # so the read-only copy in the image is copied once into the tmpfs.
    seed = os.environ.get("RAGOMICS_CACHE_SEED")
    if seed and os.path.isdir(seed):
        for name, key in (("numba", "NUMBA_CACHE_DIR"), ("mpl", "MPLCONFIGDIR")):
            src = os.path.join(seed, name)
            dst = os.environ[key]
            if not os.path.isdir(src) or os.path.realpath(src) == os.path.realpath(dst):
                continue
            if os.path.isdir(dst) and os.listdir(dst):
                continue
            try:
                shutil.copytree(src, dst, dirs_exist_ok=True)
            except OSError:
                pass
    for key in defaults:
        os.makedirs(os.environ[key], exist_ok=True)

"""The umap functions the blocks turn numba's cache on for (blocks/_common.py `_UMAP_UNCACHED`) must
exist as numba dispatchers in the pinned umap-learn: `enable_numba_caching` skips a name that is
not one, silently, as it must in a block. umap-learn 0.5.12 had moved the epoch function to two
`_nb_` globals, so the umap block compiled it (about 1 s) in every node until the list followed.
Runs with the image's packages of the tools venv (scripts/ensure-python-tools.sh)."""

from __future__ import annotations

import importlib

from numba.core.registry import CPUDispatcher

from ragomics_runner.blocks._common import _UMAP_UNCACHED


def test_every_umap_function_named_for_caching_is_a_numba_dispatcher():
    not_jitted = [
        f"{module}.{name}"
        for module, names in _UMAP_UNCACHED.items()
        for name in names
        if not isinstance(getattr(importlib.import_module(module), name, None), CPUDispatcher)
    ]
    assert not_jitted == []

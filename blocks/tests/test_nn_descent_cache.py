"""ragomics_runner.nn_descent_cache: pynndescent's `nn_descent` rebuilt so numba can cache it.

These run with the real numba and pynndescent of the tools venv, each in a subprocess (install()
changes pynndescent for the whole process; scripts/ensure-python-tools.sh installs the image's
packages there), and compile nothing: the graph itself, its equality
with scanpy's default and the image's cache hit are checked in test/blocks-image.test.ts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import RUNTIME_DIR


def _run(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stderr": proc.stderr}


def test_install_routes_the_euclidean_search_to_a_cacheable_copy_of_the_same_code():
    out = _run("""
        import json
        import pynndescent.distances as d, pynndescent.pynndescent_ as p
        from ragomics_runner import nn_descent_cache as c
        original = p.nn_descent
        first, again = c.install(), c.install()
        cached = p.nn_descent.cached
        inner = cached.py_func.__globals__['nn_descent_internal']
        print(json.dumps({
            'installed': [first, again],
            'original_kept': p.nn_descent.original is original,
            'same_code': cached.py_func.__code__ is original.py_func.__code__,
            'cache': type(cached._cache).__name__,
            'threads': [f.py_func.__globals__['numba'].get_num_threads is c._get_num_threads for f in (cached, inner)],
            'inner_same_code': inner.py_func.__code__ is p.nn_descent_internal.py_func.__code__,
            'uuid': d.squared_euclidean._uuid,
        }))
    """)
    assert out["installed"] == [True, True]
    assert out["original_kept"] and out["same_code"] and out["inner_same_code"]
    assert out["cache"] == "FunctionCache", "the entry point is not compiled with cache=True"
    # Both functions that read the thread count read it through the cacheable intrinsic.
    assert out["threads"] == [True, True]
    assert out["uuid"] == "ragomics:pynndescent.distances.squared_euclidean"


def test_a_distance_with_a_uuid_already_leaves_pynndescent_unchanged_and_says_so():
    out = _run("""
        import json
        import pynndescent.distances as d, pynndescent.pynndescent_ as p
        from ragomics_runner import nn_descent_cache as c
        d.squared_euclidean._uuid  # gives it a random uuid, as pickling it would
        original = p.nn_descent
        print(json.dumps({'installed': c.install(), 'unchanged': p.nn_descent is original}))
    """)
    assert out == out | {"installed": False, "unchanged": True}
    assert "nn_descent stays uncached" in out["stderr"]

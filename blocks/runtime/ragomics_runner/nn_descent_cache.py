"""A cacheable `pynndescent.pynndescent_.nn_descent` for the euclidean graphs the blocks build.

pynndescent 0.7's `nn_descent` (the graph search of `NNDescent`, which scanpy's transformer runs
from 8,192 cells on) is compiled by numba in every process that calls it: 35 s on 2 cores, of the
37-47 s the leiden block took on 8,500 cells with the image's warm caches (measured 2026-12-01).
numba cannot cache it, for two reasons:

1. it and `nn_descent_internal` call `numba.get_num_threads()`, whose jitted form calls the
   threading layer through a ctypes pointer, a *dynamic global*: numba refuses to cache any
   function whose code holds one;
2. the distance function is an argument, typed as that very dispatcher object. A cache index
   written in one process is keyed by the dispatcher's uuid, random per process, so another
   process never finds its entry.

`install()` replaces the module's `nn_descent` with a function that sends the euclidean case (the
`squared_euclidean` dispatcher, what `NNDescent` uses for metric "euclidean") to a copy compiled
with `cache=True` in which

1. `numba.get_num_threads` is numba's own intrinsic for the same C function of the threading
   layer, called through a linker symbol (how numba's parallel loops read it; cacheable), and
2. `squared_euclidean` has a fixed uuid, so the cache index's key matches in every process.

The code is pynndescent's own (the same bytecode, rebuilt with other globals), the thread count
is read from the same place at run time, so the graph is the same value for value: the
blocks-image test compares it with scanpy's default graph on 8,500 cells. Any other distance
function goes to pynndescent's `nn_descent` unchanged. The image's warm-up fills the cache (on 400
points: numba's cache is keyed by types, not data size), so a node builds the graph with nothing
to compile: the leiden block's run() on 8,500 cells took 1.9-2.3 s instead of 31.6-35.0 s (the
images before and after side by side, two runs each, by hand; the container 5.5-6.0 s, not 35-39 s).

Failure modes: if numba or pynndescent change what this relies on (the intrinsic's name, a uuid
already given to the dispatcher), `install()` leaves pynndescent as it is (compiled in every
process, as before) and says so once on stderr; it never changes results.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numba

try:
    from numba.np.ufunc.parallel import _iget_num_threads
except ImportError as e:  # a numba without it: install() leaves pynndescent unchanged
    _iget_num_threads = None
    _MISSING = str(e)
else:
    _MISSING = ""

    @numba.njit(cache=True)
    def _get_num_threads() -> int:
        """The threading layer's thread count, through a linker symbol (cacheable)."""
        return _iget_num_threads()


_UUID = "ragomics:pynndescent.distances.squared_euclidean"
_installed = False


def _threads_module() -> types.ModuleType:
    """A stand-in for the `numba` module inside the rebuilt functions: numba's attributes, with a
    cacheable `get_num_threads` (numba types a module global by its attributes)."""
    shim = types.ModuleType("ragomics_numba_threads")
    shim.__dict__.update({k: v for k, v in vars(numba).items() if not k.startswith("__")})
    shim.get_num_threads = _get_num_threads
    return shim


def _rebuild(dispatcher: Any, *, cache: bool, shim: types.ModuleType, memo: dict[int, Any]) -> Any:
    """`dispatcher`'s function compiled again with `numba.get_num_threads` from `shim`, and with the
    same rebuild applied to every jitted function it calls that needs it (returned unchanged when
    neither it nor its callees read the thread count, unless `cache`)."""
    from numba.core.registry import CPUDispatcher

    if id(dispatcher) in memo:
        return memo[id(dispatcher)]
    memo[id(dispatcher)] = dispatcher  # a recursive call sees the original
    py = dispatcher.py_func
    names = py.__code__.co_names
    scope = py.__globals__
    callees = {}
    for name in names:
        obj = scope.get(name)
        if isinstance(obj, CPUDispatcher) and obj is not dispatcher:
            rebuilt = _rebuild(obj, cache=False, shim=shim, memo=memo)
            if rebuilt is not obj:
                callees[name] = rebuilt
    reads_threads = scope.get("numba") is numba and "get_num_threads" in names
    if not (callees or reads_threads or cache):
        return dispatcher
    new_scope = {**scope, **callees}
    if reads_threads:
        new_scope["numba"] = shim
    fn = types.FunctionType(py.__code__, new_scope, py.__name__, py.__defaults__, py.__closure__)
    fn.__qualname__, fn.__module__, fn.__kwdefaults__ = py.__qualname__, py.__module__, py.__kwdefaults__
    options = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
    # Only the entry point is cached: its compiled library holds the callees' code too.
    rebuilt = numba.njit(**options, cache=cache)(fn)
    memo[id(dispatcher)] = rebuilt
    return rebuilt


def install() -> bool:
    """Route pynndescent's euclidean `nn_descent` through the cacheable copy (idempotent). Returns
    whether the copy is in place; False leaves pynndescent unchanged (see the module's doc)."""
    global _installed
    if _installed:
        return True
    if _iget_num_threads is None:
        print(f"ragomics: pynndescent's nn_descent stays uncached ({_MISSING})", file=sys.stderr)
        return False
    import pynndescent.distances as distances
    import pynndescent.pynndescent_ as pynnd

    euclidean = distances.squared_euclidean
    try:
        euclidean._set_uuid(_UUID)
    except AssertionError:
        # Already given a uuid (pickled before us): keys would not match across processes.
        print("ragomics: pynndescent's nn_descent stays uncached (its distance already has a uuid)",
              file=sys.stderr)
        return False
    # Launches numba's threading layer, which registers the C symbol the cached code links to
    # (a compilation would launch it too; loading from the cache does not).
    numba.get_num_threads()
    original = pynnd.nn_descent
    cached = _rebuild(original, cache=True, shim=_threads_module(), memo={})

    def nn_descent(*args: Any, **kwargs: Any) -> Any:
        dist = kwargs["dist"] if "dist" in kwargs else args[4] if len(args) > 4 else None
        return (cached if dist is euclidean else original)(*args, **kwargs)

    nn_descent.cached = cached  # type: ignore[attr-defined]  # for tests: numba's cache stats
    nn_descent.original = original  # type: ignore[attr-defined]
    pynnd.nn_descent = nn_descent
    _installed = True
    return True

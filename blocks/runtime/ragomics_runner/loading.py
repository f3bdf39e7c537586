"""Loading the block: a built-in block by name, or inline code compiled as a module.

Either way the result is a LoadedBlock whose `run(adata=..., **parameters)` the runner calls.
Every failure here is typed: InvalidParameters (unknown block, parameters that do not fit),
InvalidBlockCode (code that does not compile or load, a requirement that cannot be had) or
BlockCrashed (a built-in block that fails to import).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import sys
import tempfile
import traceback
import types
from collections.abc import Callable
from typing import Any

from . import errors as E
from . import report
from .catalog import load_catalog, validate_parameters
from .paths import Workspace

BLOCK_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
INLINE_MODULE = "ragomics_inline_block"
_TEMP_DIRS: list[str] = []


class LoadedBlock:
    """A block ready to run: its label in messages, `run`, the parameters to pass, and its needs.

    `arguments` are the names run() declares (None when its signature cannot be read) and
    `var_keyword` whether it takes **kwargs: they decide whether the block gets `adata` or
    `adatas`, and whether `samples` / `sample` are passed (execution.data_kwargs). `backed` is
    the module's ADATAS_BACKED ("r" opens every input of a multi-input node backed)."""

    def __init__(
        self,
        label: str,
        run: Callable[..., Any],
        parameters: dict[str, Any],
        requires_input: bool,
        preload_scanpy: bool = False,
        backed: str | None = None,
    ):
        self.label = label
        self.run = run
        self.parameters = parameters
        self.requires_input = requires_input
        self.preload_scanpy = preload_scanpy
        self.backed = backed
        self.arguments, self.var_keyword = signature_facts(run)


def signature_facts(run: Callable[..., Any]) -> tuple[frozenset[str] | None, bool]:
    """(names run() declares, whether it takes **kwargs); (None, True) when it cannot be read."""
    try:
        sig = inspect.signature(run)
    except (TypeError, ValueError):
        return None, True
    params = sig.parameters.values()
    variadic = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    named = frozenset(p.name for p in params if p.kind not in variadic)
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _backed_option(module: Any, label: str) -> str | None:
    backed = getattr(module, "ADATAS_BACKED", None) if module is not None else None
    if backed not in (None, "r"):
        raise E.InvalidBlockCode(f"block {label}: ADATAS_BACKED must be None or 'r' (got {backed!r})")
    return backed


def load_block(block: dict[str, Any], ws: Workspace) -> LoadedBlock:
    """The built-in block `block["name"]` or the inline `block["code"]` (job.load_job checked which)."""
    if "name" in block:
        return load_builtin(block["name"], block["parameters"])
    return load_inline(block, ws)


def load_builtin(name: str, params: dict[str, Any]) -> LoadedBlock:
    """Look `name` up in the catalog, validate `params` (defaults filled in), import its module."""
    catalog = load_catalog()
    if not BLOCK_NAME_RE.match(name) or name not in catalog:
        raise E.InvalidParameters(f"unknown block {name!r}; built-in blocks are: {', '.join(catalog)}")
    validated = validate_parameters(name, catalog[name], params)
    try:
        module = importlib.import_module(f"{__package__}.blocks.{name}")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any import failure of a block is its crash
        raise E.BlockCrashed(
            f"built-in block {name} failed to load: {E.short_exc(exc)}", E.current_traceback()
        ) from None
    run = getattr(module, "run", None)
    if not callable(run):
        raise E.InvalidBlockCode(f"built-in block {name} has no callable run()")
    return LoadedBlock(
        name,
        run,
        validated,
        bool(getattr(module, "REQUIRES_INPUT", True)),
        bool(getattr(module, "USES_SCANPY", True)),
        _backed_option(module, name),
    )


def requirement_satisfied(req_text: str) -> bool:
    """True when the pip requirement `req_text` is installed in a version it accepts."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        from packaging.requirements import Requirement
    except ImportError:  # packaging missing: be conservative
        return False
    try:
        req = Requirement(req_text)
    except Exception:  # noqa: BLE001 - any unparsable requirement is simply not satisfied
        return False
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return False
    return not req.specifier or req.specifier.contains(installed, prereleases=True)


def ensure_requirements(requirements: list[Any], network: bool) -> None:
    """Make inline code's requirements importable: installed already, or pip-installed into /tmp.

    pip runs only when `network` is true; otherwise a missing requirement is InvalidBlockCode."""
    if not requirements:
        return
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip() for r in requirements):
        raise E.InvalidParameters("block.requirements must be a list of pip requirement strings")
    missing = [r for r in requirements if not requirement_satisfied(r)]
    if not missing:
        return
    if not network:
        raise E.InvalidBlockCode(
            f"requirement {missing[0]!r} is not installed in the image and the block has network: false"
        )
    target = os.path.join(tempfile.gettempdir(), "ragomics-pip")
    os.makedirs(target, exist_ok=True)
    report.progress(0.02, f"installing {len(missing)} requirement(s)")
    import subprocess  # only here: most runs never need it

    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check",
        "--target", target, *missing,
    ]  # fmt: skip
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise E.InvalidBlockCode(
            f"requirement(s) {', '.join(missing)} could not be installed (pip exit {proc.returncode})"
        )
    if target not in sys.path:
        sys.path.insert(0, target)
    importlib.invalidate_caches()


def load_inline(block: dict[str, Any], ws: Workspace) -> LoadedBlock:
    """Compile and execute inline code as a module and check that `run` fits the parameters.

    The module gets the globals WORKSPACE, INPUT_PATH, INPUTS_DIR, OUTPUT_DIR, OUTPUT_PATH, FIGURES_DIR and
    `report`. Its source is written to a temp file (for tracebacks), removed by remove_temp_dirs."""
    code: str = block["code"]
    params: dict[str, Any] = block.get("parameters") or {}
    ensure_requirements(block.get("requirements") or [], bool(block.get("network", False)))
    src_dir = tempfile.mkdtemp(prefix="ragomics-inline-")
    _TEMP_DIRS.append(src_dir)  # removed when the runner ends (tracebacks are formatted by then)
    src_path = os.path.join(src_dir, "inline_block.py")
    # backslashreplace: a lone surrogate in the code (legal in JSON) must not fail the write of
    # the copy kept for tracebacks; compile() below reads the string itself.
    with open(src_path, "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(code)
    try:
        compiled = compile(code, src_path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
            msg = f"inline code does not compile: SyntaxError at {where}: {exc.msg}"
        else:
            msg = f"inline code does not compile: {E.short_exc(exc)}"
        raise E.InvalidBlockCode(msg, "".join(traceback.format_exception_only(type(exc), exc))) from None
    module = types.ModuleType(INLINE_MODULE)
    module.__file__ = src_path
    module.__dict__.update(
        WORKSPACE=str(ws.root),
        INPUT_PATH=str(ws.input_path),
        INPUTS_DIR=str(ws.inputs_dir),
        OUTPUT_DIR=str(ws.output_dir),
        OUTPUT_PATH=str(ws.output_path),
        FIGURES_DIR=str(ws.figures_dir),
        report=report,
    )
    sys.modules[INLINE_MODULE] = module
    try:
        exec(compiled, module.__dict__)  # running user code is the point
    except MemoryError:
        raise
    except SystemExit as exc:
        raise E.InvalidBlockCode(
            f"inline code called sys.exit({exc.code!r}) while loading", E.current_traceback()
        ) from None
    except KeyboardInterrupt:
        raise  # SIGINT: the runner's own stop
    except BaseException as exc:  # noqa: BLE001 - whatever user code raises while loading
        raise E.InvalidBlockCode(
            f"inline code failed while loading (before run): {E.short_exc(exc)}", E.current_traceback()
        ) from None
    run = module.__dict__.get("run")
    if not callable(run):
        raise E.InvalidBlockCode("inline code defines no callable run(adata=None, **parameters)")
    _check_signature(run, params)
    return LoadedBlock("inline", run, params, False, backed=_backed_option(module, "inline"))


def _check_signature(run: Callable[..., Any], params: dict[str, Any]) -> None:
    try:
        sig = inspect.signature(run)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check before calling it
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if "adata" not in sig.parameters and "adatas" not in sig.parameters and not accepts_kwargs:
        raise E.InvalidBlockCode(
            "run() must accept an 'adata' argument: def run(adata=None, **parameters) "
            "(or 'adatas' for several inputs: def run(adatas=None, **parameters))"
        )
    data_arg = "adata" if "adata" in sig.parameters or "adatas" not in sig.parameters else "adatas"
    for reserved in ("sample", "samples"):
        # A run() that declares these gets the node's sample row(s) there (execution.sample_kwargs).
        if reserved in sig.parameters and reserved in params:
            raise E.InvalidParameters(
                f"parameter {reserved!r}: run() declares it, and the runner passes the node's sample "
                f"{'rows' if reserved == 'samples' else 'row'} there; give the parameter another name"
            )
    try:
        sig.bind(**{data_arg: None}, **params)
    except TypeError as exc:
        pname = _misfit_parameter(sig, data_arg, params, accepts_kwargs)
        if pname:
            raise E.InvalidParameters(f"parameter {pname!r}: {exc}") from None
        raise E.InvalidParameters(f"parameters do not fit run(): {exc}") from None


def _misfit_parameter(
    sig: inspect.Signature, data_arg: str, params: dict[str, Any], accepts_kwargs: bool
) -> str | None:
    """The parameter that keeps `params` from binding to `sig`, read from the signature (not from
    the TypeError's text): one run() does not take, else a required one that is missing."""
    if not accepts_kwargs:
        for name in params:
            p = sig.parameters.get(name)
            if p is None or p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
                return name
    for p in sig.parameters.values():
        named = p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        if named and p.default is inspect.Parameter.empty and p.name != data_arg and p.name not in params:
            return p.name
    return None


def release_inline_module() -> None:
    """Drops the inline block's module and clears its globals, before a fast exit (os._exit skips
    the interpreter's teardown): a file the block opened at module level (`LOG = open(...)`) is
    then closed, so what it buffered reaches the disk. Never fails."""
    module = sys.modules.pop(INLINE_MODULE, None)
    if module is None:
        return
    try:
        module.__dict__.clear()
    except BaseException:  # noqa: BLE001 - a global whose close fails must not turn the exit into a crash
        pass


def remove_temp_dirs() -> None:
    """Delete the inline sources' temp folders (after tracebacks have been formatted)."""
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)

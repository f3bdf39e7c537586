"""`python -m ragomics_runner --job /workspace/job.json [--workspace /workspace]`

Runs one node: built-in block by name or inline code, then writes `output/_node_anndata.h5ad`,
`output/figures/*`, and `output/result.json`; on failure `output/error.json`, a traceback on
stderr and, as the last stderr line, `RAGOMICS_ERROR {...}`. Exit codes: see errors.py and
blocks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path
from typing import Any, Callable

from . import STARTED_AT_MS
from . import compat
from . import errors as E
from . import report
from .paths import CONTAINER_WORKSPACE, Workspace, install_rebase

BLOCK_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
INLINE_MODULE = "ragomics_inline_block"
_TEMP_DIRS: list[str] = []


# ------------------------------------------------------------------------------------------------
# Environment: writable caches on a read-only root file system.


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


# ------------------------------------------------------------------------------------------------
# Phase timings: wall-clock marks (epoch ms) written to result.json as `timings`, so the worker and
# the benchmarks can tell where a node's time goes (interpreter start, imports, reading the input,
# the block itself, writing the output). Wall clock, not a monotonic clock, because the marks are
# compared with the host's clock (container create/start times), and a container shares it.

TIMING_MARKS = ("processStart", "runnerStart", "importStart", "importsDone", "inputRead", "runDone", "outputWritten")
_marks: dict[str, float | None] = {}


def _mark(name: str) -> None:
    _marks[name] = round(time.time() * 1000, 1)


def process_start_ms() -> float | None:
    """Wall-clock time (epoch ms) this process was created, from /proc/self/stat; None off Linux.

    The kernel counts a process's start in clock ticks since boot (10 ms resolution), so this is
    the moment the container runtime (or the worker) forked it, before the interpreter ran at all."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
        # Fields after "(comm)" start at field 3 (state); starttime is field 22.
        start_ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
        since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
        return round((time.time() - since_start) * 1000, 1)
    except (OSError, ValueError, AttributeError, IndexError):
        return None


def _timings() -> dict[str, float | None]:
    return {name: _marks.get(name) for name in TIMING_MARKS}


def _file_facts(path: Path) -> dict[str, int] | None:
    """Size and identity of a file: a child's input with the parent's inode is the parent's file itself."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"bytes": int(st.st_size), "inode": int(st.st_ino), "device": int(st.st_dev)}


# ------------------------------------------------------------------------------------------------
# Output helpers.


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_error(ws: Workspace, err: E.RunnerError) -> None:
    obj: dict[str, Any] = {"code": err.code, "type": err.type, "message": err.message}
    if err.traceback_text:
        sys.stderr.write(err.traceback_text.rstrip("\n") + "\n")
    sys.stderr.write(f"ragomics_runner: {err.type} (exit {err.code}): {err.message}\n")
    line = json.dumps(obj, ensure_ascii=False)
    if err.traceback_text:
        obj["traceback"] = err.traceback_text
    try:
        _atomic_write_text(ws.error_path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        sys.stderr.write(f"ragomics_runner: could not write {ws.error_path}: {exc}\n")
    sys.stdout.flush()
    sys.stderr.write(f"RAGOMICS_ERROR {line}\n")
    sys.stderr.flush()


def _tb() -> str:
    return traceback.format_exc()


def _short_exc(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------
# Job, catalog, parameters.


def _load_job(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise E.InvalidParameters(f"job file {path} does not exist") from None
    except OSError as exc:
        raise E.InvalidParameters(f"job file {path} cannot be read: {exc}") from None
    try:
        job = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise E.InvalidParameters(f"job file {path} is not valid JSON: {exc}") from None
    if not isinstance(job, dict):
        raise E.InvalidParameters("job file must hold a JSON object")
    block = job.get("block")
    if not isinstance(block, dict):
        raise E.InvalidParameters("job.block must be an object with 'name' or 'code'")
    params = block.get("parameters", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise E.InvalidParameters("block.parameters must be an object")
    block["parameters"] = params
    has_name, has_code = "name" in block, "code" in block
    if has_name == has_code:
        raise E.InvalidParameters("job.block must have exactly one of 'name' (built-in) or 'code' (inline)")
    if has_name and not isinstance(block["name"], str):
        raise E.InvalidParameters("block.name must be a string")
    if has_code and (not isinstance(block["code"], str) or not block["code"].strip()):
        raise E.InvalidBlockCode("block.code must be a non-empty string of Python source")
    return job


def catalog_path() -> Path:
    env = os.environ.get("RAGOMICS_CATALOG")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "catalog.json", here.parent.parent / "catalog.json"):
        if candidate.is_file():
            return candidate
    return here.parent.parent / "catalog.json"


def load_catalog() -> dict[str, Any]:
    path = catalog_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["blocks"]
    except (OSError, ValueError, KeyError) as exc:
        raise E.BlockCrashed(f"block catalog {path} unreadable: {_short_exc(exc)}") from None


def validate_parameters(block_name: str, schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Validate against the catalog's JSON Schema (2020-12) and return parameters with defaults."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    props: dict[str, Any] = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(k for k in params if k not in props)
        if unknown:
            allowed = ", ".join(props) or "none"
            raise E.InvalidParameters(
                f"unknown parameter {unknown[0]!r} for block {block_name} (allowed: {allowed})"
            )
    validator = Draft202012Validator(schema)
    error = best_match(validator.iter_errors(params))
    if error is not None:
        path = list(error.absolute_path)
        name = str(path[0]) if path else None
        if name is None and error.validator == "required":
            m = re.search(r"'([^']+)' is a required property", error.message)
            name = m.group(1) if m else None
        detail = error.message
        if error.validator in ("anyOf", "oneOf") and error.context:
            detail = "; ".join(sorted({e.message for e in error.context}))
        where = f"parameter {name!r} of block {block_name}" if name else f"parameters of block {block_name}"
        raise E.InvalidParameters(f"{where}: {detail}")
    out = dict(params)
    for key, sub in props.items():
        if key not in out and isinstance(sub, dict) and "default" in sub:
            out[key] = sub["default"]
    return out


# ------------------------------------------------------------------------------------------------
# Loading the block.


class LoadedBlock:
    def __init__(self, label: str, run: Callable[..., Any], parameters: dict[str, Any], requires_input: bool,
                 preload_scanpy: bool = False):
        self.label = label
        self.run = run
        self.parameters = parameters
        self.requires_input = requires_input
        self.preload_scanpy = preload_scanpy


def load_builtin(name: str, params: dict[str, Any]) -> LoadedBlock:
    catalog = load_catalog()
    if not BLOCK_NAME_RE.match(name) or name not in catalog:
        raise E.InvalidParameters(f"unknown block {name!r}; built-in blocks are: {', '.join(catalog)}")
    validated = validate_parameters(name, catalog[name], params)
    try:
        module = importlib.import_module(f"{__package__}.blocks.{name}")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise E.BlockCrashed(f"built-in block {name} failed to load: {_short_exc(exc)}", _tb()) from None
    run = getattr(module, "run", None)
    if not callable(run):
        raise E.InvalidBlockCode(f"built-in block {name} has no callable run()")
    return LoadedBlock(name, run, validated, bool(getattr(module, "REQUIRES_INPUT", True)),
                       bool(getattr(module, "USES_SCANPY", True)))


def _requirement_satisfied(req_text: str) -> bool:
    try:
        from importlib.metadata import PackageNotFoundError, version

        from packaging.requirements import Requirement
    except ImportError:  # packaging missing: be conservative
        return False
    try:
        req = Requirement(req_text)
    except Exception:  # noqa: BLE001
        return False
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return False
    return not req.specifier or req.specifier.contains(installed, prereleases=True)


def ensure_requirements(requirements: list[Any], network: bool) -> None:
    if not requirements:
        return
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip() for r in requirements):
        raise E.InvalidParameters("block.requirements must be a list of pip requirement strings")
    missing = [r for r in requirements if not _requirement_satisfied(r)]
    if not missing:
        return
    if not network:
        raise E.InvalidBlockCode(
            f"requirement {missing[0]!r} is not installed in the image and the block has network: false"
        )
    target = os.path.join(tempfile.gettempdir(), "ragomics-pip")
    os.makedirs(target, exist_ok=True)
    report.progress(0.02, f"installing {len(missing)} requirement(s)")
    import subprocess

    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check",
           "--target", target, *missing]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise E.InvalidBlockCode(f"requirement(s) {', '.join(missing)} could not be installed (pip exit {proc.returncode})")
    if target not in sys.path:
        sys.path.insert(0, target)
    importlib.invalidate_caches()


def load_inline(block: dict[str, Any], ws: Workspace) -> LoadedBlock:
    code: str = block["code"]
    params: dict[str, Any] = block.get("parameters") or {}
    ensure_requirements(block.get("requirements") or [], bool(block.get("network", False)))
    src_dir = tempfile.mkdtemp(prefix="ragomics-inline-")
    _TEMP_DIRS.append(src_dir)  # removed when the runner ends (tracebacks are formatted by then)
    src_path = os.path.join(src_dir, "inline_block.py")
    with open(src_path, "w", encoding="utf-8") as fh:
        fh.write(code)
    try:
        compiled = compile(code, src_path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
            msg = f"inline code does not compile: SyntaxError at {where}: {exc.msg}"
        else:
            msg = f"inline code does not compile: {_short_exc(exc)}"
        raise E.InvalidBlockCode(msg, "".join(traceback.format_exception_only(type(exc), exc))) from None
    module = types.ModuleType(INLINE_MODULE)
    module.__file__ = src_path
    module.__dict__.update(
        WORKSPACE=str(ws.root), INPUT_PATH=str(ws.input_path), OUTPUT_DIR=str(ws.output_dir),
        OUTPUT_PATH=str(ws.output_path), FIGURES_DIR=str(ws.figures_dir), report=report,
    )
    sys.modules[INLINE_MODULE] = module
    try:
        exec(compiled, module.__dict__)  # noqa: S102 - running user code is the point
    except MemoryError:
        raise
    except SystemExit as exc:
        raise E.InvalidBlockCode(f"inline code called sys.exit({exc.code!r}) while loading", _tb()) from None
    except Exception as exc:  # noqa: BLE001
        raise E.InvalidBlockCode(f"inline code failed while loading (before run): {_short_exc(exc)}", _tb()) from None
    run = module.__dict__.get("run")
    if not callable(run):
        raise E.InvalidBlockCode("inline code defines no callable run(adata=None, **parameters)")
    try:
        sig = inspect.signature(run)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        if "adata" not in sig.parameters and not accepts_kwargs:
            raise E.InvalidBlockCode("run() must accept an 'adata' argument: def run(adata=None, **parameters)")
        try:
            sig.bind(adata=None, **params)
        except TypeError as exc:
            m = re.search(r"'([^']+)'", str(exc))
            pname = m.group(1) if m else None
            if pname:
                raise E.InvalidParameters(f"parameter {pname!r}: {exc}") from None
            raise E.InvalidParameters(f"parameters do not fit run(): {exc}") from None
    return LoadedBlock("inline", run, params, False)


# ------------------------------------------------------------------------------------------------
# AnnData I/O.


def _configure_scanpy(ws: Workspace) -> None:
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
    path = ws.input_path
    if not path.exists():
        if required:
            raise E.InputMissing(f"input AnnData {path} does not exist (this block needs an input)")
        return None
    try:
        import anndata

        return anndata.read_h5ad(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise E.InputMissing(f"input AnnData {path} is unreadable: {_short_exc(exc)}", _tb()) from None


def write_output(ws: Workspace, adata: Any) -> None:
    tmp = ws.output_dir / f".tmp-{os.getpid()}-{ws.output_path.name}"
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, ws.output_path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        try:
            tmp.unlink()
        except OSError:
            pass
        raise E.OutputError(f"output AnnData {ws.output_path} could not be written: {_short_exc(exc)}", _tb()) from None


def describe(adata: Any) -> dict[str, Any]:
    return {
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "obsColumns": [str(c) for c in adata.obs.columns],
        "obsmKeys": [str(k) for k in adata.obsm.keys()],
    }


def describe_file(path: Path) -> dict[str, Any]:
    import anndata

    try:
        ad = anndata.read_h5ad(path, backed="r")
    except Exception as exc:  # noqa: BLE001
        raise E.OutputError(f"block wrote {path} but it is not a readable AnnData: {_short_exc(exc)}", _tb()) from None
    try:
        return describe(ad)
    finally:
        try:
            ad.file.close()
        except Exception:  # noqa: BLE001
            pass


def _is_anndata(obj: Any) -> bool:
    mod = sys.modules.get("anndata")
    return mod is not None and isinstance(obj, mod.AnnData)


def track_savefig() -> None:
    """Mark figures the block saved itself, so save_open_figures does not save them twice."""
    import matplotlib.figure

    original = matplotlib.figure.Figure.savefig
    if getattr(original, "_ragomics_tracked", False):
        return

    def savefig(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._ragomics_saved = True
        return original(self, *args, **kwargs)

    savefig._ragomics_tracked = True  # type: ignore[attr-defined]
    matplotlib.figure.Figure.savefig = savefig  # type: ignore[method-assign]


def save_open_figures() -> None:
    """Inline code may draw without saving: keep every figure still open and never saved."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in list(plt.get_fignums()):
        fig = plt.figure(num)
        if not fig.axes or getattr(fig, "_ragomics_saved", False):
            plt.close(fig)
            continue
        report.savefig(fig, f"figure_{num}.png")


def collect_figures(ws: Workspace, reported: list[str]) -> list[str]:
    found: list[str] = []
    if ws.figures_dir.is_dir():
        for p in sorted(ws.figures_dir.rglob("*")):
            if p.is_file() and not p.name.startswith(".tmp-"):
                found.append(p.relative_to(ws.output_dir).as_posix())
    ordered: list[str] = []
    for f in [*reported, *found]:
        if f in found and f not in ordered:
            ordered.append(f)
    return ordered


# ------------------------------------------------------------------------------------------------
# Main.


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ragomics_runner", description="Run one ragomics function block.")
    ap.add_argument("--job", default=None, help="job.json (default: <workspace>/job.json)")
    ap.add_argument("--workspace", default=CONTAINER_WORKSPACE, help="workspace folder (default: /workspace)")
    return ap.parse_args(argv)


def _run(ws: Workspace, job_arg: str | None) -> int:
    started = time.monotonic()
    _marks.update(processStart=process_start_ms(), runnerStart=STARTED_AT_MS)
    if not ws.output_dir.is_dir():
        try:
            ws.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise E.OutputError(f"output folder {ws.output_dir} is missing and cannot be created: {exc}") from None
    if not os.access(ws.output_dir, os.W_OK):
        raise E.OutputError(f"output folder {ws.output_dir} is not writable")
    for stale in (ws.error_path, ws.result_path):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise E.OutputError(f"cannot remove stale {stale}: {exc}") from None
    try:
        ws.figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise E.OutputError(f"figures folder {ws.figures_dir} cannot be created: {exc}") from None
    report._reset(ws.output_dir)

    job_path = Path(job_arg) if job_arg else ws.root / "job.json"
    if job_arg and not job_path.exists():
        job_path = Path(ws.rebase(job_arg))
    job = _load_job(job_path)
    block = job["block"]
    report.progress(0.0, "loading block")

    _mark("importStart")
    import anndata  # noqa: F401 - needed for I/O in every case
    import matplotlib

    matplotlib.use("Agg", force=True)
    track_savefig()
    install_rebase(ws)
    # Before any block is imported: shims for the pinned packages (scanpy 1.11.5 calls
    # getnnz() on scipy 1.17's sparse arrays, which lack it); see compat.py.
    compat.install()

    if "name" in block:
        loaded = load_builtin(block["name"], block["parameters"])
    else:
        loaded = load_inline(block, ws)
    required = loaded.requires_input or bool(job.get("inputRequired", False))
    if loaded.preload_scanpy:
        # The block would import scanpy first thing in run(); importing it here instead costs the
        # same but books it as import time, not as the block's compute time.
        import scanpy  # noqa: F401
    _configure_scanpy(ws)
    install_rebase(ws)
    _mark("importsDone")

    report.progress(0.05, "loading input")
    adata = load_input(ws, required)
    _mark("inputRead")
    report.progress(0.1, f"running {loaded.label}")

    output_mtime_before = ws.output_path.stat().st_mtime_ns if ws.output_path.exists() else None
    try:
        returned = loaded.run(adata=adata, **loaded.parameters)
    except E.RunnerError:
        raise
    except MemoryError:
        raise
    except SystemExit as exc:
        if exc.code in (None, 0):
            returned = None
        else:
            raise E.BlockCrashed(f"block {loaded.label} called sys.exit({exc.code!r})", _tb()) from None
    except Exception as exc:  # noqa: BLE001
        raise E.BlockCrashed(f"block {loaded.label} raised {_short_exc(exc)}", _tb()) from None
    _configure_scanpy(ws)  # inline code may have imported scanpy inside run()
    install_rebase(ws)

    info: dict[str, Any] = {}
    result_adata = returned
    if isinstance(returned, tuple):
        if len(returned) != 2 or not isinstance(returned[1], dict):
            raise E.BlockCrashed(f"block {loaded.label}: run() returned a tuple; expected (AnnData, dict)")
        result_adata, info = returned
    if result_adata is not None and not _is_anndata(result_adata):
        raise E.BlockCrashed(
            f"block {loaded.label}: run() returned {type(result_adata).__name__}; expected AnnData, None or (AnnData, dict)"
        )
    try:
        for key, value in (info.get("metrics") or {}).items():
            report.metric(str(key), value)
        if info.get("summary"):
            report.summary(info["summary"])
        for i, child in enumerate(info.get("suggestedChildren") or []):
            report._state["suggested"].append(report.validate_child(child, f"suggestedChildren[{i}]"))
        for fig in info.get("figures") or []:
            report._state["figures"].append(str(fig))
    except (ValueError, TypeError, AttributeError) as exc:
        raise E.BlockCrashed(f"block {loaded.label}: invalid result info: {exc}") from None
    unknown = sorted(set(info) - {"metrics", "summary", "suggestedChildren", "figures"})
    if unknown:
        sys.stderr.write(f"ragomics_runner: ignoring unknown result keys: {', '.join(unknown)}\n")

    save_open_figures()
    _mark("runDone")
    report.progress(0.95, "writing output")
    described: dict[str, Any] = {"shape": None, "obsColumns": [], "obsmKeys": []}
    if result_adata is not None:
        write_output(ws, result_adata)
        described = describe(result_adata)
    elif ws.output_path.exists() and ws.output_path.stat().st_mtime_ns != output_mtime_before:
        described = describe_file(ws.output_path)  # seed convention: the block wrote it itself
    elif adata is not None:
        write_output(ws, adata)  # modified in place (or untouched): pass it on
        described = describe(adata)
    _mark("outputWritten")

    snap = report._snapshot()
    summary = snap["summary"]
    if not summary:
        shape = described["shape"]
        summary = f"{loaded.label}: " + (f"{shape[0]} cells x {shape[1]} genes" if shape else "no AnnData output")
    manifest = {
        "shape": described["shape"],
        "metrics": report.to_jsonable(snap["metrics"]),
        "suggestedChildren": snap["suggestedChildren"],
        "summary": summary,
        "figures": collect_figures(ws, snap["figures"]),
        "obsColumns": described["obsColumns"],
        "obsmKeys": described["obsmKeys"],
        "timings": _timings(),
        "io": {
            "input": _file_facts(ws.input_path),
            "output": _file_facts(ws.output_path),
        },
    }
    try:
        _atomic_write_text(ws.result_path, json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    except (OSError, ValueError) as exc:
        raise E.OutputError(f"result manifest {ws.result_path} could not be written: {exc}") from None
    report.progress(1.0, f"done in {time.monotonic() - started:.1f} s")
    return E.EXIT_OK


def _remove_temp_dirs() -> None:
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ws = Workspace(args.workspace)
    prepare_environment()
    try:
        os.chdir(ws.root)
    except OSError:
        pass
    try:
        code = _run(ws, args.job)
        _remove_temp_dirs()
        return code
    except E.RunnerError as err:
        failure = err
    except MemoryError as exc:
        detail = " ".join(str(exc).split())
        failure = E.OutOfMemory(
            f"out of memory (MemoryError{': ' + detail if detail else ''}); give the node more memory (resources.memoryMB)",
            _tb(),
        )
    except KeyboardInterrupt:
        failure = E.BlockCrashed("interrupted (SIGINT)")
    except Exception as exc:  # noqa: BLE001 - a bug in the runner itself
        failure = E.BlockCrashed(f"runner error: {_short_exc(exc)}", _tb())
    _write_error(ws, failure)
    _remove_temp_dirs()
    os._exit(failure.code)  # nothing may print after the RAGOMICS_ERROR line

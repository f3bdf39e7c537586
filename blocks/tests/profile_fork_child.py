"""Where a forked node's time goes (issue 15, goal 1): a profiling tool, not a test.

Does what `--fork-server` does before it serves (warm_up, warm_up_more, gc.freeze), then runs a
chain of N `sleep 0` nodes, each a forked child reading the previous node's output, the way
forkserver.child runs them (stdout/stderr to files instead of the executor's socket). Prints the
median of each phase: fork → child running, the runner's marks (result.json timings), output
written → the child's exit reaped. With `--profile FILE` the children of nodes 2..N run under
cProfile and the merged stats are printed (and dumped to FILE).

    PYTHONPATH=blocks/runtime .tools/blocks-venv/bin/python blocks/tests/profile_fork_child.py 20 \
        [--profile /tmp/p.prof] [--preimport] [--gc-off]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Functions of the child's path timed one by one (ms, summed per node) without cProfile's overhead.
TIMED = [
    ("ragomics_runner.runner", "parse_args"), ("ragomics_runner.runner", "prepare_environment"),
    ("ragomics_runner.runner", "prepare_output_dir"), ("ragomics_runner.runner", "load_job"),
    ("ragomics_runner.runner", "load_block"), ("ragomics_runner.runner", "configure_scanpy"),
    ("ragomics_runner.runner", "install_rebase"), ("ragomics_runner.runner", "track_savefig"),
    ("ragomics_runner.runner", "load_input"), ("ragomics_runner.runner", "call_block"),
    ("ragomics_runner.runner", "write_output"), ("ragomics_runner.runner", "describe"),
    ("ragomics_runner.runner", "build_manifest"), ("ragomics_runner.runner", "write_manifest"),
    ("ragomics_runner.runner", "remove_temp_dirs"), ("ragomics_runner.report", "progress"),
    ("ragomics_runner.report", "savefig"), ("matplotlib.pyplot", "subplots"),
    ("ragomics_runner.compat", "install"),
]


def instrument() -> dict[str, float]:
    import importlib

    spans: dict[str, float] = {}
    for mod_name, attr in TIMED:
        mod = importlib.import_module(mod_name)
        fn = getattr(mod, attr)

        key = f"{mod_name.rsplit('.', 1)[-1]}.{attr}"

        def wrapped(*a, _fn=fn, _key=key, **kw):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return _fn(*a, **kw)
            finally:
                spans[_key] = spans.get(_key, 0.0) + (time.perf_counter() - t0) * 1000

        setattr(mod, attr, wrapped)
    return spans


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=20)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--gc-off", action="store_true", help="gc.disable() in the child")
    ap.add_argument("--pretouch", action="store_true", help="the child repeats the server's warm-up first (untimed)")
    ap.add_argument("--preimport", action="store_true", help="import the built-in block modules before forking")
    args = ap.parse_args()

    from ragomics_runner import timings
    from ragomics_runner.forkserver import fresh_state, warm_up_more
    from ragomics_runner.warm import limit_threads, warm_up

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warm_up()
    warm_up_more()
    if args.preimport:
        import importlib

        from ragomics_runner.catalog import load_catalog

        for name in load_catalog():
            importlib.import_module(f"ragomics_runner.blocks.{name}")
    gc.freeze()
    root = Path(tempfile.mkdtemp(prefix="ragomics-profile-"))
    rows: list[dict[str, float]] = []
    prev_out: Path | None = None
    prof_files: list[str] = []
    for i in range(args.n):
        ws = root / f"n{i}"
        (ws / "output").mkdir(parents=True)
        job = {"treeId": "p", "nodeId": f"n{i}", "attempt": 1, "inputRequired": prev_out is not None,
               "block": {"name": "sleep", "parameters": {"seconds": args.seconds}}}
        (ws / "job.json").write_text(json.dumps(job))
        if prev_out is not None:
            (ws / "input").mkdir()
            (ws / "input" / "_node_anndata.h5ad").symlink_to(prev_out)
        prof = str(root / f"n{i}.prof") if args.profile and i > 0 else None
        t_fork = timings.now_ms()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.setsid()
                if args.gc_off:
                    gc.disable()
                if args.pretouch:
                    warm_up_more()
                    import matplotlib.pyplot as plt

                    fig, ax = plt.subplots(figsize=(4, 2.5))
                    ax.barh(["a", "b"], [1, 0])
                    ax.set_title("warm")
                    fig.savefig(os.devnull, format="png", dpi=100, bbox_inches="tight")
                    plt.close(fig)
                    t_fork = timings.now_ms()
                out = os.open(ws / "stdout.log", os.O_WRONLY | os.O_CREAT, 0o644)
                err = os.open(ws / "stderr.log", os.O_WRONLY | os.O_CREAT, 0o644)
                os.dup2(out, 1)
                os.dup2(err, 2)
                from ragomics_runner import runner

                runner.STARTED_AT_MS = timings.now_ms()
                timings.set_job_received(t_fork)
                fresh_state()
                limit_threads(1)
                argv = ["--job", str(ws / "job.json"), "--workspace", str(ws)]
                if prof:
                    import cProfile

                    p = cProfile.Profile()
                    code = p.runcall(runner.main, argv)
                    p.dump_stats(prof)
                else:
                    spans = instrument()
                    code = runner.main(argv)
                    spans["exitAt"] = timings.now_ms()
                    (ws / "spans.json").write_text(json.dumps(spans))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if args.pretouch:
            t_fork = json.loads((ws / "output" / "result.json").read_text())["timings"]["jobReceivedAt"]
        t_reaped = timings.now_ms()
        if os.waitstatus_to_exitcode(status) != 0:
            print((ws / "stderr.log").read_text(), file=sys.stderr)
            return 1
        t = json.loads((ws / "output" / "result.json").read_text())["timings"]
        prev_out = ws / "output" / "_node_anndata.h5ad"
        if prof:
            prof_files.append(prof)
        if i == 0:
            continue
        spans = json.loads((ws / "spans.json").read_text()) if (ws / "spans.json").exists() else {}
        rows.append({
            **{k: v for k, v in spans.items() if k != "exitAt"},
            "_exit→reaped": t_reaped - spans["exitAt"] if "exitAt" in spans else 0.0,
            "fork→runnerStart": t["runnerStart"] - t_fork,
            "runnerStart→importsDone": t["importsDone"] - t["runnerStart"],
            "importsDone→inputRead": t["inputRead"] - t["importsDone"],
            "inputRead→runDone (block+figure)": t["runDone"] - t["inputRead"],
            "runDone→outputWritten": t["outputWritten"] - t["runDone"],
            "outputWritten→reaped (manifest, exit)": t_reaped - t["outputWritten"],
            "total fork→reaped": t_reaped - t_fork,
        })
    for key in rows[0]:
        vals = [r[key] for r in rows]
        print(f"{key:42s} median {statistics.median(vals):7.1f} ms  (min {min(vals):.1f}, max {max(vals):.1f})")
    if prof_files and args.profile:
        st = pstats.Stats(prof_files[0])
        for f in prof_files[1:]:
            st.add(f)
        st.dump_stats(args.profile)
        st.sort_stats("cumulative").print_stats(45)
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

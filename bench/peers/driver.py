"""A long-lived driver of one peer engine for bench/peers.ts, so that each run is timed from the
engine's API call to its result, like ragomics from `startTree` to `result()` on a connected
client (the interpreter's start and the engine's import are paid once, before the rounds).

    python driver.py prefect|luigi

Prints `PEERS-READY` once the engine is imported, then reads one JSON request per line on stdin:
{"nodes": [{"id", "parent" (null for the root), "seconds"}] (parents first), "slots": N,
"out": FOLDER, "mode": "thread"|"process"} and answers each with one line
`PEERS-REPLY {"ok": true}` or `PEERS-REPLY {"ok": false, "error": "..."}`. EOF ends it. Every
task writes its interval to FOLDER/<id>.t (task.py); the benchmark checks those files.
Engine chatter goes to stdout/stderr as the engine prints it; only PEERS- lines are protocol.

Prefect (3.x): the flow runs against the server at PREFECT_API_URL; tasks are submitted with
`wait_for` on their parent to `slots` workers; mode "thread" | "processpool" | "subprocess"
(peers_prefect.py says what each is).
Luigi: `luigi.build(..., local_scheduler=True, workers=slots)` with force_multiprocessing, so
every task runs in a forked process of its own (also at 1 worker); `mode` is ignored.
"""

import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # task.py and peers_prefect.py, imported below by name


def prefect_engine():
    """Returns run(request) for Prefect (peers_prefect.py)."""
    import peers_prefect

    return peers_prefect.run


def luigi_engine():
    """Returns run(request) for Luigi (local scheduler, a forked process per task)."""
    import luigi
    import task as taskmod

    luigi.configuration.get_config().set("worker", "force_multiprocessing", "true")
    shapes: dict = {}

    class Node(luigi.Task):
        nid = luigi.Parameter()
        out = luigi.Parameter()

        def requires(self):
            parent = shapes[self.out][self.nid]["parent"]
            return [Node(nid=parent, out=self.out)] if parent else []

        def output(self):
            return luigi.LocalTarget(f"{self.out}/{self.nid}.t")

        def run(self):
            taskmod.run(self.nid, shapes[self.out][self.nid]["seconds"], self.output().path)

    def run(req: dict) -> None:
        nodes = {n["id"]: n for n in req["nodes"]}
        shapes[req["out"]] = nodes
        parents = {n["parent"] for n in req["nodes"] if n["parent"]}
        leaves = [Node(nid=i, out=req["out"]) for i in nodes if i not in parents]
        ok = luigi.build(leaves, local_scheduler=True, workers=req["slots"], detailed_summary=False)
        if not ok:
            raise RuntimeError("luigi.build returned False (a task failed or was not run)")

    return run


def main() -> None:
    engines = {"prefect": prefect_engine, "luigi": luigi_engine}
    if len(sys.argv) != 2 or sys.argv[1] not in engines:
        sys.exit(f"usage: driver.py {'|'.join(engines)}")
    run = engines[sys.argv[1]]()
    print("PEERS-READY", flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        try:
            run(json.loads(line))
            reply = {"ok": True}
        except Exception as e:  # noqa: BLE001  (the benchmark reports it and stops)
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print("PEERS-REPLY " + json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()

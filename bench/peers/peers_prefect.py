"""The peers benchmark's workloads as a Prefect 3 flow (used by driver.py).

Module-level on purpose: ProcessPoolTaskRunner starts its worker processes with 'spawn' and
ships the task to them by reference, so the task must be importable by name.
Modes: "thread" (the default ThreadPoolTaskRunner, the task sleeping in its thread: what a
Prefect user gets without asking), "processpool" (ProcessPoolTaskRunner: Prefect's own answer to
process isolation; a pool of `slots` spawned interpreters per flow run, each taking task after
task), "subprocess" (thread runner, each task running task.py as a fresh process: one process per
task like Snakemake and the ragomics local executor).
"""

import importlib
import os
import subprocess
import sys

from prefect import flow, task
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
taskmod = importlib.import_module("task")  # task.py beside this file (after the path)

TASK = os.path.join(HERE, "task.py")
RUNNERS = {"thread": ThreadPoolTaskRunner, "processpool": ProcessPoolTaskRunner, "subprocess": ThreadPoolTaskRunner}


@task
def node(task_id: str, seconds: float, path: str, mode: str) -> None:
    """One benchmark task (see the module's docstring for the modes)."""
    if mode == "subprocess":
        subprocess.run([sys.executable, TASK, task_id, str(seconds), path], check=True)
    else:
        taskmod.run(task_id, seconds, path)


@flow
def shape_flow(nodes: list, out: str, mode: str) -> None:
    """Submits every node after its parent (`wait_for`) and waits for all; raises if one failed."""
    futures = {}
    for n in nodes:
        wait = [futures[n["parent"]]] if n["parent"] else []
        futures[n["id"]] = node.submit(n["id"], n["seconds"], f"{out}/{n['id']}.t", mode, wait_for=wait)
    for f in futures.values():
        f.result()


def run(req: dict) -> None:
    """Runs one request of driver.py: the shape on `slots` workers of the mode's task runner."""
    runner = RUNNERS[req["mode"]](max_workers=req["slots"])
    shape_flow.with_options(task_runner=runner)(req["nodes"], req["out"], req["mode"])

"""One benchmark task of bench/peers.ts: sleep, then append "<id> <start ms> <end ms> <pid>" to a file.

The same body runs in every peer engine: as a process of its own (`python task.py ID SECONDS
FILE`: Snakemake's shell jobs, Prefect's subprocess tasks) or called in the engine's own
process (`run`: Prefect's thread tasks, Luigi's forked tasks). The timestamps are the task's own
(epoch ms, taken inside the task), so the benchmark computes the makespan and the handoffs from
them and the engine's start-up shows as the end-to-end time minus the makespan; the pid shows
how many processes the engine really ran the tasks in.
"""

import os
import sys
import time


def run(task_id: str, seconds: float, path: str) -> None:
    """Sleeps `seconds` (none at 0) and appends the task's interval and pid to `path`.

    Appended, not overwritten: a task the engine ran twice leaves two lines, which the benchmark
    refuses (bench/peers/shapes.ts `readTaskFiles`).
    """
    start = time.time()
    if seconds > 0:
        time.sleep(seconds)
    end = time.time()
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{task_id} {start * 1000:.3f} {end * 1000:.3f} {os.getpid()}\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: task.py ID SECONDS FILE")
    run(sys.argv[1], float(sys.argv[2]), sys.argv[3])

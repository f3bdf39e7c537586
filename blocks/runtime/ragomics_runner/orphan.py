"""Stops a run whose worker is gone.

The executor keeps the runner's stdin open for as long as the node runs and never writes to it
(after a warm runner's one job line): a Docker container's stdin is the worker's attach
connection (`StdinOnce`: it closes when that connection does), a local run's is a pipe from the
worker process. EOF on stdin therefore means the worker died (or lost the engine): nobody will
read this node's result, and Temporal is about to run it again elsewhere. Without this watch the
orphan would compute until its timeout or the next orphan sweep, holding the CPU and memory the
re-run needs. Warm runs always watch (warm.py); cold runs when the executor sets
RAGOMICS_WATCH_STDIN=1, which it does only with stdin held open (an unset stdin reads EOF at
once and would stop every node).

The watch is a daemon thread blocked in `os.read` (which releases the GIL). On EOF it reports
`Orphaned` on stderr (the container's log) and ends the process with EXIT_ORPHANED through
`os._exit`: no clean-up handler of the block runs, as with a kill. A block inside one long C call
that holds the GIL delays the exit until that call returns.
"""

from __future__ import annotations

import json
import os
import threading

from . import errors as E
from .contract import ERROR_LINE_PREFIX
from .output import write_error
from .paths import Workspace

MESSAGE = "stdin closed while the node ran: its worker is gone, the node is stopped"


def _watch(fd: int, workspace: Workspace | None) -> None:
    try:
        while os.read(fd, 4096):
            pass  # the executor sends nothing after the job line; anything else is ignored
    except OSError:
        return  # not readable (the block closed fd 0): cannot tell, keep running
    err = E.Orphaned(MESSAGE)
    # Best effort: read only by an executor that is still alive but lost its attach connection.
    try:
        if workspace is not None:
            write_error(workspace, err)  # error.json, and the RAGOMICS_ERROR line on stderr
        else:
            line = json.dumps({"code": err.code, "type": err.type, "message": err.message})
            os.write(2, f"{ERROR_LINE_PREFIX}{line}\n".encode())
    except Exception:  # noqa: BLE001 - the exit below must happen whatever the report does
        pass
    os._exit(err.code)


def exit_when_stdin_closes(fd: int = 0, workspace: Workspace | None = None) -> threading.Thread:
    """Starts the watch of `fd` (see the module doc) and returns its daemon thread; on EOF the
    process exits EXIT_ORPHANED, after writing error.json into `workspace` when given."""
    thread = threading.Thread(target=_watch, args=(fd, workspace), name="ragomics-orphan-watch", daemon=True)
    thread.start()
    return thread


__all__ = ["MESSAGE", "exit_when_stdin_closes"]

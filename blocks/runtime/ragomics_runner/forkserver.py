"""`python -m ragomics_runner --fork-server`: one warmed-up process that forks a child per node.

The local executor's warm mode. The pre-started runners of warm.py each still pay an
interpreter start and the imports (1.5 s of CPU); this process pays them once (`warm.warm_up()`),
then forks: a child shares the imported modules copy-on-write and costs a few milliseconds.
One child = one node, always; the server never runs a node itself, so every child starts from
the state the warm-up left (nothing of an earlier node: each node's changes die with its child).

Control channel (JSON lines), the server's stdin and its stdout (stdout carries ONLY these; the
warm-up's chatter and the server's own messages go to stderr, the executor's server log):
  out `{"ready": true}` once warmed up;
  in  `{"token": T, "job": <job.json>, "workspace": <dir>, "threads": N, "socket": <unix socket>}`;
  out `{"started": {"token": T, "pid": P}}` once forked (always before its `exited` line);
  out `{"exited": {"token": T, "pid": P, "code": C, "signal": S}}` (code or signal is null);
  out `{"rejected": {"token": T, "error": "..."}}` for a line it cannot use (nothing forked).
EOF on stdin: the server exits (children of running attempts are the executor's to kill).

A child: own session (`setsid`, so the executor kills its process group on abort), dies with
the server (PR_SET_PDEATHSIG), connects to `socket` twice, writes `{"token": T, "stream":
"stdout"|"stderr"}` + newline on each, dup2s them onto fd 1 and fd 2, stdin from /dev/null, then
does what warm.py does after its job line (thread limits, `jobReceivedAt`) and runs
`runner.main` like a cold run, ending through `os._exit` with the cold run's code.

Threads: fork copies only the calling thread, so the server must have exactly one when it
forks (a BLAS/OpenMP pool started during the warm-up would be dead but "present" in every
child). The executor starts the server with OMP/OpenBLAS/MKL at 1 thread (pools of one thread
are not started at all); numba starts its pool only on first parallel use. The child raises its
limits to the job's `threads` with threadpoolctl (warm.limit_threads). `thread_count()` is
checked before every fork and reported on stderr when it is not 1.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

from . import errors as E
from . import timings
from .warm import WarmJob, limit_threads, parse_job_line, warm_up

READY = {"ready": True}
PR_SET_PDEATHSIG = 1


def thread_count() -> int:
    """OS threads of this process (/proc/self/task; 1 off Linux)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


class Server:
    """The control loop: job lines in, started/exited lines out (see the module comment)."""

    def __init__(self, control_fd: int) -> None:
        self.control_fd = control_fd
        self.tokens: dict[int, Any] = {}  # pid -> token of a running child

    def send(self, obj: dict[str, Any]) -> None:
        # One os.write per line, well under PIPE_BUF: a line is never split or interleaved.
        os.write(self.control_fd, (json.dumps(obj) + "\n").encode())

    def reap(self) -> None:
        """Report every child that has ended (non-blocking)."""
        while self.tokens:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            token = self.tokens.pop(pid, None)
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            self.send({"exited": {"token": token, "pid": pid, "code": code, "signal": sig}})

    def serve(self, stdin_fd: int) -> int:
        """Reads job lines until EOF. SIGCHLD wakes the loop through a pipe (no handler code
        runs between a fork and its `started` line, so `started` always comes first)."""
        rd, wr = os.pipe()
        os.set_blocking(wr, False)
        signal.set_wakeup_fd(wr)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so set_wakeup_fd sees it
        pending = b""
        while True:
            try:
                ready, _, _ = select.select([stdin_fd, rd], [], [])
            except InterruptedError:
                continue
            if rd in ready:
                os.read(rd, 512)
            self.reap()
            if stdin_fd not in ready:
                continue
            chunk = os.read(stdin_fd, 65536)
            if not chunk:
                return E.EXIT_OK
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    self.handle(line.decode("utf8", "replace"))

    def handle(self, line: str) -> None:
        received = timings.now_ms()
        token: Any = None
        try:
            obj = json.loads(line)
            token = obj.get("token") if isinstance(obj, dict) else None
            sock = obj.get("socket") if isinstance(obj, dict) else None
            if token is None or not isinstance(sock, str) or not sock:
                raise E.InvalidParameters("fork server: the job line needs `token` and `socket`")
            job = parse_job_line(line)
        except (json.JSONDecodeError, E.InvalidParameters) as exc:
            msg = exc.message if isinstance(exc, E.InvalidParameters) else f"the job line is not JSON ({exc.msg})"
            self.send({"rejected": {"token": token, "error": msg}})
            return
        threads = thread_count()
        if threads != 1:
            sys.stderr.write(f"ragomics fork server: {threads} threads at fork (expected 1)\n")
            sys.stderr.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70  # EX_SOFTWARE: the child failed before the runner could report
            try:
                code = child(job, token, sock, received, self.control_fd)
            finally:
                os._exit(code)
        self.tokens[pid] = token
        self.send({"started": {"token": token, "pid": pid}})


def connect(path: str, token: Any, stream: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall((json.dumps({"token": token, "stream": stream}) + "\n").encode())
    return s


def fresh_state() -> None:
    """What a fork would share with its siblings but a cold run never has: the same random
    state (numpy's global generator; `random` reseeds itself after fork)."""
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()


def child(job: WarmJob, token: Any, sock: str, received: float, control_fd: int) -> int:
    """The forked child: detach, wire its output, then run the node like warm.py does."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess.wait in a block needs its children
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.close(control_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out, err = connect(sock, token, "stdout"), connect(sock, token, "stderr")
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    out.close()
    err.close()
    # Under the runner's own marks: this process starts here, not at the server's start.
    from . import runner

    runner.STARTED_AT_MS = timings.now_ms()
    timings.set_job_received(received)
    fresh_state()
    limit_threads(job.threads)
    code = runner.main(["--job", job.job, "--workspace", job.workspace])
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def warm_up_more() -> None:
    """What every node pays after warm.warm_up() and a fork can share instead (measured on a
    forked `sleep 0`: 35 ms of catalog validation, 10 ms of thread limits, 50 ms of a first
    figure): jsonschema and the catalog, threadpoolctl's library scan, one small AnnData written
    and read back (anndata's and h5py's lazy imports), one small figure saved (pyplot, fonts).
    Never fails: a cold run would import them."""
    try:
        from .catalog import load_catalog, validate_parameters

        catalog = load_catalog()
        if "sleep" in catalog:
            validate_parameters("sleep", catalog["sleep"], {"seconds": 0})
    except Exception:  # noqa: BLE001 - the node reports it
        pass
    try:
        import threadpoolctl

        threadpoolctl.threadpool_info()
    except Exception:  # noqa: BLE001
        pass
    try:
        import tempfile

        import anndata
        import numpy as np

        with tempfile.TemporaryDirectory(prefix="ragomics-forkserver-") as tmp:
            path = os.path.join(tmp, "warm.h5ad")
            anndata.AnnData(np.zeros((2, 2), dtype="float32")).write_h5ad(path)
            anndata.read_h5ad(path)
            # Every block saves a figure: pyplot, the fonts and the PNG writer loaded once.
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(1, 1))
            fig.add_subplot().bar([0], [1])
            fig.savefig(os.path.join(tmp, "warm.png"))
            plt.close(fig)
    except Exception:  # noqa: BLE001
        pass


def fork_server_main() -> int:
    """Warm up with the control channel kept aside (fd 1 → stderr for any chatter), announce
    readiness, serve until EOF."""
    control_fd = os.dup(1)
    os.set_inheritable(control_fd, False)
    os.dup2(2, 1)
    warm_up()
    warm_up_more()
    # The warm-up's objects never die: out of the collector's sight, a child's collections do not
    # touch (and so copy) the pages they live on.
    gc.freeze()
    sys.stdout.flush()
    server = Server(control_fd)
    server.send(READY)
    sys.stderr.write(f"ragomics fork server {os.getpid()}: ready, {thread_count()} thread(s)\n")
    sys.stderr.flush()
    return server.serve(0)

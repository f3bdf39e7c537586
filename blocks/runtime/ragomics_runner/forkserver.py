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

What a node pays for the hand-over, and what is taken off its path (issue 15; the milliseconds
below are quoted from the profiling session of 2026-11-29, a chain of `sleep 0` nodes on 2 shared
cores with blocks/tests/profile_fork_child.py; BENCHMARKS.md section 10 has the recorded effect):
- the fork itself (5-10 ms: the page tables of a 250 MB process), the child's set-up and its
  thread limits (5-15 ms: numba's threading layer started, threadpoolctl's scan of the loaded
  libraries): the server keeps ONE spare child, forked and detached ahead of time, which starts
  numba's threading layer and scans the libraries (threadpoolctl's controller) while it waits on
  a pipe for its job; then only the limits are set. A job line goes to the spare when there is
  one (else to a fresh fork, which does all of it as before), and the next spare is forked once
  the `started` line is out. A spare is a fork of the same warmed-up server state, so it is
  exactly the child a fresh fork would be, only earlier. Neither can be done before the fork:
  GNU OpenMP (loaded by numba's layer) aborts a child forked after it was loaded;
- the exit (another 5-15 ms: the kernel tears down the child's copy-on-write address space
  before waitpid sees it): a child that returns from the runner flushes and closes its output,
  then writes its pid and exit code on a pipe only the server reads, and the server reports
  `exited` at once (the later waitpid is not reported again; a line with another pid, from a
  process the block forked, is ignored and waitpid reports the child). A child that dies any other way (a signal, the
  runner's own `os._exit` on failure) is reported by waitpid as before;
- the first touches of a node's common paths (15-20 ms: reading and writing a small AnnData and
  saving a figure cost that much more in a fresh child than in one that did it before, mostly
  copy-on-write faults on the server's pages): a spare forked while at most one other child runs
  (a chain, a lone node) and left waiting for SPARE_IDLE_S repeats the server's warm-up (one small
  AnnData written and read, one figure saved) while it waits, step by step, stopping as soon as
  its job arrives (so a job waits for one step at most, and the node before it is mostly done
  when the spare starts). It is what the server's warm-up already did, so it leaves nothing a
  fresh fork would not have; a spare of a busy server (a fan) skips it: there it would only take
  CPU from the running nodes;
- built-in blocks' modules: imported once by the server (a child compiled its block's source).
`RAGOMICS_FORK_SPEEDUPS=0` in the server's environment turns these four off (the server of
commit 0190ad1), for before/after benchmarks.

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
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors as E
from . import timings
from .loading import release_inline_module
from .warm import WarmJob, limit_threads, parse_job_line, warm_up

READY = {"ready": True}
PR_SET_PDEATHSIG = 1
# A spare that got no job this long after its fork settles (see the module comment): long enough
# for the short node handed over just before its fork to be mostly done.
SPARE_IDLE_S = 0.1


def speedups_on() -> bool:
    """False when `RAGOMICS_FORK_SPEEDUPS=0` (the before/after benchmarks' "before")."""
    return os.environ.get("RAGOMICS_FORK_SPEEDUPS", "1") != "0"


def thread_count() -> int:
    """OS threads of this process (/proc/self/task; 1 off Linux)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


@dataclass
class Spare:
    """A child forked ahead of its job: `job_w` is the server's end of the pipe it waits on."""

    pid: int
    job_w: int
    report_r: int


class Server:
    """The control loop: job lines in, started/exited lines out (see the module comment)."""

    def __init__(self, control_fd: int, speedups: bool = True) -> None:
        self.control_fd = control_fd
        self.tokens: dict[int, Any] = {}  # pid -> token of a running child
        self.reports: dict[int, int] = {}  # exit-report pipe (server's end) -> pid
        self.reported: set[int] = set()  # pids whose exit was reported from their pipe
        self.speedups = speedups  # a spare and exit reports (off: RAGOMICS_FORK_SPEEDUPS=0)
        self.spare: Spare | None = None
        self.wake: tuple[int, int] | None = None  # the SIGCHLD wake-up pipe (serve)

    def send(self, obj: dict[str, Any]) -> None:
        # One os.write per line, well under PIPE_BUF: a line is never split or interleaved.
        os.write(self.control_fd, (json.dumps(obj) + "\n").encode())

    def server_fds(self) -> list[int]:
        """The descriptors a child must not keep: the control channel, every pipe end of the server."""
        fds = [self.control_fd, *self.reports]
        if self.wake is not None:
            fds += list(self.wake)
        if self.spare is not None:
            fds += [self.spare.job_w, self.spare.report_r]
        return fds

    def reap(self, waitpid: Callable[[int, int], tuple[int, int]] = os.waitpid) -> None:
        """Report every child that has ended (non-blocking). `waitpid`: tests pass one that waits
        for their own child only."""
        while True:
            try:
                pid, status = waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare.pid:
                # A spare that died before its job (killed from outside): the next job forks afresh.
                self.drop_spare()
                continue
            if pid not in self.tokens:
                continue  # a spare that died before it got its job (hand_to_spare forked afresh)
            token = self.tokens.pop(pid)
            if pid in self.reported:
                self.reported.discard(pid)
                continue
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            self.send({"exited": {"token": token, "pid": pid, "code": code, "signal": sig}})

    def drop_spare(self) -> None:
        if self.spare is not None:
            os.close(self.spare.job_w)
            os.close(self.spare.report_r)
            self.spare = None

    def read_report(self, fd: int) -> None:
        """A child's exit report, `<pid> <code>`, written just before its `os._exit`. Anything
        else (EOF: it died otherwise; another pid: a process the block forked that ran on through
        the child's tail) is not a report: waitpid reports the child's real exit."""
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        pid = self.reports.pop(fd)
        os.close(fd)
        token = self.tokens.get(pid)
        fields = data.decode("ascii", "replace").split("\n", 1)[0].split()
        if token is None or len(fields) != 2 or fields[0] != str(pid) or not fields[1].lstrip("-").isdigit():
            return
        self.reported.add(pid)
        self.send({"exited": {"token": token, "pid": pid, "code": int(fields[1]), "signal": None}})

    def serve(self, stdin_fd: int) -> int:
        """Reads job lines until EOF. SIGCHLD wakes the loop through a pipe (no handler code
        runs between a fork and its `started` line, so `started` always comes first)."""
        rd, wr = os.pipe()
        self.wake = (rd, wr)
        os.set_blocking(wr, False)
        signal.set_wakeup_fd(wr)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so set_wakeup_fd sees it
        self.refill()
        pending = b""
        while True:
            try:
                ready, _, _ = select.select([stdin_fd, rd, *self.reports], [], [])
            except InterruptedError:
                continue
            for fd in ready:
                if fd in self.reports:
                    self.read_report(fd)
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
            self.refill()

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
        try:
            pid = self.hand_to_spare(job, token, sock, received)
            if pid is None:
                pid = self.fork_child(job, token, sock, received)
        except OSError as exc:
            # fork() or pipe() failed (EAGAIN: a pids limit, ENOMEM): this job runs cold, the
            # server and the nodes it runs go on.
            self.send({"rejected": {"token": token, "error": f"fork server: cannot start a child: {exc}"}})
            return
        self.tokens[pid] = token
        self.send({"started": {"token": token, "pid": pid}})

    def hand_to_spare(self, job: WarmJob, token: Any, sock: str, received: float) -> int | None:
        """The spare's pid once it has the job; None without a spare (or a dead one)."""
        spare = self.spare
        if spare is None:
            return None
        self.spare = None
        payload = {"token": token, "job": job.job, "workspace": job.workspace, "threads": job.threads}
        payload.update(socket=sock, received=received)
        try:
            os.write(spare.job_w, (json.dumps(payload) + "\n").encode())
        except OSError:  # it died meanwhile (EPIPE): waitpid reports it, untracked
            os.close(spare.report_r)
            return None
        finally:
            os.close(spare.job_w)
        self.reports[spare.report_r] = spare.pid
        return spare.pid

    def pre_fork(self) -> None:
        """Checks the thread count and flushes."""
        threads = thread_count()
        if threads != 1:
            sys.stderr.write(f"ragomics fork server: {threads} threads at fork (expected 1)\n")
        sys.stdout.flush()
        sys.stderr.flush()

    def fork_child(self, job: WarmJob, token: Any, sock: str, received: float) -> int:
        """A child forked for this job (no spare ready): runs it at once. With speed-ups it
        gets an exit-report pipe; without, waitpid alone reports it (as before the pipe existed)."""
        self.pre_fork()
        report_r, report_w = os.pipe() if self.speedups else (-1, -1)
        close = self.server_fds() + ([report_r] if self.speedups else [])
        try:
            pid = os.fork()
        except OSError:
            _close_all(report_r, report_w)
            raise
        if pid == 0:
            code = 70  # EX_SOFTWARE: the child failed before the runner could report
            try:
                detach(close)
                code = child(job, token, sock, received, report_w if self.speedups else None)
            except BaseException:  # noqa: BLE001 - said on stderr, then the exit code 70 says it failed
                _say_child_failure()
            finally:
                os._exit(code)
        if self.speedups:
            os.close(report_w)
            self.reports[report_r] = pid
        return pid

    def refill(self) -> None:
        """Forks the next spare when there is none (and spares are on)."""
        if not self.speedups or self.spare is not None:
            return
        self.pre_fork()
        fds: list[int] = []
        try:
            report_r, report_w = os.pipe()
            fds += [report_r, report_w]
            job_r, job_w = os.pipe()
            fds += [job_r, job_w]
            close = self.server_fds() + [report_r, job_w]
            settle = len(self.tokens) <= 1  # a chain or a lone node, not a fan (see the module comment)
            pid = os.fork()
        except OSError as exc:
            # No spare this time: the next job forks its own child (or runs cold); the server goes on.
            _close_all(*fds)
            sys.stderr.write(f"ragomics fork server: cannot fork a spare: {exc}\n")
            return
        if pid == 0:
            code = 70
            try:
                detach(close)
                code = spare_main(job_r, report_w, settle)
            except BaseException:  # noqa: BLE001 - said on stderr, then the exit code 70 says it failed
                _say_child_failure()
            finally:
                os._exit(code)
        os.close(report_w)
        os.close(job_r)
        self.spare = Spare(pid, job_w, report_r)


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


def _close_all(*fds: int) -> None:
    """Closes the descriptors that are open (-1: none)."""
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _say_child_failure() -> None:
    """In a forked child, before os._exit: the exception being handled on stderr (the node's log),
    so a failure before the runner could report is not silent."""
    try:
        sys.stderr.write("ragomics fork server: the forked child failed before its runner could report:\n")
        traceback.print_exc()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - nothing more can be said; the exit code still says it failed
        pass


def detach(server_fds: list[int]) -> None:
    """A new child's first steps: no server signal plumbing, its own session, death with the
    server, none of the server's descriptors, stdin from /dev/null."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess.wait in a block needs its children
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    for fd in server_fds:
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def spare_main(job_r: int, report_w: int, settle: bool = False) -> int:
    """A spare: waits for its job line on `job_r` (EOF: the server is gone, exit 0), then runs it.
    With `settle`, a spare without a job after SPARE_IDLE_S first repeats the warm-up's I/O."""
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            # What limit_threads does first in every child (numba's threading layer loaded, no
            # thread started yet), done while the spare waits.
            from numba.np.ufunc import parallel

            parallel._launch_threads()
        except Exception:  # noqa: BLE001 - limit_threads meets (and ignores) it again
            pass
    controller = thread_controller()  # after numba's layer: it loads an OpenMP runtime
    if settle and not select.select([job_r], [], [], SPARE_IDLE_S)[0]:
        touch_common_paths(lambda: bool(select.select([job_r], [], [], 0)[0]))
    data = b""
    while b"\n" not in data:
        chunk = os.read(job_r, 65536)
        if not chunk:
            return E.EXIT_OK
        data += chunk
    os.close(job_r)
    msg = json.loads(data.split(b"\n", 1)[0])
    job = WarmJob(job=msg["job"], workspace=msg["workspace"], threads=msg["threads"])
    return child(job, msg["token"], msg["socket"], msg["received"], report_w, controller)


def child(
    job: WarmJob, token: Any, sock: str, received: float, report_w: int | None = None, controller: Any = None
) -> int:
    """The forked child once detached: wire its output, run the node like warm.py does, then
    report its exit code on `report_w` (see the module comment). `controller`: the spare's
    threadpoolctl controller (None: limit_threads scans)."""
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
    limit_threads(job.threads, controller)
    code = runner.main(["--job", job.job, "--workspace", job.workspace])
    release_inline_module()  # the child ends with os._exit: close what the block left open
    sys.stdout.flush()
    sys.stderr.flush()
    if report_w is not None:
        # The logs end here (the executor waits for both streams), then the code goes out before
        # the kernel tears the address space down. A helper the block left running keeps its own
        # copies of the streams until the executor kills the child's group.
        os.close(1)
        os.close(2)
        try:
            # With its pid: a process the block forked that ran on to here reports nothing.
            os.write(report_w, f"{os.getpid()} {code}\n".encode())
        except OSError:  # the server is gone: its children die with it anyway
            pass
    return code


def touch_common_paths(job_arrived: Callable[[], bool] = lambda: False) -> int:
    """What most nodes do first and a spare can do before its job: one small AnnData written and
    read back, one small figure laid out and saved as report.savefig saves (tight box, 100 dpi),
    into nothing that outlives the call; step by step, stopping before the next step once
    `job_arrived()`. Returns the steps done. Never fails."""
    import io
    import tempfile

    done = 0
    state: dict[str, Any] = {}
    tmp = tempfile.TemporaryDirectory(prefix="ragomics-spare-")
    path = os.path.join(tmp.name, "touch.h5ad")

    def write() -> None:
        import anndata
        import numpy as np

        anndata.AnnData(np.zeros((10, 5), dtype="float32")).write_h5ad(path)

    def read() -> None:
        import anndata

        anndata.read_h5ad(path)

    def draw() -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 2.5))
        ax.barh(["a", "b"], [1.0, 0.0])
        ax.set_title("touch")
        state["fig"] = fig

    def save() -> None:
        state["fig"].savefig(io.BytesIO(), format="png", dpi=100, bbox_inches="tight")

    try:
        for step in (write, read, draw, save):
            if job_arrived():
                break
            step()
            done += 1
    except Exception:  # noqa: BLE001 - the node meets any such failure itself
        pass
    finally:
        if "fig" in state:
            import matplotlib.pyplot as plt

            plt.close(state["fig"])
        tmp.cleanup()
    return done


def preload_blocks() -> None:
    """Imports every built-in block's module, so a child does not compile its block's source."""
    import importlib

    from .catalog import load_catalog

    for name in load_catalog():
        try:
            importlib.import_module(f"{__package__}.blocks.{name}")
        except Exception:  # noqa: BLE001 - the node that needs it reports the failure
            pass


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


def thread_controller() -> Any:
    """threadpoolctl's controller of the libraries loaded now (None without threadpoolctl: then
    limit_threads tries, and reports nothing, as in a cold run)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController()
    except Exception:  # noqa: BLE001 - limit_threads then scans in each child
        return None


def fork_server_main() -> int:
    """Warm up with the control channel kept aside (fd 1 → stderr for any chatter), announce
    readiness, serve until EOF."""
    control_fd = os.dup(1)
    os.set_inheritable(control_fd, False)
    os.dup2(2, 1)
    warm_up()
    warm_up_more()
    speedups = speedups_on()
    if speedups:
        preload_blocks()
    # The warm-up's objects never die: out of the collector's sight, a child's collections do not
    # touch (and so copy) the pages they live on.
    gc.freeze()
    sys.stdout.flush()
    server = Server(control_fd, speedups=speedups)
    server.send(READY)
    sys.stderr.write(f"ragomics fork server {os.getpid()}: ready, {thread_count()} thread(s)\n")
    sys.stderr.flush()
    return server.serve(0)

"""`python -m ragomics_runner --fork-server` (forkserver.py): the control lines, one child per job
with its output on the job's socket, exit codes and signals, state isolation between consecutive
jobs, one thread at fork, the job's thread limits in the child, EOF ends the server; the spare child,
the exit reports and the preloaded blocks (RAGOMICS_FORK_SPEEDUPS)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RUNTIME_DIR

from ragomics_runner import errors as E
from ragomics_runner import forkserver as fs

# Job 1 leaves every kind of trace a node can leave in its process; job 2 reports what it sees.
DIRTY_CODE = """
def run(adata=None):
    import os, sys, logging
    import numpy
    import matplotlib.pyplot as plt
    import ragomics_runner
    os.environ["RAGOMICS_TEST_LEAK"] = "1"
    ragomics_runner._leak = True
    plt.figure()
    logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))
    os.makedirs("elsewhere", exist_ok=True)
    os.chdir("elsewhere")
    from ragomics_runner import report
    report.metric("left", 1)
    report.metric("draw", float(numpy.random.random()))
    print("job one says hi")
"""
CHECK_CODE = """
def run(adata=None):
    import os, logging
    import numpy
    import matplotlib.pyplot as plt
    import ragomics_runner
    from ragomics_runner import report
    report.metric("env", os.environ.get("RAGOMICS_TEST_LEAK"))
    report.metric("module", hasattr(ragomics_runner, "_leak"))
    report.metric("figures", len(plt.get_fignums()))
    report.metric("handlers", len(logging.getLogger().handlers))
    report.metric("cwd", os.getcwd())
    report.metric("draw", float(numpy.random.random()))
    print("job two says hi")
"""
THREADS_CODE = """
def run(adata=None):
    import os
    import threadpoolctl
    from ragomics_runner import report
    report.metric("blas", sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()}))
    report.metric("omp_env", os.environ["OMP_NUM_THREADS"])
"""


class Logs:
    """A Unix socket server like the executor's: routes each connection by its header line.

    A child connects, writes and closes before its `exited` line reaches the test, but this
    server's accept and read threads may not have run yet (a busy machine): `out` waits for the
    stream it is asked for to be read to its end, never for a thread that may not exist yet."""

    # A bound on a thread getting scheduled, not a speed: reaching it fails the test's assertion.
    WAIT_S = 60.0

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.streams: dict[tuple[Any, str], bytes] = {}
        self.done = threading.Condition()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn: socket.socket) -> None:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        head, _, rest = data.partition(b"\n")
        h = json.loads(head)
        with self.done:
            self.streams[(h["token"], h["stream"])] = rest
            self.done.notify_all()

    def out(self, token: Any, stream: str = "stdout") -> str:
        """The whole stream once its connection has closed ("" if it never came within WAIT_S)."""
        key = (token, stream)
        with self.done:
            self.done.wait_for(lambda: key in self.streams, timeout=self.WAIT_S)
            return self.streams.get(key, b"").decode()


def start(home: Path) -> subprocess.Popen[str]:
    # As the executor starts it: BLAS/OpenMP at one thread, so no pool exists at fork.
    threads = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "HOME": str(home), **threads}
    env.pop("RAGOMICS_CACHE_SEED", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragomics_runner", "--fork-server"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    return proc


def workspace(root: Path, block: dict[str, object]) -> Path:
    root.mkdir()
    (root / "job.json").write_text(json.dumps({"block": block}))
    return root


def submit(proc: subprocess.Popen[str], logs: Logs, token: Any, ws: Path, threads: int = 1) -> dict[str, Any]:
    """Sends one job and returns its `exited` report (after checking `started` came first)."""
    assert proc.stdin is not None and proc.stdout is not None
    line = {"token": token, "job": str(ws / "job.json"), "workspace": str(ws), "threads": threads, "socket": logs.path}
    proc.stdin.write(json.dumps(line) + "\n")
    proc.stdin.flush()
    started = json.loads(proc.stdout.readline())
    assert started["started"]["token"] == token, started
    exited = json.loads(proc.stdout.readline())["exited"]
    assert exited["token"] == token and exited["pid"] == started["started"]["pid"]
    return exited


def metrics(ws: Path) -> dict[str, Any]:
    return json.loads((ws / "output" / "result.json").read_text())["metrics"]


def test_two_jobs_one_server_no_trace_of_the_first(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    one = workspace(tmp_path / "one", {"code": DIRTY_CODE})
    two = workspace(tmp_path / "two", {"code": CHECK_CODE})
    e1 = submit(proc, logs, 1, one)
    assert (e1["code"], e1["signal"]) == (0, None), logs.out(1, "stderr")
    e2 = submit(proc, logs, 2, two)
    assert e2["code"] == 0, logs.out(2, "stderr")
    m1, m2 = metrics(one), metrics(two)
    assert m1["left"] == 1
    assert (m2["env"], m2["module"], m2["figures"], m2["handlers"], m2["cwd"]) == (None, False, 0, 0, str(two))
    assert m1["draw"] != m2["draw"], "each child draws from its own random state"
    assert "job one says hi" in logs.out(1) and "job two says hi" not in logs.out(1)
    assert "job two says hi" in logs.out(2)
    assert logs.out(2).startswith('RAGOMICS_PROGRESS {"fraction": 0.0, "message": "loading block"}\n')
    t = json.loads((two / "output" / "result.json").read_text())["timings"]
    assert t["runnerStart"] <= t["importStart"] and isinstance(t["jobReceivedAt"], float)
    _, err = proc.communicate("", timeout=30)
    assert proc.returncode == 0
    assert "1 thread(s)" in err and "threads at fork" not in err, err


def test_exit_codes_and_signals_are_the_childs(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    bad = workspace(tmp_path / "bad", {"name": "sleep", "parameters": {"seconds": -1}})
    segv = "def run(adata=None):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    crash = workspace(tmp_path / "crash", {"code": segv})
    e_bad = submit(proc, logs, "b", bad)
    assert (e_bad["code"], e_bad["signal"]) == (E.EXIT_INVALID_PARAMETERS, None)
    assert logs.out("b", "stderr").rstrip("\n").splitlines()[-1].startswith("RAGOMICS_ERROR ")
    e_crash = submit(proc, logs, "c", crash)
    assert (e_crash["code"], e_crash["signal"]) == (None, signal.SIGSEGV)
    proc.communicate("", timeout=30)


def test_a_child_is_in_its_own_session_and_runs_with_the_jobs_threads(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    code = (
        "def run(adata=None):\n    import os\n    from ragomics_runner import report\n"
        "    report.metric('sid', os.getsid(0) == os.getpid())\n"
    )
    ws = workspace(tmp_path / "sid", {"code": code})
    assert submit(proc, logs, "s", ws)["code"] == 0
    assert metrics(ws)["sid"] is True
    ws2 = workspace(tmp_path / "threads", {"code": THREADS_CODE})
    assert submit(proc, logs, "t", ws2, threads=2)["code"] == 0, logs.out("t", "stderr")
    m = metrics(ws2)
    assert m["omp_env"] == "2"
    assert m["blas"] == [2], m  # raised from the server's 1 thread
    proc.communicate("", timeout=30)


def test_a_bad_line_is_rejected_and_the_server_goes_on(tmp_path: Path) -> None:
    proc = start(tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    bad = {"token": 5, "job": "/x/job.json", "workspace": "/x", "threads": 0, "socket": "/x.sock"}
    proc.stdin.write(json.dumps(bad) + "\nnot json\n")
    proc.stdin.flush()
    r1 = json.loads(proc.stdout.readline())["rejected"]
    r2 = json.loads(proc.stdout.readline())["rejected"]
    assert r1["token"] == 5 and "threads" in r1["error"]
    assert r2["token"] is None and "not JSON" in r2["error"]
    logs = Logs(tmp_path / "s.sock")
    ws = workspace(tmp_path / "ok", {"name": "sleep", "parameters": {"seconds": 0}})
    assert submit(proc, logs, 6, ws)["code"] == 0
    proc.communicate("", timeout=30)
    assert proc.returncode == 0


# --- The hand-over's speed-ups (issue 15): a spare child, exit reports, thread controller, preloaded blocks.

PRELOADED_CODE = """
def run(adata=None):
    import sys
    from ragomics_runner import report
    report.metric("preloaded", "ragomics_runner.blocks.sleep" in sys.modules)
"""


def children(ppid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is `ppid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == ppid:
            found.append(int(name))
    return found


def wait_for_children(ppid: int, want: int, avoid: frozenset[int] = frozenset()) -> list[int]:
    """Waits (up to 60 s) until `ppid` has `want` live children other than `avoid`."""
    deadline = time.monotonic() + 60
    while True:
        kids = [p for p in children(ppid) if p not in avoid]
        if len(kids) == want:
            return kids
        assert time.monotonic() < deadline, f"{ppid} has children {kids}, waited for {want}"
        time.sleep(0.02)


def rest_of_stdout(proc: subprocess.Popen[str]) -> list[str]:
    out, _ = proc.communicate("", timeout=30)
    return [line for line in out.splitlines() if line.strip()]


def test_a_spare_child_waits_for_the_next_job_and_runs_it_like_a_fresh_fork(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    [spare] = wait_for_children(proc.pid, 1)
    deadline = time.monotonic() + 30
    while os.getsid(spare) != spare:  # the spare detaches (setsid) right after its fork, before any job
        assert time.monotonic() < deadline, "the spare never got its own session"
        time.sleep(0.01)
    ws = workspace(tmp_path / "sleep", {"name": "sleep", "parameters": {"seconds": 0}})
    e = submit(proc, logs, 1, ws)
    assert (e["pid"], e["code"], e["signal"]) == (spare, 0, None), logs.out(1, "stderr")
    out = ws / "output"
    assert (out / "_node_anndata.h5ad").stat().st_size > 0 and (out / "figures" / "sleep.png").stat().st_size > 0
    result = json.loads((out / "result.json").read_text())
    assert result["figures"] == ["figures/sleep.png"] and result["shape"] == [10, 5]
    assert logs.out(1).splitlines()[-1].startswith('RAGOMICS_PROGRESS {"fraction": 1.0')
    # The next spare is forked once the job is handed over, and runs the next job.
    [spare2] = wait_for_children(proc.pid, 1, frozenset({spare}))
    ws2 = workspace(tmp_path / "pre", {"code": PRELOADED_CODE})
    e2 = submit(proc, logs, 2, ws2)
    assert (e2["pid"], e2["code"]) == (spare2, 0), logs.out(2, "stderr")
    assert metrics(ws2)["preloaded"] is True, "the server imported the built-in blocks"
    assert rest_of_stdout(proc) == [], "each exit is reported once"


def test_jobs_arriving_together_take_the_spare_and_fresh_forks(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    wait_for_children(proc.pid, 1)
    assert proc.stdin is not None and proc.stdout is not None
    spaces = {}
    for token in (1, 2, 3):
        ws = workspace(tmp_path / f"j{token}", {"code": CHECK_CODE})
        spaces[token] = ws
        line = {"token": token, "job": str(ws / "job.json"), "workspace": str(ws), "threads": 1, "socket": logs.path}
        proc.stdin.write(json.dumps(line) + "\n")
    proc.stdin.flush()
    seen: dict[str, dict[Any, Any]] = {"started": {}, "exited": {}}
    while len(seen["exited"]) < 3:
        msg = json.loads(proc.stdout.readline())
        kind = next(iter(msg))
        assert kind in seen and msg[kind]["token"] not in seen[kind], msg
        if kind == "exited":
            assert msg[kind]["token"] in seen["started"], "started comes first"
        seen[kind][msg[kind]["token"]] = msg[kind]
    assert len({s["pid"] for s in seen["started"].values()}) == 3
    for token, ws in spaces.items():
        assert seen["exited"][token]["code"] == 0, logs.out(token, "stderr")
        assert metrics(ws)["cwd"] == str(ws)
        assert "job two says hi" in logs.out(token)
    assert rest_of_stdout(proc) == []


def test_a_killed_spare_is_replaced_and_the_job_still_runs(tmp_path: Path) -> None:
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    [spare] = wait_for_children(proc.pid, 1)
    os.kill(spare, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{spare}"):  # reaped: the server has dropped it
        assert time.monotonic() < deadline, "the server did not reap the killed spare"
        time.sleep(0.02)
    ws = workspace(tmp_path / "ok", {"name": "sleep", "parameters": {"seconds": 0}})
    e = submit(proc, logs, 1, ws)
    assert e["code"] == 0 and e["pid"] != spare, logs.out(1, "stderr")
    wait_for_children(proc.pid, 1, frozenset({spare, e["pid"]}))
    assert rest_of_stdout(proc) == [], "no line for the killed spare"


def test_speedups_off_forks_after_the_job_line(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("RAGOMICS_FORK_SPEEDUPS", "0")
    proc = start(tmp_path)
    logs = Logs(tmp_path / "s.sock")
    ws = workspace(tmp_path / "pre", {"code": PRELOADED_CODE})
    e = submit(proc, logs, 1, ws)
    assert e["code"] == 0, logs.out(1, "stderr")
    assert metrics(ws)["preloaded"] is False
    assert children(proc.pid) == [], "no spare: the exit was reaped and nothing was forked ahead"
    proc.communicate("", timeout=30)


def test_an_exit_report_is_sent_at_once_and_waitpid_does_not_repeat_it() -> None:
    control_r, control_w = os.pipe()
    server = fs.Server(control_w)
    report_r, report_w = os.pipe()
    gate_r, gate_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # reports 0, then lives on until the test lets it end with 3
        os.write(report_w, f"{os.getpid()} 0\n".encode())
        os.read(gate_r, 1)
        os._exit(3)
    os.close(report_w)
    server.tokens[pid] = "t"
    server.reports[report_r] = pid
    server.read_report(report_r)
    line = json.loads(os.read(control_r, 4096))
    assert line == {"exited": {"token": "t", "pid": pid, "code": 0, "signal": None}}
    assert os.waitpid(pid, os.WNOHANG) == (0, 0), "reported while the process still exists"
    os.write(gate_w, b"x")
    os.set_blocking(control_r, False)
    deadline = time.monotonic() + 30
    while pid in server.tokens:
        server.reap(lambda _any, flags: os.waitpid(pid, flags))  # this test's child only, not pytest's others
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(BlockingIOError):
        os.read(control_r, 4096)  # nothing more: the reaped status is not reported again


@pytest.mark.parametrize("report", [b"0\n", b"1 0\n", b"", b"x y\n"])
def test_a_report_without_the_childs_pid_is_ignored_and_waitpid_reports_the_exit(report: bytes) -> None:
    """A bare code, another process's pid (one the block forked ran on through the child's tail),
    EOF or garbage: not a report; the child's real exit comes from waitpid."""
    control_r, control_w = os.pipe()
    server = fs.Server(control_w)
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        if report:
            os.write(report_w, report)
        os._exit(5)
    os.close(report_w)
    server.tokens[pid] = "t"
    server.reports[report_r] = pid
    server.read_report(report_r)
    assert pid not in server.reported
    deadline = time.monotonic() + 30
    while pid in server.tokens:
        server.reap(lambda _any, flags: os.waitpid(pid, flags))
        assert time.monotonic() < deadline
        time.sleep(0.01)
    line = json.loads(os.read(control_r, 4096))
    assert line == {"exited": {"token": "t", "pid": pid, "code": 5, "signal": None}}


def test_no_child_keeps_the_servers_wake_up_pipe() -> None:
    server = fs.Server(1)
    server.wake = (101, 102)
    assert {101, 102} <= set(server.server_fds())


def test_a_spare_touches_common_paths_leaving_no_trace_and_stops_for_its_job(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    assert fs.touch_common_paths() == 4, "write, read, draw, save"
    calls = iter([False, True])
    assert fs.touch_common_paths(lambda: next(calls)) == 1, "stopped before the step after its job arrived"
    assert plt.get_fignums() == open_before, "no figure left open"
    assert list(tmp_path.iterdir()) == [], "no file left behind"

#!/usr/bin/env bash
# scripts/ensure-docker.sh — make sure a Docker engine answers, installing and
# starting one if needed; print its version.
#
# Why: ragomics runs function blocks in containers. On a fresh machine the
# `docker` on PATH is only a client: no daemon runs. Debian's docker.io
# package brings dockerd; this script installs it when missing (as root),
# clears the pid files a killed daemon leaves behind (dockerd refuses to start
# with "pid file found"), starts dockerd in the background and waits for it.
# A daemon that exits during its start is started once more, after the whole
# run state of the earlier one is cleared (a machine restored from a snapshot
# keeps /run); a start that fails prints the daemon's last log lines.
# Idempotent and fast (one `docker info`) when the engine already answers.
#
# Usage:   scripts/ensure-docker.sh
#   stdout: DOCKER_SERVER_VERSION=<version>   (progress and errors on stderr)
#   exit 0 when the engine answers; 3 when it cannot be installed, started or
#   reached (one line says why and where the log is).
#
# Env:
#   DOCKER_HOST             if set, only check that this engine answers (never start one)
#   RAGOMICS_DOCKER_START_TIMEOUT (60)  seconds to wait for a started dockerd
#   RAGOMICS_DOCKERD_ARGS   extra arguments for a dockerd started here
#   RAGOMICS_DOCKERD_ROOT   testing hook: run a private daemon under this dir
#                           (its own data/exec root, pid file, socket; no bridge,
#                           no iptables) instead of the system one; its socket
#                           is DIR/docker.sock (use DOCKER_HOST=unix://DIR/docker.sock).
#                           After stopping it, `umount DIR/data` before deleting DIR.
#   RAGOMICS_DATA_DIR       see lib.sh; dockerd's log: $DATA_DIR/docker/dockerd.log
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT="${RAGOMICS_DOCKER_START_TIMEOUT:-60}"
LOG_DIR="$DATA_DIR/docker"
LOG_FILE="$LOG_DIR/dockerd.log"

PRIVATE_ROOT="${RAGOMICS_DOCKERD_ROOT:-}"
if [[ -n "$PRIVATE_ROOT" ]]; then
  mkdir -p "$PRIVATE_ROOT"
  PRIVATE_ROOT="$(cd "$PRIVATE_ROOT" && pwd)"
  PID_FILE="$PRIVATE_ROOT/docker.pid"
  SOCKET="$PRIVATE_ROOT/docker.sock"
  EXEC_ROOT="$PRIVATE_ROOT/exec"
  DAEMON_ARGS=(--data-root "$PRIVATE_ROOT/data" --exec-root "$EXEC_ROOT" --pidfile "$PID_FILE"
               -H "unix://$SOCKET" --bridge none --iptables=false --ip-masq=false
               # On a host whose system containerd runs (/run/containerd/containerd.sock), dockerd
               # attaches to it instead of starting its own: namespaces of its own keep this daemon's
               # containers and images apart from the system engine's (both default to "moby").
               --containerd-namespace "ragomics-private-$(basename "$PRIVATE_ROOT")"
               --containerd-plugins-namespace "ragomics-private-$(basename "$PRIVATE_ROOT")-plugins")
  # Its own network namespace: dockerd with --bridge none deletes any interface named docker0
  # (moby's removeDefaultBridgeInterface), which in the host's namespace is the system engine's
  # bridge; every bridge-network container and build there then fails. Its containers run with
  # --network none and its API is a unix socket, so it needs no network of its own.
  LAUNCH=(unshare --net)
  export DOCKER_HOST="unix://$SOCKET" # for our own checks below
  CHECK_ONLY=0
else
  PID_FILE=/var/run/docker.pid
  SOCKET=/var/run/docker.sock
  EXEC_ROOT=/var/run/docker
  DAEMON_ARGS=()
  LAUNCH=()
  CHECK_ONLY=0; [[ -n "${DOCKER_HOST:-}" ]] && CHECK_ONLY=1
fi
# dockerd's own containerd (started when no system containerd is configured).
CONTAINERD_PID_FILE="$EXEC_ROOT/containerd/containerd.pid"
# shellcheck disable=SC2206 # word splitting of the extra args is intended
DAEMON_ARGS+=(${RAGOMICS_DOCKERD_ARGS:-})

# docker_info FORMAT: the engine's answer, bounded in time.
docker_info() { timeout 10 docker info --format "$1" 2>/dev/null; }

report_and_exit() {
  local version api
  version="$(docker_info '{{.ServerVersion}}')" ||
    die -c 3 "Docker stopped answering at ${DOCKER_HOST:-unix://$SOCKET}; see $LOG_FILE"
  api="$(timeout 15 docker version --format '{{.Server.APIVersion}}' 2>/dev/null || echo '?')"
  log "docker engine $version (API $api) answers at ${DOCKER_HOST:-unix://$SOCKET}"
  echo "DOCKER_SERVER_VERSION=$version"
  exit 0
}

if command -v docker >/dev/null 2>&1 && docker_info '{{.ServerVersion}}' >/dev/null; then
  report_and_exit
fi
if [[ $CHECK_ONLY == 1 ]]; then
  die -c 3 "Docker at DOCKER_HOST=$DOCKER_HOST does not answer (docker info failed); start that engine or unset DOCKER_HOST"
fi

is_root() { [[ "$(id -u)" == 0 ]]; }

# --- install ---------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  is_root || die -c 3 "Docker engine not installed; run: sudo apt-get update && sudo apt-get install -y docker.io  (then rerun this script as root)"
  t="$(now_ms)"
  log "installing Debian's docker.io (dockerd)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  { apt-get update -qq && apt-get install -y -qq docker.io; } >&2 ||
    die -c 3 "apt-get install -y docker.io failed; run it by hand to see why: apt-get update && apt-get install -y docker.io"
  command -v dockerd >/dev/null 2>&1 || die -c 3 "docker.io was installed but dockerd is not on PATH"
  log "installed $(dockerd --version 2>/dev/null) in $(format_ms $(( $(now_ms) - t )))"
fi

is_root || die -c 3 "Docker engine is not running and starting dockerd needs root; run: sudo $PROJECT_ROOT/scripts/ensure-docker.sh"

# --- start -----------------------------------------------------------------
# Serialize concurrent callers (two test runners must not start two daemons).
mkdir -p "$LOG_DIR"
exec 9>"$LOG_DIR/.ensure.lock"
# Another caller may be in a start and its one retry: two waits for the daemon and two for its launcher.
flock -w $((2 * START_TIMEOUT + 60)) 9 || die -c 3 "timed out waiting for another ensure-docker.sh (lock $LOG_DIR/.ensure.lock)"
if docker_info '{{.ServerVersion}}' >/dev/null; then report_and_exit; fi

# cmdline_of PID: its command line with spaces, or empty when gone/zombie (or while it execs:
# use pid_alive to know whether it runs).
cmdline_of() {
  pid_alive "${1:-}" || return 0
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# Pids of live dockerd processes that own our pid file/socket: for the
# system daemon every dockerd without its own --pidfile/--exec-root (a
# private daemon, see RAGOMICS_DOCKERD_ROOT, does not count); for a private
# root only the daemon started with that root.
dockerd_pids() {
  local f p cmd
  for f in /proc/[0-9]*/comm; do
    [[ "$(cat "$f" 2>/dev/null)" == dockerd ]] || continue
    p="${f#/proc/}"; p="${p%/comm}"
    cmd="$(cmdline_of "$p")"
    [[ -z "$cmd" ]] && continue
    if [[ -n "$PRIVATE_ROOT" ]]; then
      [[ "$cmd" == *"$PRIVATE_ROOT"* ]] || continue
    else
      [[ "$cmd" == *--pidfile* || "$cmd" == *--exec-root* ]] && continue
    fi
    echo "$p"
  done
}

wait_for_engine() { # PID (may be empty): wait until docker info answers
  local pid="$1" deadline=$(( $(date +%s) + START_TIMEOUT ))
  while (( $(date +%s) < deadline )); do
    if [[ -S "$SOCKET" ]] && docker_info '{{.ServerVersion}}' >/dev/null; then return 0; fi
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then return 2; fi
    sleep 0.5
  done
  return 1
}

# last_error: the daemon's reason for exiting, one line. dockerd prints a fatal start error as a
# plain line ("failed to load listeners: ...", "unable to configure the Docker daemon ...") rather
# than a logrus record, so without a known pattern the log's last two lines are the reason (a
# usage error is "Status: unknown flag: --x" then "See 'dockerd --help'., Code: 125").
last_error() {
  local line
  line="$(grep -iE 'level=(fatal|error)|failed to (start|load)|unable to|pid file found' "$LOG_FILE" 2>/dev/null | tail -n1)"
  [[ -n "$line" ]] || line="$(grep -v '^[[:space:]]*$' "$LOG_FILE" 2>/dev/null | tail -n2 | paste -sd ' ' -)"
  printf '%s' "${line:-the log is empty}" | sed -E 's/^.*msg="?//; s/"$//' | cut -c1-200
}

# log_tail: the daemon's last log lines on stderr, so that a run whose log is gone afterwards (a
# CI machine) still shows why the start failed.
log_tail() {
  [[ -s "$LOG_FILE" ]] || return 0
  echo "--- last lines of $LOG_FILE ---" >&2
  tail -n 25 "$LOG_FILE" | cut -c1-300 >&2
  echo "---" >&2
}

# containerd_of_ours PID: true when PID is the containerd dockerd started for this exec root (it
# runs with `--config $EXEC_ROOT/containerd/containerd.toml`). After a restore from a snapshot a
# pid file's number may belong to anything, a shim of that containerd included (whose command line
# names the exec root too, in its -address).
containerd_of_ours() {
  [[ "$(cmdline_of "${1:-}")" == *"--config $EXEC_ROOT/containerd/containerd.toml"* ]]
}

# clear_stale_state: with no daemon of ours alive, whatever a killed one left behind in the run
# directory is stale (a machine restored from a snapshot keeps /run: it is on the disk here).
# dockerd refuses to start over its pid file ("pid file found"), reuses a containerd pid file's
# sockets, and binds its socket path, which must not be anything else.
clear_stale_state() {
  if [[ -e "$PID_FILE" ]]; then
    log "removing stale $PID_FILE (pid $(cat "$PID_FILE" 2>/dev/null || echo '?') is not a running dockerd)"
    rm -f "$PID_FILE"
  fi
  # Its private containerd may have survived it (dockerd then reuses it) or died too; a pid file
  # naming a dead or foreign process is removed, together with the sockets of that containerd.
  if [[ -e "$CONTAINERD_PID_FILE" ]]; then
    local cpid
    cpid="$(cat "$CONTAINERD_PID_FILE" 2>/dev/null || true)"
    if ! containerd_of_ours "$cpid"; then
      log "removing stale $CONTAINERD_PID_FILE and containerd sockets (pid ${cpid:-?} is not running)"
      rm -f "$CONTAINERD_PID_FILE" "$EXEC_ROOT/containerd/containerd.sock" \
            "$EXEC_ROOT/containerd/containerd.sock.ttrpc" "$EXEC_ROOT/containerd/containerd-debug.sock"
    else
      log "dockerd's containerd (pid $cpid) survived; the new dockerd will reuse it"
    fi
  fi
  # The socket path: a socket with no daemon behind it would make the wait below try it; an empty
  # directory there (what a bind mount of the path creates while it is missing) makes dockerd
  # exit with "can't create unix socket". Anything else is not ours to delete.
  if [[ -S "$SOCKET" ]]; then
    rm -f "$SOCKET"
  elif [[ -d "$SOCKET" ]]; then
    rmdir "$SOCKET" 2>/dev/null ||
      die -c 3 "Docker could not be started: $SOCKET is a directory that is not empty; move it away and rerun"
    log "removed the empty directory $SOCKET (dockerd binds its socket there)"
  elif [[ -e "$SOCKET" ]]; then
    die -c 3 "Docker could not be started: $SOCKET exists and is not a socket; move it away and rerun"
  fi
}

# clear_exec_root: the second start's deeper clean-up, when the first start's dockerd exited: the
# whole exec root (run state of the killed daemon: containerd's state, libnetwork, runtime-runc)
# goes, after unmounting what is mounted below it (network namespaces). Only when no containerd
# runs from it, which dockerd would otherwise reuse.
clear_exec_root() {
  [[ -d "$EXEC_ROOT" ]] || return 0
  if [[ -e "$CONTAINERD_PID_FILE" ]] && containerd_of_ours "$(cat "$CONTAINERD_PID_FILE" 2>/dev/null || true)"; then
    log "dockerd's containerd survived; keeping $EXEC_ROOT for the new dockerd"
    return 0
  fi
  local m real
  # Mount points are listed by their real paths (/var/run is a link to /run on Debian), decoded
  # by findmnt (mountinfo escapes a space as \040); deepest first.
  real="$(realpath -m "$EXEC_ROOT")"
  findmnt -n -l -o TARGET 2>/dev/null | awk -v root="$real/" 'index($0, root) == 1' | sort -r |
    while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
  log "removing $EXEC_ROOT (the exited dockerd's run state)"
  # --one-file-system: whatever could not be unmounted is not descended into.
  rm -rf --one-file-system "$EXEC_ROOT" 2>/dev/null || log "could not remove all of $EXEC_ROOT; starting anyway"
}

# start_daemon: launch dockerd in its own session and wait for it; returns wait_for_engine's code
# (0 up, 2 exited, 1 no answer in time).
start_daemon() {
  local launcher pid="" rc=0
  # A pid file of this launch only: a fixed name could be read before this launch wrote it,
  # and give the pid of an earlier launch (long dead: "exited" at once, with nothing in the log).
  launcher="$(mktemp "$LOG_DIR/dockerd.launcher.XXXXXX")" || die -c 3 "could not create a file in $LOG_DIR (dockerd's launcher pid)"
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  log "starting dockerd ${DAEMON_ARGS[*]:-} (log: $LOG_FILE)"
  # setsid: own session so the daemon outlives this shell; the inner shell records its pid
  # (setsid may fork). The lock fd is not passed on. `unshare` (private daemon) execs dockerd
  # without forking: the pid stays the same.
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$launcher" ${LAUNCH[@]+"${LAUNCH[@]}"} dockerd "${DAEMON_ARGS[@]}" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  disown 2>/dev/null || true
  # The file is empty until the inner shell ran: on a loaded machine that can take a while.
  local deadline=$(( $(date +%s) + 10 ))
  while (( $(date +%s) < deadline )); do
    [[ -s "$launcher" ]] && { pid="$(cat "$launcher")"; break; }
    sleep 0.05
  done
  rm -f "$launcher"
  [[ -n "$pid" ]] || log "dockerd's launcher did not record its pid within 10s; waiting for the socket only"
  wait_for_engine "$pid" || rc=$?
  return "$rc"
}

# wait_for_running PID: a daemon is alive but does not answer yet (starting, or busy): wait for
# it, or stop with its log tail.
wait_for_running() {
  wait_for_engine "$1" && report_and_exit
  log_tail
  die -c 3 "Docker could not be reached: dockerd pid $1 does not answer on $SOCKET; see $LOG_FILE (or its own log), stop it and rerun"
}

running="$(dockerd_pids | head -n1)"
if [[ -n "$running" ]]; then
  log "dockerd pid $running is running but not answering yet; waiting up to ${START_TIMEOUT}s"
  wait_for_running "$running"
fi

clear_stale_state
t="$(now_ms)"
rc=0; start_daemon || rc=$?
if [[ $rc == 2 ]]; then
  # It exited during its start. Once, with the whole run state of the earlier daemon cleared: a
  # machine restored from a snapshot can hold more of it than the files named above.
  first="$(last_error)"
  log_tail
  # Unless another engine started meanwhile (outside this script's lock: a service manager): its
  # run state is not stale, so wait for it as above instead of clearing anything.
  running="$(dockerd_pids | head -n1)"
  if [[ -n "$running" ]]; then
    log "dockerd exited during its start ($first), and dockerd pid $running now runs; waiting up to ${START_TIMEOUT}s for it"
    wait_for_running "$running"
  fi
  log "dockerd exited during its start ($first); clearing its run state and starting it once more"
  clear_exec_root
  clear_stale_state
  rc=0; start_daemon || rc=$?
fi
case $rc in
  0) log "dockerd up in $(format_ms $(( $(now_ms) - t )))"; report_and_exit ;;
  2) log_tail; die -c 3 "Docker could not be started: dockerd exited ($(last_error)); see $LOG_FILE" ;;
  *) log_tail; die -c 3 "Docker could not be started: no answer on $SOCKET within ${START_TIMEOUT}s; see $LOG_FILE" ;;
esac

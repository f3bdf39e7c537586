# shellcheck shell=bash
# scripts/lib.sh — small helpers sourced by the other setup scripts.
#
# Why: every setup script (ensure-temporal, ensure-docker, ensure-node-deps,
# .ci/run, test.sh ...) needs the same logging, error and path conventions.
# Logs always go to stderr so that a script's stdout can carry a machine-
# readable result (e.g. ensure-temporal.sh prints only TEMPORAL_ADDRESS=...).
#
# Usage:   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides:
#   log MSG...          "[ragomics] MSG" on stderr
#   warn MSG...         "[ragomics] WARNING: MSG" on stderr
#   die [-c CODE] MSG   one-line "[ragomics] ERROR: MSG" on stderr, exit CODE (default 1)
#   step_timer NAME CMD...   runs CMD in a subshell, then logs: step "NAME" took N.Ns (returns CMD's exit code)
#   now_ms              milliseconds since the epoch
#   pid_alive PID       true when the process exists and is not a zombie
#   run_runner_module IMAGE DIR NAME MODULE ARGS...
#                       python -m MODULE ARGS in a sandboxed container of the blocks image
#                       (no network, read-only root, no capabilities, caller's uid), DIR at /data
#   blocks_image        the blocks image tag (RAGOMICS_BLOCKS_IMAGE, else $DATA_DIR/blocks-image)
#   ensure_venv DIR "BINS" "FILES" NO_PYTHON_MSG CREATING_MSG PIP_FAILED_MSG -- PIP_ARGS...
#                       a project-local venv at DIR, (re)created only when FILES or the Python
#                       version changed (hash stamp) or one of BINS is missing
#   PROJECT_ROOT        the package: the checkout, or the installed package (parent of scripts/)
#   DATA_DIR            runtime state (db files, logs, pids): $RAGOMICS_DATA_DIR, else
#                       $PROJECT_ROOT/.data in a checkout, else $RAGOMICS_HOME/data (installed)
#   TOOLS_DIR           installed tools (temporal venv, go bin): $RAGOMICS_TOOLS_DIR, else
#                       $PROJECT_ROOT/.tools in a checkout, else $RAGOMICS_HOME/tools (installed)
#   RAGOMICS_INSTALLED  1 when PROJECT_ROOT lies under a node_modules folder (an installed
#                       package, often read-only), else 0; the same rule as
#                       activities/executors/repo-root.ts, which the CLI also passes on as
#                       RAGOMICS_DATA_DIR / RAGOMICS_TOOLS_DIR
#   PATH                gets /usr/local/sbin, /usr/sbin, /sbin appended when missing (dockerd, debootstrap)
#
# Env:
#   RAGOMICS_DATA_DIR   overrides DATA_DIR
#   RAGOMICS_TOOLS_DIR  overrides TOOLS_DIR (used by tests of the install path)
#   RAGOMICS_HOME       state of an installed package (default ~/.ragomics)
#   RAGOMICS_QUIET=1    silences log (not warn/die)

if [[ -z "${_RAGOMICS_LIB_SH:-}" ]]; then
_RAGOMICS_LIB_SH=1

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# An installed package (npm install -g) is replaced on upgrade and may be read-only: its state
# lives in the user's RAGOMICS_HOME instead of beside the code.
if [[ "/$PROJECT_ROOT/" == */node_modules/* ]]; then
  RAGOMICS_INSTALLED=1
  DATA_DIR="${RAGOMICS_DATA_DIR:-${RAGOMICS_HOME:-$HOME/.ragomics}/data}"
  TOOLS_DIR="${RAGOMICS_TOOLS_DIR:-${RAGOMICS_HOME:-$HOME/.ragomics}/tools}"
else
  RAGOMICS_INSTALLED=0
  DATA_DIR="${RAGOMICS_DATA_DIR:-$PROJECT_ROOT/.data}"
  TOOLS_DIR="${RAGOMICS_TOOLS_DIR:-$PROJECT_ROOT/.tools}"
fi
export PROJECT_ROOT DATA_DIR TOOLS_DIR RAGOMICS_INSTALLED

# dockerd and debootstrap live in /usr/sbin, which a non-login PATH may lack.
for _d in /usr/local/sbin /usr/sbin /sbin; do
  [[ ":$PATH:" == *":$_d:"* ]] || PATH="$PATH:$_d"
done
unset _d
export PATH

log() {
  [[ "${RAGOMICS_QUIET:-0}" == 1 ]] && return 0
  printf '[ragomics] %s\n' "$*" >&2
}

warn() {
  printf '[ragomics] WARNING: %s\n' "$*" >&2
}

# die [-c CODE] MESSAGE...
die() {
  local code=1
  if [[ "${1:-}" == "-c" ]]; then code="$2"; shift 2; fi
  printf '[ragomics] ERROR: %s\n' "$*" >&2
  exit "$code"
}

# run_runner_module IMAGE DIR NAME MODULE ARGS...: how the dataset scripts write files with the
# blocks image's Python (the same file whatever Python the host has). Output goes to stderr;
# returns the container's exit code.
run_runner_module() {
  local image="$1" dir="$2" name="$3"
  shift 3
  docker run --rm --name "$name-$$" \
    --network none --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    --user "$(id -u):$(id -g)" \
    -v "$dir:/data" \
    --entrypoint /opt/ragomics/bin/python \
    "$image" -m "$@" >&2
}

# generator_image PYTHON_CHECK: the blocks image tag the dataset scripts run (built if missing),
# after checking that the engine answers (exit 3 if not) and that the image's Python runs
# PYTHON_CHECK (an import of the generator); prints the tag.
generator_image() {
  local check="$1" tag
  timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die -c 3 "Docker engine not reachable: run scripts/ensure-docker.sh"
  tag="$(bash "$PROJECT_ROOT/scripts/build-image.sh")" || die "the blocks image could not be built (see above)"
  docker run --rm --network none --entrypoint /opt/ragomics/bin/python "$tag" -c "$check" 2>/dev/null \
    || die "$tag cannot run \`$check\`; rebuild it with scripts/build-image.sh"
  echo "$tag"
}

now_ms() {
  # EPOCHREALTIME is bash >= 5; fall back to date.
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t="${EPOCHREALTIME/[.,]/}"
    echo "${t:0:${#t}-3}"
  else
    date +%s%3N
  fi
}

# pid_alive PID: the process exists and is not a zombie (an exited child nobody has reaped yet,
# e.g. under a non-reaping init). Judged from /proc/PID/stat, never from its command line:
# /proc/PID/cmdline reads empty for a moment while a process execs, so a launcher shell caught
# becoming the daemon it starts would read as gone (seen: 1 of 200 launches of
# `bash -c 'echo $$ >f; exec dockerd --version'`, read once as soon as f held the pid).
pid_alive() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  # The state follows the command name, which may itself hold spaces and parentheses.
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat%% *}" != Z ]]
}

# format_ms MS -> "12.3s"
format_ms() {
  local ms="$1"
  printf '%d.%ds' "$((ms / 1000))" "$(((ms % 1000) / 100))"
}

# step_timer NAME CMD... : run CMD, log how long it took, return its status.
# CMD runs in a subshell with errexit on (a plain `CMD || rc=$?` would switch
# errexit off inside shell functions), so it cannot change the caller's
# variables; run such things outside step_timer.
step_timer() {
  local name="$1"; shift
  local start rc=0 had_e=0
  [[ $- == *e* ]] && had_e=1
  start="$(now_ms)"
  set +e
  ( set -e; "$@" )
  rc=$?
  [[ $had_e == 1 ]] && set -e
  local took
  took="$(format_ms $(( $(now_ms) - start )))"
  if [[ $rc -eq 0 ]]; then
    printf '[ragomics] step "%s" took %s\n' "$name" "$took" >&2
  else
    printf '[ragomics] step "%s" FAILED (exit %d) after %s\n' "$name" "$rc" "$took" >&2
  fi
  return "$rc"
}

fi

# blocks_image: the blocks image scripts run: RAGOMICS_BLOCKS_IMAGE, else the tag
# scripts/build-image.sh recorded in $DATA_DIR/blocks-image (empty when never
# built). The TypeScript side reads the same two (activities/executors/blocks-image.ts).
blocks_image() {
  if [[ -n "${RAGOMICS_BLOCKS_IMAGE:-}" ]]; then echo "$RAGOMICS_BLOCKS_IMAGE"; return; fi
  cat "$DATA_DIR/blocks-image" 2>/dev/null || true
}

# ensure_venv DIR "BINS" "FILES" NO_PYTHON_MSG CREATING_MSG PIP_FAILED_MSG -- PIP_ARGS...
# The one venv set-up of ensure-python-tools.sh and ensure-local-python.sh. Does nothing when
# DIR/bin holds every one of BINS (space-separated names) and DIR/.ragomics-stamp equals the
# stamp: the first 16 hex of the sha256 of FILES' contents (space-separated paths, concatenated
# in order), "-", and python3's major.minor. Otherwise logs CREATING_MSG, deletes DIR, creates
# the venv, runs `pip install --quiet PIP_ARGS...` in it (its output on stderr) and writes the
# stamp. Prints nothing on stdout (each caller prints its own result line). Fails through die
# with exit code 3: NO_PYTHON_MSG when python3 is missing (checked before anything runs it),
# "python3 -m venv failed; ..." when venv is, PIP_FAILED_MSG when pip fails.
ensure_venv() {
  local dir="$1" bins="$2" files="$3" no_python="$4" creating="$5" pip_failed="$6"
  shift 6
  [[ "${1:-}" == "--" ]] && shift
  command -v python3 >/dev/null || die -c 3 "$no_python"
  local want b fresh=1
  # shellcheck disable=SC2086  # FILES: space-separated paths (the project's, without spaces)
  want="$(cat $files | sha256sum | cut -c1-16)-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  for b in $bins; do [[ -x "$dir/bin/$b" ]] || fresh=0; done
  [[ "$(cat "$dir/.ragomics-stamp" 2>/dev/null)" == "$want" ]] || fresh=0
  [[ $fresh == 1 ]] && return 0
  log "$creating"
  rm -rf "$dir"
  python3 -m venv "$dir" || die -c 3 "python3 -m venv failed; install python3-venv"
  "$dir/bin/pip" install --quiet "$@" >&2 || die -c 3 "$pip_failed"
  echo "$want" > "$dir/.ragomics-stamp"
}

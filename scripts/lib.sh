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
#   run_runner_module IMAGE DIR NAME MODULE ARGS...
#                       python -m MODULE ARGS in a sandboxed container of the blocks image
#                       (no network, read-only root, no capabilities, caller's uid), DIR at /data
#   blocks_image        the blocks image tag (RAGOMICS_BLOCKS_IMAGE, else $DATA_DIR/blocks-image)
#   PROJECT_ROOT        the checkout (parent of scripts/)
#   DATA_DIR            ${RAGOMICS_DATA_DIR:-$PROJECT_ROOT/.data}   (runtime state: db files, logs, pids)
#   TOOLS_DIR           ${RAGOMICS_TOOLS_DIR:-$PROJECT_ROOT/.tools} (installed tools: temporal venv, go bin)
#   PATH                gets /usr/local/sbin, /usr/sbin, /sbin appended when missing (dockerd, debootstrap)
#
# Env:
#   RAGOMICS_DATA_DIR   overrides DATA_DIR
#   RAGOMICS_TOOLS_DIR  overrides TOOLS_DIR (used by tests of the install path)
#   RAGOMICS_QUIET=1    silences log (not warn/die)

if [[ -z "${_RAGOMICS_LIB_SH:-}" ]]; then
_RAGOMICS_LIB_SH=1

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${RAGOMICS_DATA_DIR:-$PROJECT_ROOT/.data}"
TOOLS_DIR="${RAGOMICS_TOOLS_DIR:-$PROJECT_ROOT/.tools}"
export PROJECT_ROOT DATA_DIR TOOLS_DIR

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

now_ms() {
  # EPOCHREALTIME is bash >= 5; fall back to date.
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t="${EPOCHREALTIME/[.,]/}"
    echo "${t:0:${#t}-3}"
  else
    date +%s%3N
  fi
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

#!/usr/bin/env bash
# scripts/stop-temporal.sh — stop the Temporal dev server that
# scripts/ensure-temporal.sh started (found through its pid file).
#
# Why: tests and developers need to restart the server (e.g. to check that a
# tree survives a restart, or to apply new dynamic config). Only the process
# in the pid file is signalled, never "whatever listens on 7233": a server
# somebody else started is left alone. The SQLite DB is kept.
#
# Sends SIGTERM, waits up to RAGOMICS_TEMPORAL_STOP_TIMEOUT (20) seconds for
# the process to exit, then SIGKILL. Exit 0 when no server of ours is left
# running (also when none was running), 3 if it could not be stopped.
#
# Env:
#   RAGOMICS_DATA_DIR                 see lib.sh; pid file $DATA_DIR/temporal/server.pid
#   RAGOMICS_TEMPORAL_STOP_TIMEOUT    seconds to wait after SIGTERM (20)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TDIR="$DATA_DIR/temporal"
PID_FILE="$TDIR/server.pid"
TIMEOUT="${RAGOMICS_TEMPORAL_STOP_TIMEOUT:-20}"

pid="$(cat "$PID_FILE" 2>/dev/null || true)"
if [[ -z "$pid" ]]; then
  log "no temporal server pid file ($PID_FILE); nothing to stop"
  exit 0
fi
# Only signal it if it is still a temporal dev server on our DB (pids get reused).
if ! pid_alive "$pid" || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--db-filename $TDIR/ragomics.db"; then
  log "pid $pid is not a running temporal server on $TDIR/ragomics.db; removing stale $PID_FILE"
  rm -f "$PID_FILE"
  exit 0
fi

start="$(now_ms)"
log "stopping temporal server pid $pid"
kill -TERM "$pid" 2>/dev/null || true
deadline=$(( $(date +%s) + TIMEOUT ))
while pid_alive "$pid"; do
  if (( $(date +%s) >= deadline )); then
    warn "temporal server pid $pid still running after ${TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
    pid_alive "$pid" && die -c 3 "could not stop temporal server pid $pid"
    break
  fi
  sleep 0.1
done
rm -f "$PID_FILE"
log "temporal server stopped in $(format_ms $(( $(now_ms) - start )))"

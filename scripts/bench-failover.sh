#!/usr/bin/env bash
# scripts/bench-failover.sh — the failover benchmark (bench/failover.ts) on this machine: starts
# two private Temporal dev servers of its own (free ports, own SQLite DBs under
# $DATA_DIR/bench-failover/, the project's dev-server settings), one for the failover runs and a
# quiet one, with Prometheus metrics, for counting the writes, runs the bench against them, then
# stops both and deletes their data. The shared server (7233) is never touched.
#
# Usage: scripts/bench-failover.sh [ARGS...]   ARGS go to dist/bench/failover.js, e.g.
#        --heartbeats 5,6,8,10,30 --sticky 10,2 --reps 3 --intervals 1,2,4
# Against another server (the production stack), run the bench itself:
#   RAGOMICS_BENCH_COMMAND="bash scripts/bench-failover.sh${*:+ $*}" node dist/bench/failover.js --address HOST:PORT --metrics-url http://HOST:PORT/metrics
# Exit 3 when a server cannot be started (one line says why).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

npx tsc -p tsconfig.json
node scripts/bundle-workflows.js >&2
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"

BASE="$DATA_DIR/bench-failover"
stop_servers() {
  local d
  for d in "$BASE/failover" "$BASE/cost"; do
    [[ -d "$d" ]] && RAGOMICS_DATA_DIR="$d" bash scripts/stop-temporal.sh >&2 || true
  done
  rm -rf "$BASE"
}
trap stop_servers EXIT
mkdir -p "$BASE"

fport="$(free_port)"; fui="$(free_port)"
RAGOMICS_DATA_DIR="$BASE/failover" TEMPORAL_PORT="$fport" TEMPORAL_UI_PORT="$fui" \
  bash scripts/ensure-temporal.sh >/dev/null || die -c 3 "could not start the failover runs' dev server on port $fport (see above)"
cport="$(free_port)"; cui="$(free_port)"; cmetrics="$(free_port)"
RAGOMICS_DATA_DIR="$BASE/cost" TEMPORAL_PORT="$cport" TEMPORAL_UI_PORT="$cui" RAGOMICS_TEMPORAL_METRICS_PORT="$cmetrics" \
  bash scripts/ensure-temporal.sh >/dev/null || die -c 3 "could not start the write-counting dev server on port $cport (see above)"
log "failover runs on 127.0.0.1:$fport; writes counted on 127.0.0.1:$cport (metrics :$cmetrics)"

RAGOMICS_BENCH_COMMAND="bash scripts/bench-failover.sh${*:+ $*}" node dist/bench/failover.js --address "127.0.0.1:$fport" --cost-address "127.0.0.1:$cport" \
  --metrics-url "http://127.0.0.1:$cmetrics/metrics" "$@"

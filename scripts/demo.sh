#!/usr/bin/env bash
# The README's main command (`npm run demo`): runs a real analysis tree on real data, from a
# fresh clone. It installs what is missing and says what it is doing, with each step's time:
#   Docker engine → blocks image (in the background, while:) npm packages → build → CLI bundle → workflow
#   bundle → Temporal dev server (persistent SQLite under .data/temporal) → (waiting for the
#   image) → dataset → a worker (Docker executor) → the tree of examples/pbmc-tree.yaml → status
#   with output paths, timeline.html and report.html.
#
# Env: SPEC (another tree spec; default examples/pbmc-tree.yaml), COHORT ("SAMPLES CELLS": make
# that synthetic cohort with scripts/make-synthetic-cohort.sh instead of fetching the PBMC dataset;
# set by scripts/demo-cohort.sh), TREE_ID (run under this id instead of the spec's), TEMPORAL_ADDRESS
# (use a running server instead of starting the dev server), RAGOMICS_TASK_QUEUE (default
# ragomics-demo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

SPEC="${SPEC:-examples/pbmc-tree.yaml}"
export RAGOMICS_TASK_QUEUE="${RAGOMICS_TASK_QUEUE:-ragomics-demo}"

mkdir -p "$DATA_DIR/demo"
# The engine first (seconds), then the blocks image, the longest step on a new machine (a base
# image, the Python wheels, the warm-up runs), builds in the background while the npm packages,
# the build and the Temporal dev server are set up: none of those needs the image, and the
# image needs none of them. Its own time is its step line; "waiting for the blocks image" is how
# long the demo then still had to wait for it.
step_timer "Docker engine" bash scripts/ensure-docker.sh >/dev/null
# Job control on for this one job: it gets a process group of its own, so a failed or
# interrupted demo stops the whole build (the script, docker build, debootstrap), nothing else.
set -m
step_timer "blocks image (in the background)" bash scripts/build-image.sh >/dev/null &
image_pid=$!
set +m
trap 'kill -TERM -- "-$image_pid" 2>/dev/null || true' EXIT

# These three finish long before the image (about a minute against three or four on 2 cores), so
# they run at a lower CPU priority: the image, the demo's critical path, gets the cores first.
# (Not the Temporal dev server: it would keep that priority for the whole tree run.)
step_timer "npm packages" nice -n 10 bash scripts/ensure-node-deps.sh
step_timer "build" nice -n 10 npx tsc -p tsconfig.json
step_timer "CLI bundle" nice -n 10 node scripts/bundle-cli.js
step_timer "workflow bundle" nice -n 10 node scripts/bundle-workflows.js
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  addr_line="$(step_timer "Temporal dev server" bash scripts/ensure-temporal.sh)" || die -c 3 "the Temporal dev server could not be started (see above)"
  export "${addr_line?}"
fi
log "waiting for the blocks image (building since the Docker engine step)"
t_wait="$(now_ms)"
wait "$image_pid" || die "the blocks image could not be built (see above)"
trap - EXIT
log "step \"waiting for the blocks image\" took $(format_ms $(( $(now_ms) - t_wait )))"
if [[ -n "${COHORT:-}" ]]; then
  # shellcheck disable=SC2086 # COHORT is "SAMPLES CELLS", two arguments
  step_timer "synthetic cohort" bash scripts/make-synthetic-cohort.sh $COHORT
else
  step_timer "dataset" bash scripts/fetch-dataset.sh
fi
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"
export RAGOMICS_BLOCKS_IMAGE="$(blocks_image)"

worker_log="$DATA_DIR/demo/worker.log"
log "starting a worker (Docker executor, task queue $RAGOMICS_TASK_QUEUE); log: $worker_log"
node bin/ragomics.js worker --executor docker --warm 2 >"$worker_log" 2>&1 &
worker_pid=$!
# SIGTERM is the graceful stop: running nodes get the grace period, no container is left behind.
trap 'kill -TERM "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true' EXIT

log "running $SPEC"
rc=0
if [[ -n "${TREE_ID:-}" ]]; then
  tree_id="$TREE_ID"
  step_timer "tree run" node bin/ragomics.js run "$SPEC" --id "$TREE_ID" || rc=$?
else
  tree_id="$(node -e "const y=require('yaml');const fs=require('fs');const s=y.parse(fs.readFileSync(process.argv[1],'utf8'));console.log(s.id)" "$SPEC")"
  step_timer "tree run" node bin/ragomics.js run "$SPEC" || rc=$?
fi
if [[ "$rc" -le 1 && -n "$tree_id" && "$tree_id" != "undefined" ]]; then
  t_report="$(now_ms)"
  echo
  log "nodes and their outputs:"
  node bin/ragomics.js status "$tree_id" || true
  echo
  log "where the outputs are (each node's published .h5ad; figures next to it under figures/):"
  node bin/ragomics.js status "$tree_id" --json | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      for (const n of JSON.parse(s).nodes) console.log(`  ${n.id.padEnd(16)} ${n.state.padEnd(10)} ${n.outputPath ?? "-"}`);
    });' || true
  node bin/ragomics.js timeline "$tree_id" --format html -o "$DATA_DIR/demo/timeline.html" && log "timeline: $DATA_DIR/demo/timeline.html"
  node bin/ragomics.js report "$tree_id" -o "$DATA_DIR/demo/report.html" && log "report:   $DATA_DIR/demo/report.html (figures included)"
  log "step \"status, timeline and report\" took $(format_ms $(( $(now_ms) - t_report )))"
  log "Temporal Web UI: http://localhost:${TEMPORAL_UI_PORT:-8233}/namespaces/default/workflows?query=WorkflowId%3D%22$tree_id%22"
fi
exit "$rc"

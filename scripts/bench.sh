#!/usr/bin/env bash
# Runs the benchmarks whose figures are in BENCHMARKS.md (`npm run bench`). Sets up what they
# need like the tests do; each benchmark prints medians and ratios measured side by side.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"
bash scripts/ensure-node-deps.sh
npx tsc -p tsconfig.json
node scripts/bundle-workflows.js
bash scripts/ensure-docker.sh >/dev/null
bash scripts/build-image.sh
export "$(bash scripts/ensure-local-python.sh)"
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then export "$(bash scripts/ensure-temporal.sh)"; fi
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== executor overhead";      node dist/bench/executor-overhead.js "${ROUNDS:-15}"
echo "== scheduling handoff";     node dist/bench/handoff-latency.js 30
echo "== parallel speed-up";      node dist/bench/parallel-speedup.js "${REPEATS:-3}"

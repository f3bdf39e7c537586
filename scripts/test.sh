#!/usr/bin/env bash
# The README's test command (`npm test`): sets up everything the tests need on a fresh machine,
# then typechecks, lints and runs the whole suite with node's built-in test runner against a
# real Temporal dev server and a real Docker engine.
#
# Steps: npm packages → build (tsc) → catalog check → lint → Docker engine → blocks image →
# dataset → local executor's Python venv → Temporal dev server → workflow bundle (built once for all test files) → node --test.
#
# Env: TEMPORAL_ADDRESS (use this server instead of starting one), RAGOMICS_TEST_FILES (a subset
# of compiled test files, e.g. "dist/test/unit"), RAGOMICS_TEST_CONCURRENCY (test files run at
# once; default 1 — the machine has 2 cores and the tests start containers).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

step_timer "npm packages" bash scripts/ensure-node-deps.sh
step_timer "typecheck + build" npx tsc -p tsconfig.json
step_timer "block catalog up to date" node scripts/gen-catalog.js --check
step_timer "lint" npx eslint --max-warnings 0 .
step_timer "test tools" bash scripts/ensure-test-tools.sh
step_timer "Docker engine" bash scripts/ensure-docker.sh
step_timer "blocks image" bash scripts/build-image.sh
step_timer "dataset" bash scripts/fetch-dataset.sh
py_line="$(bash scripts/ensure-local-python.sh)" || die -c 3 "the local executor's Python environment could not be created (see above)"
export "${py_line?}"
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  addr_line="$(bash scripts/ensure-temporal.sh)" || die -c 3 "Temporal dev server could not be started (see above)"
  export "${addr_line?}"
fi
log "Temporal at $TEMPORAL_ADDRESS"
step_timer "workflow bundle" node scripts/bundle-workflows.js
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"
export RAGOMICS_BLOCKS_IMAGE="${RAGOMICS_BLOCKS_IMAGE:-$(cat "$DATA_DIR/blocks-image")}"

# Only *.test.js files: on Node 20 a directory argument would also run every helper and fixture
# under dist/test/ as a test file.
mapfile -t files < <(find ${RAGOMICS_TEST_FILES:-dist/test} -name '*.test.js' | sort)
# Fresh reliability figures for this run only.
rm -rf "${RAGOMICS_RELIABILITY_DIR:-$DATA_DIR/reliability}"
out="$DATA_DIR/test-output.tap"
rc=0
node --test --test-concurrency="${RAGOMICS_TEST_CONCURRENCY:-1}" "${files[@]}" | tee "$out" || rc=$?
node scripts/print-reliability-summary.js || true
# Every skipped test with its reason; under CI=true a skip not allowed in CI fails the run.
node scripts/report-skips.js "$out" || { ((rc != 0)) || rc=1; }
# The runner's own summary again, as the last line: "N passed, N failed".
pass="$(grep -E '^# pass [0-9]+' "$out" | tail -1 | awk '{print $3}')"
fail="$(grep -E '^# fail [0-9]+' "$out" | tail -1 | awk '{print $3}')"
skip="$(grep -E '^# skipped [0-9]+' "$out" | tail -1 | awk '{print $3}')"
echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
exit "$rc"

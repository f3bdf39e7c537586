#!/usr/bin/env bash
# The README's test command (`npm test`): sets up everything the tests need on a fresh machine,
# then typechecks, lints and runs the whole suite with node's built-in test runner against a
# real Temporal dev server and a real Docker engine.
#
# Steps: Temporal server build (Go, in the background) · npm packages → build (tsc) → catalog and runner-contract checks → records check
# (scripts/render-records.js) → Python lint + unit tests (ruff, pytest: scripts/check-python.sh) → lint →
# Docker engine → blocks image → dataset → production stack images (scripts/stack.sh images) → local executor's Python venv → Temporal dev server → workflow
# bundle (built once for all test files) → crate validator (when test/crate.test.ts runs) → node --test → after-suite checks (reliability cases expected
# for the files that ran; no leftover containers).
#
# Env: TEMPORAL_ADDRESS (use this server instead of starting one), RAGOMICS_TEST_FILES (a subset
# of compiled test files, e.g. "dist/test/unit"), RAGOMICS_TEST_CONCURRENCY (test files run at
# once; default 1 — the machine has 2 cores and the tests start containers).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

# The production stack's Temporal server is built from the Go module proxy: about 5 minutes on a
# machine that never built it (cached under .tools/ afterwards). It needs nothing the next steps
# make, so it runs beside them and is waited for before the stack images are built.
# Only when the stack's tests run: the whole suite, or a subset naming them.
needs_stack=0
if [[ -z "${RAGOMICS_TEST_FILES:-}" || "${RAGOMICS_TEST_FILES}" == *stack* ]]; then needs_stack=1; fi
server_build_log="$DATA_DIR/temporal-server-build.log"
mkdir -p "$DATA_DIR"
if [[ $needs_stack == 1 ]]; then
  ( step_timer "Temporal server build (beside the next steps)" bash scripts/ensure-temporal-server.sh ) >"$server_build_log" 2>&1 &
  server_build_pid=$!
else
  log "production stack: not built (RAGOMICS_TEST_FILES names no stack test)"
fi
step_timer "npm packages" bash scripts/ensure-node-deps.sh
step_timer "typecheck + build" npx tsc -p tsconfig.json
step_timer "block catalog up to date" node scripts/gen-catalog.js --check
step_timer "runner contract up to date" node scripts/gen-runner-contract.js --check
step_timer "RELIABILITY.md and BENCHMARKS.md rendered from docs/records" node scripts/render-records.js --check
step_timer "python lint + unit" bash scripts/check-python.sh
step_timer "lint" npx eslint --max-warnings 0 .
step_timer "test tools" bash scripts/ensure-test-tools.sh
step_timer "Docker engine" bash scripts/ensure-docker.sh
step_timer "blocks image" bash scripts/build-image.sh
step_timer "dataset" bash scripts/fetch-dataset.sh
if [[ $needs_stack == 1 ]]; then
  server_build_rc=0
  wait "$server_build_pid" || server_build_rc=$?
  cat "$server_build_log" >&2
  [[ $server_build_rc == 0 ]] || die -c 3 "the Temporal server build failed (log above: $server_build_log)"
  # The stack's local images, built once here so no test file pays for them (the stack tests
  # bring the stack up themselves with scripts/stack.sh up).
  step_timer "production stack images" bash scripts/stack.sh images >/dev/null
fi
py_line="$(bash scripts/ensure-local-python.sh)" || die -c 3 "the local executor's Python environment could not be created (see above)"
export "${py_line?}"
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  addr_line="$(bash scripts/ensure-temporal.sh)" || die -c 3 "Temporal dev server could not be started (see above)"
  export "${addr_line?}"
fi
log "Temporal at $TEMPORAL_ADDRESS"
step_timer "workflow bundle" node scripts/bundle-workflows.js
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"
export RAGOMICS_BLOCKS_IMAGE="$(blocks_image)"

# Only *.test.js files: on Node 20 a directory argument would also run every helper and fixture
# under dist/test/ as a test file.
# A compiled test whose source is gone (tsc never deletes from dist/) is not run.
mapfile -t files < <(find ${RAGOMICS_TEST_FILES:-dist/test} -name '*.test.js' | sort | while read -r f; do
  src="${f#dist/}"; if [[ -f "${src%.js}.ts" ]]; then echo "$f"; else echo "[ragomics] not run: $f (no ${src%.js}.ts)" >&2; fi
done)
# The run-crate test validates crates with rocrate-validator (PyPI roc-validator, in a venv under
# .tools/; a hash stamp makes this a no-op when warm): only when that test is in the run.
if printf '%s\n' "${files[@]}" | grep -q '/crate\.test\.js$'; then
  step_timer "crate validator" bash scripts/ensure-crate-validator.sh >/dev/null || die -c 3 "the crate validator could not be installed (see above)"
fi
# Fresh reliability figures for this run only.
rm -rf "${RAGOMICS_RELIABILITY_DIR:-$DATA_DIR/reliability}"
out="$DATA_DIR/test-output.tap"
# Every container the suite's workers start is labelled with this run's scope, so the leftover
# check below counts the suite's own containers only (see activities/executors/docker-spec.ts).
export RAGOMICS_CONTAINER_SCOPE="${RAGOMICS_CONTAINER_SCOPE:-suite-$$-$(date +%s)}"
rc=0
# TAP explicitly: report-skips.js and the summary below read it (newer Node versions default to another reporter).
node --test --test-reporter=tap --test-concurrency="${RAGOMICS_TEST_CONCURRENCY:-1}" "${files[@]}" | tee "$out" || rc=$?
# After-suite checks: scripts, not test files, so no test depends on the order files run in.
# The reliability check expects the cases of the reliability files that ran (none: nothing).
after_rc=0
node scripts/check-reliability.js --ran "${files[@]}" || after_rc=1
# Every skipped test with its reason; under CI=true a skip not allowed in CI fails the run.
node scripts/report-skips.js "$out" || after_rc=1
# Leftover containers: only after the whole suite (a subset may run beside other test runs on
# the same engine); RAGOMICS_CHECK_LEFTOVERS=1/0 forces it on/off.
check_leftovers="${RAGOMICS_CHECK_LEFTOVERS:-}"
if [[ -z "$check_leftovers" ]]; then if [[ -z "${RAGOMICS_TEST_FILES:-}" ]]; then check_leftovers=1; else check_leftovers=0; fi; fi
if [[ "$check_leftovers" == 1 ]]; then
  node scripts/check-no-leftover-containers.js || after_rc=1
else
  echo "== leftover containers: not checked (a subset ran: RAGOMICS_TEST_FILES; RAGOMICS_CHECK_LEFTOVERS=1 to check)"
fi
# The runner's own summary again, as the last line: "N passed, N failed".
pass="$(grep -E '^# pass [0-9]+' "$out" | tail -1 | awk '{print $3}')"
fail="$(grep -E '^# fail [0-9]+' "$out" | tail -1 | awk '{print $3}')"
skip="$(grep -E '^# skipped [0-9]+' "$out" | tail -1 | awk '{print $3}')"
echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped; after-suite checks $([[ $after_rc == 0 ]] && echo passed || echo FAILED)"
if [[ $rc != 0 ]]; then exit "$rc"; fi
exit "$after_rc"

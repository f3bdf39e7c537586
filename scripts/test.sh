#!/usr/bin/env bash
# The README's test command (`npm test`): sets up everything the tests need on a fresh machine,
# then typechecks, lints and runs the whole suite with node's built-in test runner against a
# real Temporal dev server and a real Docker engine.
#
# Steps: Temporal server build (Go, in the background at the lowest CPU priority) · Python lint +
# unit tests (ruff, pytest: scripts/check-python.sh, in the background) · npm packages →
# build (tsc, then the CLI bundle) → catalog and runner-contract checks → records check (scripts/render-records.js) →
# lint → Docker engine → blocks
# image → dataset → production stack images (scripts/stack.sh images, in the background at the
# lowest CPU priority) · local executor's Python venv → Temporal dev server → workflow bundle (built
# once for all test files) → crate validator (when test/crate.test.ts runs) → wait for the Python
# checks (none of the suite runs when they failed) → node --test, part 1:
# every file but the stack's → wait for the stack images → node --test, part 2: the files that
# bring the production stack up (they import test/helpers/stack) → after-suite checks (reliability
# cases expected for the files that ran; no leftover containers).
#
# Why two parts: on a machine that never built them, the Temporal server (Go, ~550 s of 2 cores)
# and the stack images (~270 s) are the longest set-up steps, and only three test files need them.
# Built at nice 19 (and the image builds' RUN steps at the lowest CPU weight) during the first part,
# they mostly use the CPU the suite leaves idle while it waits on timers and containers (about half
# of 2 cores, sampled over a CI run). nice only ranks them below this machine's other processes:
# work inside containers (the blocks image's build, the blocks a test runs) sits in the engine's
# own cgroups and still shares the CPU with them evenly. On a machine that has them both builds
# are no-ops of a few seconds.
#
# Env: TEMPORAL_ADDRESS (use this server instead of starting one), RAGOMICS_TEST_FILES (a subset
# of compiled test files, e.g. "dist/test/unit"), RAGOMICS_TEST_CONCURRENCY (test files run at
# once; default 1 — the machine has 2 cores and the tests start containers).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

# The production stack's Temporal server is built from the Go module proxy: about 5 minutes on a
# machine that never built it (cached under .tools/ afterwards). It needs nothing the next steps
# make, so it runs beside them, at nice 19 so that it slows their host processes little (not the
# blocks image's build, whose RUN steps run in containers: see above), and is waited for before
# the suite's second part (the stack images step below waits for its lock).
# Only when the stack's tests run: the whole suite, or a subset naming them.
needs_stack=0
if [[ -z "${RAGOMICS_TEST_FILES:-}" || "${RAGOMICS_TEST_FILES}" == *stack* ]]; then needs_stack=1; fi
server_build_log="$DATA_DIR/temporal-server-build.log"
stack_images_log="$DATA_DIR/stack-images-build.log"
mkdir -p "$DATA_DIR"
if [[ $needs_stack == 1 ]]; then
  ( step_timer "Temporal server build (beside the next steps, nice 19)" nice -n 19 bash scripts/ensure-temporal-server.sh ) >"$server_build_log" 2>&1 &
  server_build_pid=$!
else
  log "production stack: not built (RAGOMICS_TEST_FILES names no stack test)"
fi
# ruff and pytest on the Python runtime need neither node, Docker nor an image: they run beside
# the set-up below instead of before it (on a new machine they were 565 s of a serial 1,240 s set-up,
# 2026-12-05, most of it one core of pytest), and the suite waits for them before its first part,
# failing as before when they fail. Not niced: they are on the path to the first test file.
python_check_log="$DATA_DIR/python-check.log"
( step_timer "python lint + unit (beside the set-up)" bash scripts/check-python.sh ) >"$python_check_log" 2>&1 &
python_check_pid=$!
step_timer "npm packages" bash scripts/ensure-node-deps.sh
step_timer "typecheck + build" npx tsc -p tsconfig.json
step_timer "CLI bundle" node scripts/bundle-cli.js
step_timer "block catalog up to date" node scripts/gen-catalog.js --check
step_timer "runner contract up to date" node scripts/gen-runner-contract.js --check
step_timer "RELIABILITY.md and BENCHMARKS.md rendered from docs/records" node scripts/render-records.js --check
step_timer "lint" npx eslint --max-warnings 0 .
step_timer "test tools" bash scripts/ensure-test-tools.sh
step_timer "Docker engine" bash scripts/ensure-docker.sh
step_timer "blocks image" bash scripts/build-image.sh
step_timer "dataset" bash scripts/fetch-dataset.sh
if [[ $needs_stack == 1 ]]; then
  # The stack's local images, built once here so no test file pays for them (the stack tests
  # bring the stack up themselves with scripts/stack.sh up). They need the Debian base the blocks
  # image step just made, and the Temporal server build above (its lock is waited for).
  # RAGOMICS_BUILD_CPU_SHARES: their RUN steps run in the engine's containers, which nice does
  # not reach (scripts/build-stack-images.sh).
  ( step_timer "production stack images (beside the suite's first part, nice 19)" \
      env RAGOMICS_BUILD_CPU_SHARES=2 nice -n 19 bash scripts/stack.sh images >/dev/null ) >"$stack_images_log" 2>&1 &
  stack_images_pid=$!
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
# Part 2: the files that bring the production stack up; part 1: every other file.
first=() second=()
for f in "${files[@]}"; do
  if grep -qE "helpers/stack['\"]" "$f"; then second+=("$f"); else first+=("$f"); fi
done
# The Python checks started beside the set-up: their output now, and no test file runs when they failed.
python_t0="$(now_ms)"
python_rc=0
wait "$python_check_pid" || python_rc=$?
cat "$python_check_log" >&2
log "python lint + unit: the suite waited $(format_ms $(( $(now_ms) - python_t0 ))) for it after the set-up"
((python_rc == 0)) || die -c "$python_rc" "python lint + unit failed (output above, also in $python_check_log)"
rc=0
: >"$out"
# run_part FILE...: one node --test run, its TAP appended to $out. TAP explicitly: report-skips.js
# and the summary below read it (newer Node versions default to another reporter). Never called
# without files: node --test without any would look for test files by itself.
run_part() {
  node --test --test-reporter=tap --test-concurrency="${RAGOMICS_TEST_CONCURRENCY:-1}" "$@" | tee -a "$out" || rc=$?
}
if ((${#first[@]} > 0)); then run_part "${first[@]}"; fi
if [[ $needs_stack == 1 ]]; then
  # wait_build NAME PID LOG: waits for a background build, prints its log, says how long the suite
  # waited for it; returns its exit code.
  wait_build() {
    local name="$1" pid="$2" blog="$3" t0 brc=0
    t0="$(now_ms)"
    wait "$pid" || brc=$?
    cat "$blog" >&2
    log "$name: the suite waited $(format_ms $(( $(now_ms) - t0 ))) for it after part 1"
    return "$brc"
  }
  build_rc=0
  wait_build "Temporal server build" "$server_build_pid" "$server_build_log" || build_rc=$?
  wait_build "production stack images" "$stack_images_pid" "$stack_images_log" || build_rc=$?
fi
if ((${#second[@]} > 0)); then
  if [[ $needs_stack == 1 && $build_rc != 0 ]]; then
    echo "[ragomics] not run: ${second[*]} (the Temporal server or the production stack images could not be built: logs above, $server_build_log and $stack_images_log)" >&2
    rc=3
  else
    run_part "${second[@]}"
  fi
fi
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
# Summed over the two parts: each node --test run ends with its own "# pass N" lines.
# Only unindented lines: a test's own diagnostics are indented under it.
sum_of() { awk -v k="$1" '$0 ~ ("^# " k " [0-9]+$") { n += $3 } END { print n + 0 }' "$out"; }
pass="$(sum_of pass)"
fail="$(sum_of fail)"
skip="$(sum_of skipped)"
echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped; after-suite checks $([[ $after_rc == 0 ]] && echo passed || echo FAILED)"
if [[ $rc != 0 ]]; then exit "$rc"; fi
exit "$after_rc"

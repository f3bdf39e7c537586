#!/usr/bin/env bash
# Runs the benchmarks whose figures are in BENCHMARKS.md (`npm run bench`). Sets up what they
# need like the tests do (Docker engine, blocks image, local venv, Temporal dev server); each
# benchmark prints medians and ratios measured side by side in one run.
#
# Env: ROUNDS (5) rounds of the interleaved comparisons; ORCHESTRATION_ARGS (e.g. `--baseline DIR`:
# another checkout's worker beside this one, before/after in one run; BASELINE below sets it); CLI_ARGS
# (cli-startup's, e.g. `--baseline DIR`); WARM_FAN (200) the warm bench's fan; WARM_TREES_REPEATS (2)
# and WARM_TREES_FAN (199) the warm-trees bench's runs per tree and fan width; SCALE_NODES (10000) nodes of the
# one-tree scale run; SCALE_TREES (100) trees of 20 nodes started at once; DATA_CELLS (100000)
# cells of the synthetic dataset; ONLY=name[,name] runs only these benchmarks (orchestration,
# schedule, containers, warm-trees, data, scale, carry-state, settings, speedup, cache, cli, warm, peers; `cohort` — the 24 x 20,000-cell
# cohort of bench/cohort-scale.ts, long and disk-hungry — runs only when named, COHORT_ARGS passed to it;
# `failover` — scripts/bench-failover.sh, on two private dev servers of its own, FAILOVER_ARGS passed
# to it — also only when named; `first-run` — bench/first-run.ts, a fresh clone's `npm run demo` on a
# private Docker engine, minutes per run, FIRST_RUN_ARGS passed to it (with BASELINE set, `--baseline
# $BASELINE` is added unless FIRST_RUN_ARGS has one), needs root — also only when named (issue15
# names it); `peers` —
# bench/peers.ts: ragomics beside Prefect, Snakemake and Luigi from PyPI (scripts/ensure-peers.sh),
# PEERS_ROUNDS (3) rounds, since Prefect is slow to start). Each writes its result lines to
# .data/bench/<name>.json (bench/record.ts); scripts/render-records.js bench puts them in BENCHMARKS.md.
#
# Named sets (ONLY may mix them with single names):
#   issue15 = orchestration,containers,warm-trees,cli,warm,first-run,peers: every bench that measures
#     a goal of issue 15, so one `ONLY=issue15 npm run bench` gives every goal's before and after
#     (the first run, goal 4, adds two fresh-clone demos on private empty Docker engines: about 10
#     minutes). BENCHMARKS.md's "Targets of issue 15" table is rendered from their records.
#     Without BASELINE set, it takes BASELINE=3b9395e (the commit before issue 15's work began).
# BASELINE=REF (empty: none): scripts/bench-baseline.sh builds REF once into .data/bench/baseline-<sha>
#   (a detached git worktree, reused) and passes `--baseline DIR` to orchestration and cli, so their
#   before (REF) and after (this checkout) come from the same rounds of the same run; first-run gets
#   `--baseline REF` (a fresh clone of REF, run just before the one of HEAD).
# One run id: every bench started here gets RAGOMICS_BENCH_RUN=<UTC start>-<short commit> and
# RAGOMICS_BENCH_SET=<ONLY, or all> (bench/record.ts writes both into its record); the head of
# BENCHMARKS.md says which sections came from which run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"
bash scripts/ensure-node-deps.sh
npx tsc -p tsconfig.json
node scripts/bundle-cli.js
node scripts/bundle-workflows.js
bash scripts/ensure-docker.sh >/dev/null
bash scripts/build-image.sh
bash scripts/fetch-dataset.sh >/dev/null
export "$(bash scripts/ensure-local-python.sh)"
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then export "$(bash scripts/ensure-temporal.sh)"; fi
export RAGOMICS_WORKFLOW_BUNDLE="$PROJECT_ROOT/dist/workflow-bundle.js"
# Scratch (workspaces, specs, peers' work folders: everything the benches make with mkdtemp) goes
# in the data dir, beside where a worker keeps its workspace by default (.data/workspace), not in
# the system's /tmp (RAGOMICS_BENCH_TMPDIR overrides): what a node's file work costs depends on
# where it is. On the machine of BENCHMARKS.md one file or folder create took 0.5-0.7 ms in /tmp
# and 0.02-0.3 ms under .data (same ext4 disk; measured by hand, 2026-11-29). first-run keeps
# /var/tmp: it stands in for a new machine.
export TMPDIR="${RAGOMICS_BENCH_TMPDIR:-$DATA_DIR/bench-tmp}"
mkdir -p "$TMPDIR"
ROUNDS="${ROUNDS:-5}"
# Named sets, expanded into ONLY's names (see the header).
ISSUE15_SET="orchestration,containers,warm-trees,cli,warm,first-run,peers"
ISSUE15_BEFORE="3b9395e"
SET_NAMES="${ONLY:-all}"
if [[ ",${ONLY:-}," == *",issue15,"* ]]; then
  ONLY="${ONLY//issue15/$ISSUE15_SET}"
  if [[ -z "${BASELINE+set}" ]]; then BASELINE="$ISSUE15_BEFORE"; fi
fi
wanted() { [[ -z "${ONLY:-}" || ",$ONLY," == *",$1,"* ]]; }
export RAGOMICS_BENCH_RUN="${RAGOMICS_BENCH_RUN:-$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD)}"
export RAGOMICS_BENCH_SET="$SET_NAMES${BASELINE:+, BASELINE=$BASELINE}"
CLI_ARGS="${CLI_ARGS:-}"
FIRST_RUN_ARGS="${FIRST_RUN_ARGS:-}"
if [[ -n "${BASELINE:-}" && "$FIRST_RUN_ARGS" != *--baseline* ]]; then FIRST_RUN_ARGS="$FIRST_RUN_ARGS --baseline $BASELINE"; fi
if [[ -n "${BASELINE:-}" ]] && { wanted orchestration || wanted cli; }; then
  baseline_dir="$(bash scripts/bench-baseline.sh "$BASELINE")"
  if [[ "${ORCHESTRATION_ARGS:-}" != *--baseline* ]]; then ORCHESTRATION_ARGS="${ORCHESTRATION_ARGS:-} --baseline $baseline_dir"; fi
  if [[ "$CLI_ARGS" != *--baseline* ]]; then CLI_ARGS="$CLI_ARGS --baseline $baseline_dir"; fi
fi
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== run $RAGOMICS_BENCH_RUN (ONLY=$RAGOMICS_BENCH_SET); scratch and workspaces in $TMPDIR"
echo "== temporal: $("${TEMPORAL_CLI:-$(bash scripts/ensure-temporal.sh --cli-only | cut -d= -f2)}" --version); docker $(docker version --format '{{.Server.Version}}'); node $(node --version)"
if wanted orchestration; then echo "== 1. orchestration overhead"; node dist/bench/orchestration-overhead.js "$ROUNDS" 30 200 10 ${ORCHESTRATION_ARGS:-}; fi
if wanted schedule; then echo "== 2. schedule quality"; node dist/bench/schedule-quality.js "$ROUNDS"; fi
if wanted containers; then echo "== 3. containers"; node dist/bench/container-cost.js "$ROUNDS" --local-warm; fi
if wanted warm-trees; then echo "== 3b. trees cold vs warm containers"; node dist/bench/warm-trees.js --repeats "${WARM_TREES_REPEATS:-2}" --fan "${WARM_TREES_FAN:-199}"; fi
if wanted data; then echo "== 5. data passing"; node dist/bench/data-passing.js --cells "${DATA_CELLS:-100000}"; fi
if wanted scale; then echo "== 4. scale"; node dist/bench/scale.js "${SCALE_NODES:-10000}" "${SCALE_TREES:-100}"; fi
if wanted carry-state; then echo "== 4b. carried node state through the workspace"; node dist/bench/carry-state.js --latency; fi
if wanted settings; then echo "== server and dispatch settings, before/after"; node dist/bench/server-settings.js "${SETTINGS_ROUNDS:-3}"; fi
if [[ ",${ONLY:-}," == *",cohort,"* ]]; then echo "== 6. a cohort at scale"; node dist/bench/cohort-scale.js ${COHORT_ARGS:-}; fi
if [[ ",${ONLY:-}," == *",failover,"* ]]; then echo "== 7. failover"; bash scripts/bench-failover.sh ${FAILOVER_ARGS:-}; fi
if wanted cache; then echo "== 8. results shared across trees"; node dist/bench/cache-reuse.js; fi
if wanted cli; then echo "== 9. CLI start-up"; node dist/bench/cli-startup.js "$(( ROUNDS * 3 ))" $CLI_ARGS; fi
if wanted warm; then echo "== 10. warm runtimes (local executor)"; node dist/bench/warm-chain.js "$ROUNDS" --fan "${WARM_FAN:-200}"; fi
if wanted peers; then
  echo "== 11. peers side by side"
  PEERS_VENV_BIN="$(bash scripts/ensure-peers.sh)" node dist/bench/peers.js "${PEERS_ROUNDS:-3}"
fi
if wanted speedup; then echo "== the seed's parallel speed-up"; node dist/bench/parallel-speedup.js "${REPEATS:-3}"; fi
# Last: it needs root and the network (two fresh clones' demos), so a failure of it (set -e ends
# the run) leaves every other bench of the run measured.
if [[ ",${ONLY:-}," == *",first-run,"* ]]; then echo "== 12. first run: npm run demo on a new machine"; node dist/bench/first-run.js $FIRST_RUN_ARGS; fi
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== run $RAGOMICS_BENCH_RUN: results in .data/bench/<name>.json; into BENCHMARKS.md with: node scripts/render-records.js bench (then commit docs/records/bench/ and BENCHMARKS.md)"

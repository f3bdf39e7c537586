#!/usr/bin/env bash
# `npm run demo:cohort`: the cohort of examples/cohort.yaml from a fresh clone, in one command.
# The same path as `npm run demo` (scripts/demo.sh: npm packages, build, Docker, blocks image,
# Temporal dev server, a worker with the Docker executor, the run, status grouped by sample,
# timeline.html and report.html under .data/demo/), with the PBMC download replaced by the
# synthetic cohort the spec reads (scripts/make-synthetic-cohort.sh 8 3000; skipped when its
# sample sheet is there). Env as for demo.sh (TREE_ID, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SPEC=examples/cohort.yaml COHORT="8 3000" exec bash scripts/demo.sh

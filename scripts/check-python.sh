#!/usr/bin/env bash
# Lints (ruff) and unit-tests (pytest) the blocks runtime, blocks/runtime/ragomics_runner, with
# the pinned tools of scripts/ensure-python-tools.sh. Config: blocks/pyproject.toml. The unit
# tests need neither Docker nor the scanpy stack; the runner end to end is proved by the node
# tests (blocks-image, runner-timings, executors).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

bin="$(bash scripts/ensure-python-tools.sh)"
"$bin/ruff" check blocks
# --durations: the slowest tests in the log (.data/python-check.log under npm test), since this
# step can be on the suite's path (it waited 361 s for it after a warm set-up, 2026-12-05).
"$bin/python" -m pytest -q -p no:cacheprovider --durations=15 blocks/tests

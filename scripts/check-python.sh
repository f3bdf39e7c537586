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
"$bin/python" -m pytest -q -p no:cacheprovider blocks/tests

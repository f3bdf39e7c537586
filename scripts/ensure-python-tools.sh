#!/usr/bin/env bash
# Provides the Python lint and test tools of the blocks runtime (ruff, pytest; see
# blocks/requirements-dev.txt) in a project-local venv at .tools/python-tools, apart from the
# local executor's venv (.tools/blocks-venv), which must hold exactly the image's packages.
# The tools venv also gets the image's packages (blocks/requirements.txt): the science checks of
# the cohort blocks (blocks/tests/test_cohort_science.py) run the scanpy stack in-process.
# Skipped when the venv exists and was built from the same pins (hash stamp; lib.sh ensure_venv).
# Prints the venv's bin folder on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/python-tools"
dev="$PROJECT_ROOT/blocks/requirements-dev.txt"
pins="$PROJECT_ROOT/blocks/requirements.txt"
ensure_venv "$venv" "ruff pytest" "$dev $pins" \
  "python3 is not installed; the Python checks need CPython 3.11 (apt-get install python3 python3-venv)" \
  "creating the Python tools venv in $venv (blocks/requirements-dev.txt)" \
  "pip install -r blocks/requirements-dev.txt -r blocks/requirements.txt failed (see above)" \
  -- --disable-pip-version-check --only-binary=:all: -r "$dev" -r "$pins" -c "$pins"
echo "$venv/bin"

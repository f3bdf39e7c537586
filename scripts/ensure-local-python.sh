#!/usr/bin/env bash
# Provides the Python environment of the local executor (`--executor local`, the seed's
# "process" executor): a venv at .tools/blocks-venv with exactly the packages of the blocks image
# (blocks/requirements.txt, wheels only), so a block runs the same in a subprocess as in Docker.
# Skipped when the venv exists and was built from the same requirements (hash stamp; lib.sh
# ensure_venv). Prints RAGOMICS_PYTHON=<path> on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/blocks-venv"
req="$PROJECT_ROOT/blocks/requirements.txt"
ensure_venv "$venv" "python" "$req" \
  "python3 is not installed; the local executor needs CPython 3.11 (apt-get install python3 python3-venv)" \
  "creating the local executor's Python environment in $venv (packages of blocks/requirements.txt)" \
  "pip install -r blocks/requirements.txt failed (see above)" \
  -- --only-binary=:all: -r "$req"
echo "RAGOMICS_PYTHON=$venv/bin/python"

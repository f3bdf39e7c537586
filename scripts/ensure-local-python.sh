#!/usr/bin/env bash
# Provides the Python environment of the local executor (`--executor local`, the seed's
# "process" executor): a venv at .tools/blocks-venv with exactly the packages of the blocks image
# (blocks/requirements.txt, wheels only), so a block runs the same in a subprocess as in Docker.
# Skipped when the venv exists and was built from the same requirements (hash stamp).
# Prints RAGOMICS_PYTHON=<path> on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/blocks-venv"
req="$PROJECT_ROOT/blocks/requirements.txt"
want="$(sha256sum "$req" | cut -c1-16)-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ -x "$venv/bin/python" && "$(cat "$venv/.ragomics-stamp" 2>/dev/null)" == "$want" ]]; then
  echo "RAGOMICS_PYTHON=$venv/bin/python"
  exit 0
fi
command -v python3 >/dev/null || die -c 3 "python3 is not installed; the local executor needs CPython 3.11 (apt-get install python3 python3-venv)"
log "creating the local executor's Python environment in $venv (packages of blocks/requirements.txt)"
rm -rf "$venv"
python3 -m venv "$venv" || die -c 3 "python3 -m venv failed; install python3-venv"
"$venv/bin/pip" install --quiet --only-binary=:all: -r "$req" >&2 || die -c 3 "pip install -r blocks/requirements.txt failed (see above)"
echo "$want" > "$venv/.ragomics-stamp"
echo "RAGOMICS_PYTHON=$venv/bin/python"

#!/usr/bin/env bash
# Provides the Python lint and test tools of the blocks runtime (ruff, pytest; see
# blocks/requirements-dev.txt) in a project-local venv at .tools/python-tools, apart from the
# local executor's venv (.tools/blocks-venv), which must hold exactly the image's packages.
# The tools venv also gets the image's packages (blocks/requirements.txt): the science checks of
# the cohort blocks (blocks/tests/test_cohort_science.py) run the scanpy stack in-process.
# Skipped when the venv exists and was built from the same pins (hash stamp).
# Prints the venv's bin folder on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/python-tools"
dev="$PROJECT_ROOT/blocks/requirements-dev.txt"
pins="$PROJECT_ROOT/blocks/requirements.txt"
want="$(cat "$dev" "$pins" | sha256sum | cut -c1-16)-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ -x "$venv/bin/ruff" && -x "$venv/bin/pytest" && "$(cat "$venv/.ragomics-stamp" 2>/dev/null)" == "$want" ]]; then
  echo "$venv/bin"
  exit 0
fi
command -v python3 >/dev/null || die -c 3 "python3 is not installed; the Python checks need CPython 3.11 (apt-get install python3 python3-venv)"
log "creating the Python tools venv in $venv (blocks/requirements-dev.txt)"
rm -rf "$venv"
python3 -m venv "$venv" || die -c 3 "python3 -m venv failed; install python3-venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: -r "$dev" -r "$pins" -c "$pins" >&2 \
  || die -c 3 "pip install -r blocks/requirements-dev.txt -r blocks/requirements.txt failed (see above)"
echo "$want" > "$venv/.ragomics-stamp"
echo "$venv/bin"

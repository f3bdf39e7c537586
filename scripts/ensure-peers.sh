#!/usr/bin/env bash
# Provides the peer engines of bench/peers.ts (Prefect 3, Snakemake, Luigi; pins in
# bench/peers/requirements.txt) in a venv of their own at $TOOLS_DIR/peers-venv, from PyPI.
# Apart from the project's venvs on purpose: these engines pull in hundreds of packages (Prefect:
# FastAPI, SQLAlchemy, ...) that the blocks runtime must not see.
# Skipped when the venv exists and was built from the same pins (hash stamp; lib.sh ensure_venv).
# Prints the venv's bin folder on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/peers-venv"
pins="$PROJECT_ROOT/bench/peers/requirements.txt"
ensure_venv "$venv" "prefect snakemake luigi" "$pins" \
  "python3 is not installed; the peers benchmark needs CPython >= 3.11 (apt-get install python3 python3-venv)" \
  "creating the peer engines' venv in $venv (bench/peers/requirements.txt: Prefect, Snakemake, Luigi)" \
  "pip install -r bench/peers/requirements.txt failed (see above)" \
  -- --disable-pip-version-check -r "$pins"
echo "$venv/bin"

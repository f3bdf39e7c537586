#!/usr/bin/env bash
# Provides `rocrate-validator` (PyPI roc-validator, pinned in scripts/crate-validator-requirements.txt)
# in a project-local venv at $TOOLS_DIR/crate-validator, for the run-crate test (test/crate.test.ts)
# and for checking a crate by hand:
#
#   "$(scripts/ensure-crate-validator.sh)/rocrate-validator" validate -p provenance-run-crate-0.5 run.crate.zip
#
# The validator resolves a crate's JSON-LD @context over HTTP. So that validation needs no
# network, the RO-Crate 1.1 context is stored in the validator's HTTP cache at
# $TOOLS_DIR/crate-validator/http-cache (validate with `--offline --cache-path` that path): the
# context document comes from the PyPI package rocrate 0.9.0 (ro-crate-py, whose
# rocrate/data/ro-crate.jsonld is the published 1.1.0 context; later versions carry 1.2/1.3,
# which map `input`/`output` to other IRIs than the 1.1-based profiles check). The wheel is only
# downloaded, never installed (it would clash with nothing, but the venv needs none of it).
#
# Idempotent: skipped when the venv exists and was built from the same pins and Python, and the
# cache from the same package and seed script (hash stamps; lib.sh ensure_venv). Prints the venv's
# bin folder on stdout. Exit 3, one line, when Python or a package cannot be had.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$TOOLS_DIR/crate-validator"
pins="$PROJECT_ROOT/scripts/crate-validator-requirements.txt"
ensure_venv "$venv" "rocrate-validator" "$pins" \
  "python3 is not installed; the crate validator needs CPython 3.10+ (apt-get install python3 python3-venv)" \
  "creating the crate validator venv in $venv (roc-validator, scripts/crate-validator-requirements.txt)" \
  "pip install -r scripts/crate-validator-requirements.txt failed (see above)" \
  -- --disable-pip-version-check -r "$pins"

# The context package, and the stamp of what the cache was seeded from.
context_pkg="rocrate==0.9.0"
context_url="https://w3id.org/ro/crate/1.1/context"
seed="$PROJECT_ROOT/scripts/crate-validator-seed.py"
want="$context_pkg-$(sha256sum "$seed" | cut -c1-16)"
if [[ "$(cat "$venv/.contexts-stamp" 2>/dev/null)" != "$want" || ! -s "$venv/http-cache.sqlite" ]]; then
  log "storing the RO-Crate 1.1 JSON-LD context in the validator's HTTP cache (from PyPI $context_pkg)"
  rm -rf "$venv/contexts" "$venv/http-cache.sqlite"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$venv/contexts" "$context_pkg" >&2 \
    || die -c 3 "pip download $context_pkg failed (it carries the RO-Crate 1.1 context the validator needs offline; see above)"
  "$venv/bin/python" - "$venv/contexts" "$context_url" <<'PY' || die -c 3 "$context_pkg holds no RO-Crate 1.1 context (rocrate/data/ro-crate.jsonld)"
import glob, json, sys, zipfile
folder, url = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{folder}/rocrate-*.whl")[0])
data = wheel.read("rocrate/data/ro-crate.jsonld")
if json.loads(data).get("@id") != url:
    sys.exit(1)
open(f"{folder}/ro-crate-1.1.jsonld", "wb").write(data)
PY
  "$venv/bin/python" "$seed" "$venv/http-cache" "$context_url=$venv/contexts/ro-crate-1.1.jsonld" \
    || die -c 3 "could not store the RO-Crate 1.1 context in the validator's cache ($venv/http-cache.sqlite)"
  echo "$want" > "$venv/.contexts-stamp"
fi
echo "$venv/bin"

#!/usr/bin/env bash
# scripts/ensure-node-deps.sh — install the npm dependencies when they are
# missing or out of date; silent and fast (no npm call) when they are current.
#
# Why: tests, the CLI and the worker need node_modules; a fresh clone has
# none, and re-running `npm ci` on every test run costs tens of seconds (and
# would pull node_modules from under a concurrently running test).
#
# How: node_modules/.ragomics-deps-stamp holds a hash of package.json,
# package-lock.json and the Node major version. When it matches, nothing
# happens. Otherwise `npm ci` runs (or `npm install` when there is no lock
# file), then the stamp is written. A node_modules without a stamp (installed
# by hand) is adopted without reinstalling when `npm ls` finds it complete.
#
# Usage:   scripts/ensure-node-deps.sh [--force]
#   exit 0 when node_modules is current; 3 when npm fails (the message says
#   which command to run by hand). npm's own output goes to stderr.
#
# Env:
#   RAGOMICS_NPM_FLAGS   extra flags for npm ci/install (default: --no-audit --no-fund)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    *) die -c 2 "ensure-node-deps.sh: unknown argument '$arg' (use --force)" ;;
  esac
done

cd "$PROJECT_ROOT"
STAMP=node_modules/.ragomics-deps-stamp

command -v node >/dev/null 2>&1 || die -c 3 "node not found; install Node.js 20 (https://nodejs.org or apt-get install nodejs)"
command -v npm >/dev/null 2>&1 || die -c 3 "npm not found; install npm alongside Node.js 20"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die -c 3 "Node.js $(node --version) is too old; ragomics needs Node.js >= 20"

deps_hash() {
  {
    echo "node-major=$node_major"
    cat package.json
    [[ -f package-lock.json ]] && cat package-lock.json
  } | sha256sum | cut -d' ' -f1
}

want="$(deps_hash)"
if [[ $FORCE == 0 && -d node_modules && "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
  exit 0 # fast path: current
fi

# Serialize concurrent callers (two test runs in one checkout).
mkdir -p "$DATA_DIR"
exec 9>"$DATA_DIR/.node-deps.lock"
flock -w 600 9 || die -c 3 "timed out waiting for another ensure-node-deps.sh (lock $DATA_DIR/.node-deps.lock)"
want="$(deps_hash)"
if [[ $FORCE == 0 && -d node_modules && "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
  exit 0
fi

# Adopt a complete node_modules that was installed without this script.
if [[ $FORCE == 0 && -d node_modules && ! -f "$STAMP" ]] && npm ls --depth=0 >/dev/null 2>&1; then
  log "node_modules is complete (npm ls); recording it as current"
  echo "$want" >"$STAMP"
  exit 0
fi

# shellcheck disable=SC2206 # word splitting of the flags is intended
flags=(${RAGOMICS_NPM_FLAGS:---no-audit --no-fund})
if [[ -f package-lock.json ]]; then cmd=(npm ci "${flags[@]}"); else cmd=(npm install "${flags[@]}"); fi
t="$(now_ms)"
log "installing node dependencies: ${cmd[*]}"
"${cmd[@]}" </dev/null >&2 || die -c 3 "'${cmd[*]}' failed (see npm's output above); run it by hand in $PROJECT_ROOT"
# npm install may rewrite the lock file: hash again.
deps_hash >"$STAMP"
log "node dependencies installed in $(format_ms $(( $(now_ms) - t )))"

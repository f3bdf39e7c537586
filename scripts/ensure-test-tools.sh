#!/usr/bin/env bash
# Debian packages some tests use beyond the engine and the server: chromium (the timeline and
# report pages are opened in a headless browser) and docker-compose (the compose file is checked
# with `docker-compose config`). Installed when missing and running as root.
# Outside CI, when they cannot be installed, those checks skip (scripts/test.sh lists the skips).
# Under CI=true a missing tool stops the run here (exit 3): CI must verify every feature.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

in_ci() { [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; }

missing_tools() {
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
}

missing_tools
((${#missing[@]} == 0)) && exit 0
if [[ "$(id -u)" != 0 ]]; then
  in_ci && die -c 3 "CI=true and ${missing[*]} missing, but not root to install them (sudo apt-get install -y ${missing[*]})"
  warn "not root: ${missing[*]} not installed; the browser/compose checks will be skipped (sudo apt-get install -y ${missing[*]})"
  exit 0
fi
log "installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null >&2 || warn "apt-get update failed"
apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" </dev/null >&2 || warn "could not install ${missing[*]}"
missing_tools
((${#missing[@]} == 0)) && exit 0
in_ci && die -c 3 "CI=true and ${missing[*]} could not be installed (see above)"
warn "${missing[*]} still missing; those checks will be skipped"

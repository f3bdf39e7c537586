#!/usr/bin/env bash
# Debian packages some tests use beyond the engine and the server: chromium (the timeline and
# report pages are opened in a headless browser) and docker-compose (the compose file is checked
# with `docker-compose config`). Installed when missing and running as root; otherwise those
# checks skip with a notice saying so.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
((${#missing[@]} == 0)) && exit 0
if [[ "$(id -u)" != 0 ]]; then
  warn "not root: ${missing[*]} not installed; the browser/compose checks will be skipped (sudo apt-get install -y ${missing[*]})"
  exit 0
fi
log "installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null >&2 || warn "apt-get update failed"
apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" </dev/null >&2 || warn "could not install ${missing[*]}; those checks will be skipped"

#!/usr/bin/env bash
# Builds another commit of this repository as a "before" for the benches that take `--baseline DIR`
# (orchestration-overhead, cli-startup), so before and after are measured in ONE run. Prints the
# built checkout's absolute path on stdout (logs on stderr).
#
# Usage: bash scripts/bench-baseline.sh REF
#   REF: any git ref of this repository (commit, tag, branch). The checkout is a detached git
#   worktree at $DATA_DIR/bench/baseline-<short sha>, made once and reused: it is rebuilt only when
#   its `.built` stamp (written after a successful build) is missing, e.g. after an interrupted
#   build. Build: npm ci --prefer-offline, npx tsc, node scripts/bundle-workflows.js.
# Exit: 0 built (path printed); 2 REF is not a commit of this repository; 1 the build failed (its
# output is in $DIR/.build.log, the last lines repeated on stderr).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"
[[ $# -eq 1 && -n "$1" ]] || die -c 2 "usage: bash scripts/bench-baseline.sh REF (a git ref of this repository)"
sha="$(git rev-parse --verify --quiet "$1^{commit}")" || die -c 2 "BASELINE=$1: not a commit of $PROJECT_ROOT"
short="$(git rev-parse --short "$sha")"
dir="$DATA_DIR/bench/baseline-$short"
if [[ -f "$dir/.built" && "$(cat "$dir/.built")" == "$sha" ]]; then
  log "baseline $1 ($short): built checkout reused at $dir"
  echo "$dir"
  exit 0
fi
mkdir -p "$DATA_DIR/bench"
if [[ ! -d "$dir" ]]; then
  # A stale registration (the folder deleted by hand) would make `worktree add` refuse the path.
  git worktree prune
  git worktree add --detach --quiet "$dir" "$sha" >&2
elif [[ "$(git -C "$dir" rev-parse HEAD 2>/dev/null || true)" != "$sha" ]]; then
  die "$dir exists but is not a checkout of $short (remove it, then run git worktree prune)"
fi
log "baseline $1 ($short): building in $dir (npm ci, tsc, workflow bundle)"
start=$(now_ms)
if ! (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund && npx tsc -p tsconfig.json && node scripts/bundle-workflows.js) >"$dir/.build.log" 2>&1; then
  tail -n 20 "$dir/.build.log" >&2
  die "baseline $short: build failed (full output in $dir/.build.log)"
fi
echo "$sha" >"$dir/.built"
log "baseline $short built in $(( ($(now_ms) - start) / 1000 )) s"
echo "$dir"

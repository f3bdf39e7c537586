#!/usr/bin/env bash
# scripts/ensure-temporal-server.sh — build (once) the production Temporal server, its SQL schema
# tool and the Web UI server from the Go module proxy, and print the folder that holds them.
#
# Why: the production stack (docker-compose.yml) runs the real Temporal server on PostgreSQL, not
# the dev server. No container registry can be reached from these machines, so the official
# images cannot be pulled; the Go module proxy can, and it serves the server's own module. The
# build is slow (measured cold here: about 5 minutes on 2 busy cores; docs/deploy.md), so it is cached under
# $TOOLS_DIR/temporal-server-<versions>/, keyed by the pinned versions, and done at most once per
# machine (a lock serialises concurrent callers). scripts/build-stack-images.sh copies the result
# into the local images.
#
# Output folder (stdout: TEMPORAL_SERVER_DIR=<folder>):
#   bin/temporal-server       go.temporal.io/server/cmd/server           @ $TEMPORAL_SERVER_VERSION
#   bin/temporal-sql-tool     go.temporal.io/server/cmd/tools/sql        @ $TEMPORAL_SERVER_VERSION
#   bin/temporal-ui-server    github.com/temporalio/ui-server/v2         @ $TEMPORAL_UI_VERSION
#   schema/postgresql/        the module's own SQL schemas (v12: temporal + visibility)
#   ui-config/                the UI server module's own config (base.yaml, docker.yaml: the
#                             env-driven template the official temporalio/ui image uses)
#   build.json                versions, Go version, seconds each build took, cold or cached
#
# Exit 3 with one line when Go is missing or too old, or a build fails (its output is above).
# Env: RAGOMICS_TOOLS_DIR (see lib.sh); GOFLAGS, GOPROXY as usual for the go command.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Pinned: v1.32.0 is the newest server whose go.mod asks for no newer Go than this machine kind
# has (1.26.8; v1.32.2 needs 1.26.10) and has no replace directive, so `go install` takes it.
# The UI server likewise: v2.56.1 and later (v2.58.1 included) ask for go 1.26.10, so
# `go install` refuses them here ("requires go >= 1.26.10"); v2.55.0 asks for 1.26.5 and is the
# newest this Go builds (the dev CLI 1.9.1 embeds UI 2.54.1). Its module zip carries the built
# Web UI (ui/assets/local, embedded into the binary), so no Node build is needed.
TEMPORAL_SERVER_VERSION=v1.32.0
TEMPORAL_UI_VERSION=v2.55.0
MIN_GO=1.26.8

OUT="$TOOLS_DIR/temporal-server-$TEMPORAL_SERVER_VERSION-ui-$TEMPORAL_UI_VERSION"

complete() {
  [[ -x "$OUT/bin/temporal-server" && -x "$OUT/bin/temporal-sql-tool" && -x "$OUT/bin/temporal-ui-server" \
     && -d "$OUT/schema/postgresql/v12" && -f "$OUT/ui-config/docker.yaml" && -f "$OUT/build.json" ]]
}

if complete; then
  echo "TEMPORAL_SERVER_DIR=$OUT"
  exit 0
fi

command -v go >/dev/null 2>&1 || die -c 3 "no Go toolchain: the Temporal server is built with go $MIN_GO or newer (install Go, or set PATH)"
go_version="$(go env GOVERSION)"; go_version="${go_version#go}"
if [[ "$(printf '%s\n%s\n' "$MIN_GO" "$go_version" | sort -V | head -1)" != "$MIN_GO" ]]; then
  die -c 3 "go $go_version is too old: Temporal server $TEMPORAL_SERVER_VERSION needs go $MIN_GO or newer"
fi

mkdir -p "$TOOLS_DIR"
exec 8>"$TOOLS_DIR/.temporal-server-build.lock"
log "waiting for the Temporal server build lock ($TOOLS_DIR/.temporal-server-build.lock)"
flock -w 3600 8 || die -c 3 "timed out waiting for another Temporal server build (lock $TOOLS_DIR/.temporal-server-build.lock)"
if complete; then exec 8>&-; echo "TEMPORAL_SERVER_DIR=$OUT"; exit 0; fi

tmp="$OUT.partial"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
# -trimpath and -s -w: no local paths and no debug tables in the binaries (smaller, and the
# link step, a large part of a warm rebuild, is shorter). -buildvcs=false: no VCS stamping from a
# module zip.
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
cold="$( [[ -d "$(go env GOMODCACHE)/go.temporal.io/server@$TEMPORAL_SERVER_VERSION" ]] && echo false || echo true)"

# The UI server first: it is small, so a bad pin fails in seconds rather than after the server.
t1="$(now_ms)"
log "building Temporal Web UI server $TEMPORAL_UI_VERSION with go install"
GOBIN="$tmp/bin" go install -ldflags='-s -w' "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION" >&2 \
  || die -c 3 "go install github.com/temporalio/ui-server/v2 $TEMPORAL_UI_VERSION failed (see above)"
ui_ms=$(( $(now_ms) - t1 ))
mv "$tmp/bin/server" "$tmp/bin/temporal-ui-server"
uisrc="$(go env GOMODCACHE)/github.com/temporalio/ui-server/v2@$TEMPORAL_UI_VERSION/config"
[[ -f "$uisrc/docker.yaml" ]] || die -c 3 "the module cache has no $uisrc/docker.yaml (the UI server's config template)"
mkdir -p "$tmp/ui-config"
cp "$uisrc/base.yaml" "$uisrc/docker.yaml" "$tmp/ui-config/"
chmod -R u+w "$tmp/ui-config"

t0="$(now_ms)"
log "building Temporal server $TEMPORAL_SERVER_VERSION and its SQL tool with go install (cold: about 5 minutes on 2 cores)"
# One go install for both commands: the packages they share compile once.
GOBIN="$tmp/bin" go install -ldflags='-s -w' \
  "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
  "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION" >&2 \
  || die -c 3 "go install go.temporal.io/server $TEMPORAL_SERVER_VERSION failed (see above)"
server_ms=$(( $(now_ms) - t0 ))
mv "$tmp/bin/server" "$tmp/bin/temporal-server"
mv "$tmp/bin/sql" "$tmp/bin/temporal-sql-tool"

modsrc="$(go env GOMODCACHE)/go.temporal.io/server@$TEMPORAL_SERVER_VERSION/schema/postgresql"
[[ -d "$modsrc/v12" ]] || die -c 3 "the module cache has no $modsrc/v12 (the schemas the SQL tool applies)"
mkdir -p "$tmp/schema"
cp -R "$modsrc" "$tmp/schema/postgresql"
chmod -R u+w "$tmp/schema"

"$tmp/bin/temporal-server" --version >/dev/null 2>&1 || die -c 3 "the built temporal-server does not run ($tmp/bin/temporal-server --version)"
cat >"$tmp/build.json" <<JSON
{"temporalServer":"$TEMPORAL_SERVER_VERSION","uiServer":"$TEMPORAL_UI_VERSION","go":"$go_version","cold":$cold,"serverBuildSeconds":$((server_ms / 1000)),"uiBuildSeconds":$((ui_ms / 1000)),"builtAt":"$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
JSON
rm -rf "$OUT"
mv "$tmp" "$OUT"
exec 8>&-
log "Temporal server, SQL tool and UI server built in $(format_ms $(( $(now_ms) - t1 ))) (server $(format_ms $server_ms), UI $(format_ms $ui_ms); cold module cache: $cold)"
echo "TEMPORAL_SERVER_DIR=$OUT"

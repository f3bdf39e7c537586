#!/usr/bin/env bash
# scripts/build-stack-images.sh — build the local images of the production stack
# (docker-compose.yml) from the project's Debian base, for machines where the official images
# cannot be pulled; print the compose variables that select them.
#
# Why: no container registry is reachable here, so postgres, temporalio/server,
# temporalio/admin-tools, temporalio/ui and node:20 cannot be pulled. Each local image takes the
# same environment and paths as the official one it replaces (images/*/Dockerfile say how), so
# the same compose file runs with either; compose keeps the official names as its defaults.
#
# Images (each tagged <repo>:<hash12>, a content hash of its inputs, and <repo>:local; a build is
# skipped when the hash tag exists, so a second run takes about a second):
#   ragomics/postgresql       images/postgresql: Debian's postgresql-15 (apt, inside the build)
#   ragomics/temporal-server  images/temporal-server: temporal-server, temporal-sql-tool and the
#                             schemas from scripts/ensure-temporal-server.sh, the `temporal` CLI
#                             from scripts/ensure-temporal.sh --cli-only (server and admin-tools)
#   ragomics/temporal-ui      images/temporal-ui: temporal-ui-server and its config template
#   ragomics/node20           images/node: this machine's node binary and npm (the NODE_IMAGE of
#                             workers/Dockerfile)
#   ragomics/worker           workers/Dockerfile FROM ragomics/node20: npm ci, tsc, the workflow
#                             bundle, inside the build (the recipe machines with a registry use;
#                             its context: only the files the Dockerfile copies)
#
# Inputs hashed: the base image's id, the image's folder under images/, and per image: the
# Temporal build folder's build.json (the folder name carries the pinned versions and is never
# changed in place), the CLI's version line and size, the node and npm versions, the worker's
# build context (the files the Dockerfile copies, plus the machine's CA certificates for npm
# behind a TLS-intercepting proxy).
#
# stdout, one per line (scripts/stack.sh reads them; also written to $DATA_DIR/stack-images.env):
#   POSTGRESQL_IMAGE=ragomics/postgresql:<hash12>
#   TEMPORAL_SERVER_IMAGE=ragomics/temporal-server:<hash12>
#   TEMPORAL_ADMINTOOLS_IMAGE=ragomics/temporal-server:<hash12>
#   TEMPORAL_UI_IMAGE=ragomics/temporal-ui:<hash12>
#   RAGOMICS_WORKER_IMAGE=ragomics/worker:<hash12>
# stderr: progress, and each build's time ("built ragomics/x:<hash> in 41.2s"); build logs in
# $DATA_DIR/logs/stack-image-<name>.log. Exit 3 with one line when the engine, Go, the Temporal
# build or a docker build fails (the build log's tail above it).
#
# Disk: each checkout removes the tags it built itself beyond the newest KEEP_OLD_IMAGES (2) older
# ones per image (listed in $DATA_DIR/stack-images.built), never another checkout's.
#
# Env: RAGOMICS_DATA_DIR, RAGOMICS_TOOLS_DIR (lib.sh); FORCE=1 rebuilds every image;
# KEEP_OLD_IMAGES (2); RAGOMICS_BUILD_CPU_SHARES (unset: the engine's default weight, 1024) the CPU
# weight of the builds' RUN steps, which run in the engine's containers where the caller's nice
# does not reach (scripts/test.sh gives 2, the lowest, when it builds beside the suite).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || die -c 3 "no Docker engine answers: run scripts/ensure-docker.sh"

server_line="$(bash scripts/ensure-temporal-server.sh)" || exit 3
SERVER_DIR="${server_line#TEMPORAL_SERVER_DIR=}"
cli_line="$(bash scripts/ensure-temporal.sh --cli-only)" || die -c 3 "the temporal CLI could not be installed (see above)"
CLI="${cli_line#TEMPORAL_CLI=}"
BASE="$(bash scripts/build-base-image.sh)" || die -c 3 "the Debian base image could not be built (see above)"
BASE_ID="$(docker image inspect --format '{{.Id}}' "$BASE")"

mkdir -p "$DATA_DIR/logs"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ragomics-stack-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# hash_dir DIR: one sha256 over the relative names and contents of DIR's files.
hash_dir() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-64
}

# build_image NAME CONTEXT KEY HASHED_DIR [BUILD_ARGS...]: builds CONTEXT (a folder holding a
# Dockerfile) as ragomics/NAME:<hash12 of the base id, KEY and HASHED_DIR's files> unless that
# tag exists; tags it ragomics/NAME:local too; prints the hash tag. HASHED_DIR is the context
# itself, or its small part (the image's folder) when KEY identifies the large binaries in it.
build_image() {
  local name="$1" ctx="$2" key="$3" hashed="$4"; shift 4
  local hash tag log t0
  hash="$(printf '%s\n%s\n%s\n' "$BASE_ID" "$key" "$(hash_dir "$hashed")" | sha256sum | cut -c1-12)"
  tag="ragomics/$name:$hash"
  if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    docker tag "$tag" "ragomics/$name:local"
    log "$tag is up to date"
    echo "$tag"
    return
  fi
  log="$DATA_DIR/logs/stack-image-$name.log"
  log "building $tag (log: $log)"
  t0="$(now_ms)"
  # --network host: the apt and npm steps need only the machine's own route to the Debian
  # mirror and the npm registry (Docker's default bridge may not have one). Classic builder:
  # the engine here is Docker 20.10 without the buildx plugin.
  local weight=()
  if [[ -n "${RAGOMICS_BUILD_CPU_SHARES:-}" ]]; then weight=(--cpu-shares "$RAGOMICS_BUILD_CPU_SHARES"); fi
  if ! DOCKER_BUILDKIT=0 docker build --network host "${weight[@]}" --build-arg "BASE_IMAGE=$BASE" "$@" \
        -t "$tag" -t "ragomics/$name:local" "$ctx" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die -c 3 "building $tag failed (full log: $log)"
  fi
  log "built $tag in $(format_ms $(( $(now_ms) - t0 ))) ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
  forget_old_tags "$name" "$tag"
  echo "$tag"
}

# forget_old_tags NAME TAG: keeps disk bounded. Every tag this checkout built is listed in
# $DATA_DIR/stack-images.built; of NAME's, all but TAG and the $KEEP_OLD_IMAGES (default 2) newest
# before it are removed with a plain `docker rmi` (an image a container uses stays). Tags other
# checkouts built on the same engine are never touched (they may be about to start them).
forget_old_tags() {
  local name="$1" tag="$2" list="$DATA_DIR/stack-images.built" old
  touch "$list"
  { grep -vxF "$tag" "$list" || true; echo "$tag"; } >"$list.$$" && mv -f "$list.$$" "$list"
  grep "^ragomics/$name:" "$list" | grep -vxF "$tag" | head -n "-${KEEP_OLD_IMAGES:-2}" | while IFS= read -r old; do
    if docker rmi "$old" >/dev/null 2>&1; then
      log "removed old image $old"
      { grep -vxF "$old" "$list" || true; } >"$list.$$" && mv -f "$list.$$" "$list"
    fi
  done
}

# --- PostgreSQL ------------------------------------------------------------------------------
pg="$(build_image postgresql images/postgresql "postgresql-15" images/postgresql)"

# --- Temporal server + admin tools -----------------------------------------------------------
ctx="$WORK/temporal-server"
cp -R images/temporal-server "$ctx"
mkdir -p "$ctx/bin"
# Hard links where the filesystem allows (same device), copies otherwise: the binaries are large.
for b in temporal-server temporal-sql-tool; do ln "$SERVER_DIR/bin/$b" "$ctx/bin/$b" 2>/dev/null || cp "$SERVER_DIR/bin/$b" "$ctx/bin/$b"; done
ln "$CLI" "$ctx/bin/temporal" 2>/dev/null || cp "$CLI" "$ctx/bin/temporal"
cp -R "$SERVER_DIR/schema" "$ctx/schema"
# The binaries and schemas are identified by what pins them (the build folder is named for the
# versions and never changed in place; hashing 400 MB of binaries on every run would cost more).
server_key="$(basename "$SERVER_DIR") $(cat "$SERVER_DIR/build.json") $("$CLI" --version) $(stat -c %s "$CLI")"
server="$(build_image temporal-server "$ctx" "$server_key" images/temporal-server)"

# --- Web UI ----------------------------------------------------------------------------------
ctx="$WORK/temporal-ui"
cp -R images/temporal-ui "$ctx"
mkdir -p "$ctx/bin"
ln "$SERVER_DIR/bin/temporal-ui-server" "$ctx/bin/temporal-ui-server" 2>/dev/null || cp "$SERVER_DIR/bin/temporal-ui-server" "$ctx/bin/"
cp -R "$SERVER_DIR/ui-config" "$ctx/ui-config"
ui="$(build_image temporal-ui "$ctx" "$(basename "$SERVER_DIR") $(cat "$SERVER_DIR/build.json")" images/temporal-ui)"

# --- Node 20 base ----------------------------------------------------------------------------
node_bin="$(command -v node)" || die -c 3 "no node on PATH: the worker image's Node base copies this machine's Node 20"
node_version="$(node --version)"
[[ "$node_version" == v20.* ]] || die -c 3 "node $node_version on PATH: the worker image needs Node 20 (the version workers/Dockerfile targets)"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[[ -f "$npm_dir/package.json" ]] || die -c 3 "npm's package folder not found next to $(command -v npm)"
ctx="$WORK/node"
cp -R images/node "$ctx"
cp "$(readlink -f "$node_bin")" "$ctx/node"
cp -R "$npm_dir" "$ctx/npm"
node_img="$(build_image node20 "$ctx" "node $node_version $(stat -c %s "$ctx/node") npm $(npm --version)" images/node)"

# --- worker ----------------------------------------------------------------------------------
ctx="$WORK/worker"
mkdir -p "$ctx"
# The context holds exactly what workers/Dockerfile copies (its COPY sources, read from it) and
# the Dockerfile itself, so the content hash changes only when the image would: editing tests,
# docs or this script rebuilds nothing. Files: tracked and untracked-but-not-ignored ones from
# git (a checkout), else every file (a source tarball).
mapfile -t copied < <(awk '$1 == "COPY" { for (i = 2; i < NF; i++) { if ($i ~ /^--from/) next; if ($i !~ /^--/) { sub(/\/$/, "", $i); print $i } } }' workers/Dockerfile | sort -u)
[[ ${#copied[@]} -gt 0 ]] || die -c 3 "workers/Dockerfile has no COPY line this script can read"
list_sources() {
  if git -C "$PROJECT_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$PROJECT_ROOT" ls-files -z --cached --others --exclude-standard
  else
    find . \( -path ./.git -o -path ./node_modules -o -path ./dist -o -path ./.data -o -path ./.tools \) -prune -o -type f -printf '%P\0'
  fi
}
wanted() {
  local f="$1" src
  [[ "$f" == workers/Dockerfile || "$f" == .dockerignore ]] && return 0
  case "$f" in */__pycache__/*|*.pyc) return 1 ;; esac
  for src in "${copied[@]}"; do
    [[ "$f" == "$src" || "$f" == "$src/"* ]] && return 0
  done
  return 1
}
list_sources | while IFS= read -r -d '' f; do
  if [[ -f "$f" ]] && wanted "$f"; then printf '%s\0' "$f"; fi
done | tar -C "$PROJECT_ROOT" --null -T - -cf - | tar -C "$ctx" -xf -
# npm inside the build trusts the machine's extra CA certificates (workers/Dockerfile reads
# blocks/build-ca/*.crt), as scripts/build-image.sh does for pip.
mkdir -p "$ctx/blocks/build-ca"
for crt in /usr/local/share/ca-certificates/*.crt; do
  if [[ -f "$crt" ]]; then cp "$crt" "$ctx/blocks/build-ca/"; fi
done
worker="$(build_image worker "$ctx" "$node_img" "$ctx" --build-arg "NODE_IMAGE=$node_img" -f "$ctx/workers/Dockerfile")"

lines="POSTGRESQL_IMAGE=$pg
TEMPORAL_SERVER_IMAGE=$server
TEMPORAL_ADMINTOOLS_IMAGE=$server
TEMPORAL_UI_IMAGE=$ui
RAGOMICS_WORKER_IMAGE=$worker"
tmp="$DATA_DIR/.stack-images.env.$$"
echo "$lines" >"$tmp"
mv -f "$tmp" "$DATA_DIR/stack-images.env"
echo "$lines"

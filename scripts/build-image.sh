#!/usr/bin/env bash
# Build the function-block image `ragomics/blocks:<hash12>` (also tagged `ragomics/blocks:latest`)
# and write its tag to $DATA_DIR/blocks-image (scripts/lib.sh: .data/ in a checkout,
# ~/.ragomics/data/ in an installed package; `ragomics dev` runs this script for the Docker executor).
#
# <hash12> is a content hash of the image inputs: blocks/Dockerfile, blocks/.dockerignore,
# blocks/requirements.txt, blocks/catalog.json, blocks/build-ca/README.md and the runtime tree
# blocks/runtime/**. When that
# tag exists the build is skipped (fast path: one line, well under a second).
#
# Base image: $BASE_IMAGE if set; else the public python:3.11-slim-bookworm if present locally or
# pullable within ~20 s; else ragomics/base-debian:bookworm built from Debian packages by
# scripts/build-base-image.sh.
#
# Python packages: the pinned wheels of blocks/requirements.txt are downloaded on the host (pip
# download, for CPython 3.11 manylinux x86_64) into $DATA_DIR/wheelhouse/<hash of requirements>/,
# then installed from there on the host too (pip install --target for that platform, byte-compiled
# when the host's python3 is 3.11) into $DATA_DIR/site-packages/<hash of requirements>/, which the
# Dockerfile copies into the image's venv. All of it runs in the background while the base image
# is chosen or built (debootstrap: about a minute on a new machine), so it is off the build's
# critical path, and the build itself runs no pip and needs no network (a private or bridgeless
# Docker engine builds too). When the host has no python3 with pip, or the download or install
# fails, the build's pip installs from PyPI itself (the old way).
#
# Env: BASE_IMAGE, BLOCKS_IMAGE_REPO (default ragomics/blocks), FORCE=1 (rebuild), PULL_TIMEOUT (20),
# RAGOMICS_DATA_DIR / RAGOMICS_HOME (where the tag and the build log go; see lib.sh).
# Exit 3 when the Docker engine does not answer.
#
# Usage: build-image.sh [--print-tag]   --print-tag: print the tag the inputs hash to (the image
#                                       this checkout or package runs) and exit; builds nothing
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$PROJECT_ROOT"
REPO_NAME="${BLOCKS_IMAGE_REPO:-ragomics/blocks}"
DEFAULT_BASE="python:3.11-slim-bookworm"
PULL_TIMEOUT="${PULL_TIMEOUT:-20}"
DATA="$DATA_DIR"
LOG="$DATA/logs/blocks-image-build.log"

log() { echo "[build-image] $*" >&2; }
# Own prefix for this long build's lines; exit codes as lib.sh's die (-c CODE, default 1).
die() {
  local code=1
  if [[ "${1:-}" == "-c" ]]; then code="$2"; shift 2; fi
  echo "[build-image] ERROR: $*" >&2
  exit "$code"
}
now() { date +%s.%N; }

PRINT_TAG=0
for arg in "$@"; do
  case "$arg" in
    --print-tag) PRINT_TAG=1 ;;
    *) die -c 2 "build-image.sh: unknown argument '$arg' (use --print-tag)" ;;
  esac
done
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
# time_steps: copies the classic builder's output (stdin) to stdout, adding after each Dockerfile
# step (a "Step N/M : ..." line up to the next one, or the end) a line
# "step-time:<TAB>seconds<TAB>N/M<TAB>the step's instruction" (the time includes the layer's commit).
time_steps() {
  local line step="" text="" t0="" t
  while IFS= read -r line; do
    if [[ "$line" =~ ^Step\ ([0-9]+/[0-9]+)\ :\ (.*)$ ]]; then
      t="$EPOCHREALTIME"
      [[ -n "$step" ]] && printf 'step-time:\t%s\t%s\t%s\n' "$(awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.1f", b - a }')" "$step" "$text"
      step="${BASH_REMATCH[1]}" text="${BASH_REMATCH[2]}" t0="$t"
    fi
    printf '%s\n' "$line"
  done
  [[ -n "$step" ]] && printf 'step-time:\t%s\t%s\t%s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" "$step" "$text"
  return 0
}

# --- content hash of the inputs ------------------------------------------------------------
inputs_hash() {
  (
    cd "$ROOT/blocks"
    {
      printf '%s\n' Dockerfile .dockerignore requirements.txt catalog.json build-ca/README.md
      find runtime -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '.*'
    } | LC_ALL=C sort -u | while IFS= read -r f; do
      [[ -f "$f" ]] || continue
      printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
    done | sha256sum | cut -c1-64
  )
}
HASH="$(inputs_hash)"
TAG="$REPO_NAME:${HASH:0:12}"
if [[ $PRINT_TAG == 1 ]]; then
  echo "$TAG"
  exit 0
fi

T0="$(now)"
if ! timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  die -c 3 "Docker engine not reachable: start dockerd (or set DOCKER_HOST); on Debian as root: bash $ROOT/scripts/ensure-docker.sh"
fi

mkdir -p "$DATA/logs"

write_tag() {
  local tmp="$DATA/.blocks-image.$$"
  echo "$TAG" >"$tmp"
  mv -f "$tmp" "$DATA/blocks-image"
}

# One build at a time per checkout (tests and CI may call this concurrently).
exec 9>"$DATA/.blocks-image.lock"
flock 9

existing_base="$(docker image inspect --format '{{ index .Config.Labels "org.ragomics.base-image" }}' "$TAG" 2>/dev/null || true)"
if [[ "${FORCE:-0}" != 1 && -n "$existing_base" ]] && [[ -z "${BASE_IMAGE:-}" || "$BASE_IMAGE" == "$existing_base" ]]; then
  docker tag "$TAG" "$REPO_NAME:latest" >/dev/null
  write_tag
  log "$TAG is up to date (base $existing_base; $(since "$T0"))"
  echo "$TAG"
  exit 0
fi

# --- the Python packages, downloaded and installed on the host -------------------------------
# fetch_wheels: fills $WHEELS (complete when $WHEELS/.complete exists); returns non-zero on failure.
REQ_HASH="$(sha256sum <"$ROOT/blocks/requirements.txt" | cut -c1-16)"
WHEELS="$DATA/wheelhouse/$REQ_HASH"
# The image's site-packages, installed on the host: $SITE/site-packages, complete when
# $SITE/.complete exists (kept beside it, so that the marker never reaches the image).
SITE="$DATA/site-packages/$REQ_HASH"
PIP_LOG="$DATA/logs/wheels-download.log"
# Wheels run on the base's glibc (bookworm: 2.36) and older; pip does not expand a
# manylinux_2_X --platform to older ones itself.
PLATFORMS=(--python-version 3.11 --implementation cp --abi cp311)
for v in $(seq 36 -1 17); do PLATFORMS+=(--platform "manylinux_2_${v}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
fetch_wheels() {
  [[ -f "$WHEELS/.complete" ]] && return 0
  command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || return 1
  local tmp="$WHEELS.tmp.$$"
  rm -rf "$tmp"
  python3 -m pip download --quiet --disable-pip-version-check --no-input --no-deps --only-binary=:all: \
    "${PLATFORMS[@]}" -d "$tmp" -r "$ROOT/blocks/requirements.txt" >"$PIP_LOG" 2>&1 || { rm -rf "$tmp"; return 1; }
  touch "$tmp/.complete"
  rm -rf "$WHEELS"
  mv "$tmp" "$WHEELS"
}
# install_site_packages: installs $WHEELS into $SITE (what `pip install` in the image's venv would
# put in its site-packages; one pip call, so packages sharing a top-level folder merge as in a
# venv), byte-compiled when the host's python3 is the image's 3.11 (hash-based .pyc files,
# "unchecked": valid whatever mtime the copy into the image gives the sources; the image's
# sources never change). Without that it leaves the compiling to the build. Console scripts, one C
# header and one man page (bin/, include/, share/) are left out: the runner runs `python -m`, and
# their shebangs would name the host's interpreter. Returns non-zero on failure.
install_site_packages() {
  [[ -f "$SITE/.complete" ]] && return 0
  local tmp="$SITE.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  python3 -m pip install --quiet --disable-pip-version-check --no-input --no-deps --no-index \
    --find-links "$WHEELS" --only-binary=:all: "${PLATFORMS[@]}" --no-compile \
    --target "$tmp/site-packages" -r "$ROOT/blocks/requirements.txt" >>"$PIP_LOG" 2>&1 || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp/site-packages/bin" "$tmp/site-packages/include" "$tmp/site-packages/share"
  local compiled=0
  if python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    # Tests are never imported: not compiled (the build used to compile and then delete them).
    # From inside the folder, so that -x sees paths relative to it (a data dir under a folder
    # named tests would otherwise exclude everything).
    (cd "$tmp/site-packages" && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash -x '/tests/' .) >>"$PIP_LOG" 2>&1 \
      || { rm -rf "$tmp"; return 1; }
    compiled=1
  fi
  # What the Dockerfile reads to skip pip (and compileall); stays in the image as provenance.
  printf 'installed on the host by scripts/build-image.sh from %s\ncompiled=%s\n' "${WHEELS#"$ROOT"/}" "$compiled" \
    >"$tmp/site-packages/.ragomics-host-install"
  touch "$tmp/.complete"
  rm -rf "$SITE"
  mv "$tmp" "$SITE"
  # One requirements hash is built at a time; older installs are 700 MB each.
  find "$DATA/site-packages" -mindepth 1 -maxdepth 1 ! -name "$REQ_HASH" ! -name "$REQ_HASH.tmp.*" -exec rm -rf {} + 2>/dev/null || true
}
# In the background: the download (network) and the install overlap choosing and building the base.
T_W="$(now)"
(
  if fetch_wheels; then
    log "wheels: $(find "$WHEELS" -name '*.whl' | wc -l) in ${WHEELS#"$ROOT"/} ($(since "$T_W"))"
    T_S="$(now)"
    if install_site_packages; then
      log "site-packages: installed on the host in ${SITE#"$ROOT"/} ($(since "$T_S"); $(sed -n 's/^compiled=//p' "$SITE/site-packages/.ragomics-host-install" | sed 's/1/byte-compiled/;s/0/the build byte-compiles it/'))"
    else
      log "site-packages: the install on the host failed (log: $PIP_LOG); the build installs them"
    fi
  else
    log "wheels: host download failed or no pip on the host (log: $PIP_LOG); the build downloads them"
  fi
) &
WHEELS_PID=$!


# --- choose the base -------------------------------------------------------------------------
T1="$(now)"
if [[ -n "${BASE_IMAGE:-}" ]]; then
  BASE="$BASE_IMAGE"
  docker image inspect "$BASE" >/dev/null 2>&1 || timeout "$PULL_TIMEOUT" docker pull -q "$BASE" >/dev/null \
    || die "BASE_IMAGE=$BASE is neither present locally nor pullable"
  log "base: $BASE (from \$BASE_IMAGE)"
elif docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1; then
  BASE="$DEFAULT_BASE"
  log "base: $BASE (present locally)"
elif timeout "$PULL_TIMEOUT" docker pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
  BASE="$DEFAULT_BASE"
  log "base: $BASE (pulled in $(since "$T1"))"
else
  log "base: $DEFAULT_BASE cannot be pulled (no registry); building the Debian base"
  BASE="$(bash "$ROOT/scripts/build-base-image.sh")" || die "building the Debian base image failed"
  log "base: $BASE ($(since "$T1"))"
fi

wait "$WHEELS_PID" || true

# --- build context: the inputs, the host's site-packages (else the machine's extra CA
#     certificates, for pip in the build) ------------------------------------------------------
CTX="$(mktemp -d "${TMPDIR:-/tmp}/ragomics-blocks-ctx.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
(cd "$ROOT/blocks" && cp -a Dockerfile .dockerignore requirements.txt catalog.json runtime build-ca "$CTX/")
find "$CTX/runtime" -name __pycache__ -prune -exec rm -rf {} +
if [[ -f "$SITE/.complete" ]]; then
  # Hard links where the two folders share a file system (no copy of 700 MB).
  cp -al "$SITE/site-packages" "$CTX/site-packages" 2>/dev/null \
    || { rm -rf "$CTX/site-packages"; cp -a "$SITE/site-packages" "$CTX/site-packages"; }
else
  mkdir -p "$CTX/site-packages"
  # Only pip in the build needs them (it deletes them in the same layer).
  for crt in /usr/local/share/ca-certificates/*.crt; do
    if [[ -f "$crt" ]]; then cp "$crt" "$CTX/build-ca/"; fi
  done
fi

# --- build -----------------------------------------------------------------------------------
T2="$(now)"
log "building $TAG from $BASE (log: ${LOG#"$ROOT"/})"
BUILD=(docker build)
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0 # Docker 20.10 engine without the buildx plugin: classic builder
fi
# --network host: the build's pip step only needs the machine's own route to PyPI, and this works
# even where Docker's default bridge is unusable.
if ! "${BUILD[@]}" --network host \
      --build-arg "BASE_IMAGE=$BASE" \
      --build-arg "INPUTS_HASH=$HASH" \
      -t "$TAG" -t "$REPO_NAME:latest" \
      "$CTX" 2>&1 | time_steps >"$LOG"; then
  tail -n 40 "$LOG" >&2
  die "docker build failed (full log: $LOG)"
fi
# Where the build's time went: each Dockerfile step of 1 s or more, then the warm-up's runs.
grep -E '^step-time:' "$LOG" | awk -F'\t' '$2 >= 1 { printf "[build-image]   step %-5s %6.1f s  %s\n", $3, $2, substr($4, 1, 90) }' >&2 || true
grep -E '^warmup:' "$LOG" | sed 's/^/[build-image]   /' >&2 || true
SIZE="$(docker image inspect --format '{{.Size}}' "$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
log "built $TAG in $(since "$T2") ($SIZE); total $(since "$T0")"
write_tag

# Keep disk bounded: drop older content-hash tags of this repository beyond the newest
# $KEEP_OLD_IMAGES (default 2). `docker rmi` without -f leaves images that containers use.
KEEP_OLD_IMAGES="${KEEP_OLD_IMAGES:-2}"
docker images "$REPO_NAME" --format '{{.Tag}} {{.CreatedAt}}' \
  | awk -v cur="${TAG##*:}" '$1 ~ /^[0-9a-f]{12}$/ && $1 != cur' \
  | sort -k2,3r | tail -n +"$((KEEP_OLD_IMAGES + 1))" | while read -r old _; do
      docker rmi "$REPO_NAME:$old" >/dev/null 2>&1 && log "removed old image $REPO_NAME:$old" || true
    done
echo "$TAG"

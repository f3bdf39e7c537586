#!/usr/bin/env bash
# Put a real public single-cell dataset at .data/datasets/<name>.h5ad (skipped when present).
#
# The data ships inside a registry package (the scanpy wheel in the blocks image), so nothing is
# downloaded: a container of the blocks image writes the file, with no network.
#
#   scripts/fetch-dataset.sh [NAME]     NAME defaults to pbmc68k_counts
#
# pbmc68k_counts: 700 PBMCs x 765 genes, raw integer counts rebuilt from scanpy's bundled
# pbmc68k_reduced (see blocks/README.md, "Dataset"). Prints the path of the file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${1:-pbmc68k_counts}"
DIR="$ROOT/.data/datasets"
OUT="$DIR/$NAME.h5ad"

log() { echo "[fetch-dataset] $*" >&2; }
die() { echo "[fetch-dataset] ERROR: $*" >&2; exit 1; }

[[ "$NAME" =~ ^[A-Za-z0-9_]+$ ]] || die "dataset name must be letters, digits and _ (got '$NAME')"
if [[ -s "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

if ! timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  die "Docker engine not reachable: run scripts/ensure-docker.sh"
fi
TAG="$(blocks_image)"
if [[ -z "$TAG" ]] || ! docker image inspect "$TAG" >/dev/null 2>&1; then
  TAG="$(bash "$ROOT/scripts/build-image.sh")"
fi

mkdir -p "$DIR"
T0=$SECONDS
log "writing $NAME with $TAG"
run_runner_module "$TAG" "$DIR" ragomics-fetch-dataset ragomics_runner.datasets "$NAME" "/data/$NAME.h5ad" \
  || die "the dataset container failed (see above)"
[[ -s "$OUT" ]] || die "$OUT was not written"
log "done in $((SECONDS - T0)) s"
echo "$OUT"

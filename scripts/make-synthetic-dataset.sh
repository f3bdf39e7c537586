#!/usr/bin/env bash
# Put a synthetic raw-count dataset at .data/datasets/synthetic_<CELLS>x<GENES>.h5ad (skipped when
# present) and print its path. Used by bench/data-passing.ts, which needs ~100,000 cells (the real
# bundled dataset has 700).
#
#   scripts/make-synthetic-dataset.sh [CELLS] [GENES]      defaults: 100000 2000
#
# The generator is ragomics_runner.synthetic (negative-binomial counts, cell types, MT- genes; see
# its docstring). It runs in a container of the blocks image with no network, like
# fetch-dataset.sh, so the file is the same whatever Python the host has. Deterministic (seed 0):
# the cached file only needs making once. ~30 s and ~0.3 GB for 100,000 x 2,000 on 2 cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CELLS="${1:-100000}"
GENES="${2:-2000}"
[[ "$CELLS" =~ ^[0-9]+$ && "$GENES" =~ ^[0-9]+$ ]] || die -c 2 "usage: make-synthetic-dataset.sh [CELLS] [GENES] (whole numbers)"
DIR="$DATA_DIR/datasets"
NAME="synthetic_${CELLS}x${GENES}"
OUT="$DIR/$NAME.h5ad"
if [[ -s "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

TAG="$(generator_image "import ragomics_runner.synthetic")"

mkdir -p "$DIR"
T0=$SECONDS
log "writing $NAME with $TAG"
run_runner_module "$TAG" "$DIR" ragomics-synthetic ragomics_runner.synthetic "/data/$NAME.h5ad" --cells "$CELLS" --genes "$GENES" \
  || die "the generator container failed (see above)"
[[ -s "$OUT" ]] || die "$OUT was not written"
log "done in $((SECONDS - T0)) s"
echo "$OUT"

#!/usr/bin/env bash
# Put a synthetic cohort at .data/cohorts/synthetic_<SAMPLES>x<CELLS>/ (skipped when its sample
# sheet is there) and print the sheet's path: one raw-count .h5ad per sample and samplesheet.csv
# (sample,path,condition,batch,donor; paths relative to the sheet). Used by examples/cohort.yaml
# (8 x 3,000) and the cohort benchmark (24 x 20,000 = 480,000 cells).
#
#   scripts/make-synthetic-cohort.sh [SAMPLES] [CELLS_PER_SAMPLE] [GENES] [BATCHES]
#                                     defaults: 8 3000 2000 2
#
# The generator is ragomics_runner.synthetic --cohort (2 conditions alternating, batches each
# holding both conditions, 5 cell types, a planted batch shift and 60 condition-responsive genes;
# truth in obs cell_type and var de_truth/de_log2fc/de_cell_types; see its docstring). It runs in
# a container of the blocks image with no network, like make-synthetic-dataset.sh. Seed 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SAMPLES="${1:-8}"
CELLS="${2:-3000}"
GENES="${3:-2000}"
BATCHES="${4:-2}"
for v in "$SAMPLES" "$CELLS" "$GENES" "$BATCHES"; do
  [[ "$v" =~ ^[0-9]+$ ]] || die -c 2 "usage: make-synthetic-cohort.sh [SAMPLES] [CELLS_PER_SAMPLE] [GENES] [BATCHES] (whole numbers)"
done
NAME="synthetic_${SAMPLES}x${CELLS}"
[[ "$GENES" == 2000 && "$BATCHES" == 2 ]] || NAME="${NAME}x${GENES}g${BATCHES}b"
DIR="$DATA_DIR/cohorts/$NAME"
if [[ -s "$DIR/samplesheet.csv" ]]; then
  echo "$DIR/samplesheet.csv"
  exit 0
fi

TAG="$(generator_image "import ragomics_runner.synthetic as s; s.write_cohort")"

mkdir -p "$DIR"
T0=$SECONDS
log "writing $NAME with $TAG"
run_runner_module "$TAG" "$DIR" ragomics-synthetic-cohort ragomics_runner.synthetic /data --cohort \
  --samples "$SAMPLES" --cells "$CELLS" --genes "$GENES" --batches "$BATCHES" \
  || die "the generator container failed (see above)"
[[ -s "$DIR/samplesheet.csv" ]] || die "$DIR/samplesheet.csv was not written"
log "done in $((SECONDS - T0)) s"
echo "$DIR/samplesheet.csv"

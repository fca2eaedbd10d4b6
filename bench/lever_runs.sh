#!/bin/bash
# The "better model" lever runs of docs/BENCHMARKS.md section 3, one after the other, on
# the 8,000 UTKFace sample faces. Each run goes to $OUT/utk-NAME; a line per run with its
# wall clock, the load and its flags goes to $OUT/levers.done. Compare a run with the
# default on the validation split:
#   .venv/bin/python -m modelkit compare $OUT/utk-default $OUT/utk-NAME --split val
#
#   bench/lever_runs.sh                 # every lever below
#   bench/lever_runs.sh bs32 ema        # only these
# Train from a git worktree of the commit you measure, so edits cannot change a run.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ROOT=${ROOT:-$(cd ../shared/data/utkface_sample && pwd)}
OUT=${OUT:-/tmp/bench_runs}
# The defaults before this round (batch 64, 12 epochs, no weight averaging); a lever's
# flags come after them and win. "recipe" is today's defaults, no flags.
OLD="--batch-size 64 --epochs 12 --no-ema"
declare -A LEVERS=(
  [default]="$OLD"
  [bs32]="$OLD --batch-size 32"
  [free3]="$OLD --ema --label-smoothing 0.1 --age-l1 0.1"
  [bs32-hh256]="$OLD --batch-size 32 --head-hidden 256"
  [bs32-ema]="$OLD --batch-size 32 --ema"
  [bs32-ema-l1]="$OLD --batch-size 32 --ema --age-l1 0.1"
  [recipe]=""
  # Third round, against "recipe". deep18 and deep14 ran as small_cnn at ff5f4b1 and
  # d69bc15 with its stages edited to what small_cnn_deep is now.
  [drop01]="--dropout 0.1"
  [deep18]="--backbone small_cnn_deep"
  [deep14]="--backbone small_cnn_deep --epochs 14"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(default bs32 free3 bs32-hh256 bs32-ema bs32-ema-l1 recipe drop01 deep18 deep14)
mkdir -p "$OUT"
for name in "${names[@]}"; do
  flags=${LEVERS[$name]}
  start=$(date +%s)
  # shellcheck disable=SC2086
  $PY -m modelkit train --source utkface --root "$ROOT" $flags --run-dir "$OUT/utk-$name" \
    > "$OUT/utk-$name.log" 2>&1
  echo "$name exit $? $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg) flags: $flags" \
    >> "$OUT/levers.done"
done

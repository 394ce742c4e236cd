#!/bin/bash
# Any sharded job on Slurm: NUM_SHARDS array tasks of JOB_SCRIPT, then data_gen/merge.sbatch, which
# runs only if every task succeeded (and is cancelled otherwise).
#   data_gen/array_then_merge.sh JOB_SCRIPT LOG_PREFIX OUT_DIR NUM_SHARDS [options for the job...]
# Prints the merge job's id; the merged dataset lands in OUT_DIR/merged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
job=$1; prefix=$2; out=$3; n=$4; shift 4
mkdir -p "$out"
out=$(realpath "$out")
# Jobs run in the submitting folder, so relative input paths in the options keep working.
array=$(sbatch --parsable --array="0-$((n - 1))" --output="$out/$prefix-%A_%a.log" "$job" "$out" "$@")
sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes \
    --output="$out/merge-%j.log" "$here/merge.sbatch" "$out" "$n"

#!/bin/bash
# Generate a dataset on a Slurm cluster: NUM_SHARDS array tasks, then a merge that waits for them.
#   data_gen/submit.sh OUT_DIR NUM_SHARDS [rnastruct generate options...]
# Prints the merge job's id; the merged dataset lands in OUT_DIR/merged.
# Extra sbatch options (partition, account, time) go in SBATCH_* environment variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1; n=$2; shift 2
mkdir -p "$out"
out=$(realpath "$out")
# Jobs run in the submitting folder, so relative input paths in the options keep working.
array=$(sbatch --parsable --array="0-$((n - 1))" --output="$out/generate-%A_%a.log" \
    "$here/generate_array.sbatch" "$out" "$@")
sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes \
    --output="$out/merge-%j.log" "$here/merge.sbatch" "$out" "$n"

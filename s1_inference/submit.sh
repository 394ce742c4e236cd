#!/bin/bash
# S1 inference over a large dataset on a Slurm cluster: NUM_SHARDS array tasks, then a merge
# that runs only if every shard succeeded.
#   s1_inference/submit.sh OUT_DIR NUM_SHARDS --data DATASET [rnastruct s1-infer options...]
# Prints the merge job's id; the merged proposals land in OUT_DIR/merged.
# Extra sbatch options (partition, account, time, gres) go in SBATCH_* environment variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1; n=$2; shift 2
mkdir -p "$out"
out=$(realpath "$out")
array=$(sbatch --parsable --array="0-$((n - 1))" --output="$out/s1-infer-%A_%a.log" \
    "$here/infer_array.sbatch" "$out" "$@")
# the generic shard merge of data_gen (rnastruct merge reads what kind of shards it joins)
sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes \
    --output="$out/merge-%j.log" "$here/../data_gen/merge.sbatch" "$out" "$n"

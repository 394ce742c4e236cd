#!/bin/bash
# S1 inference over a large dataset on a Slurm cluster: NUM_SHARDS array tasks, then a merge
# that runs only if every shard succeeded.
#   s1_inference/submit.sh OUT_DIR NUM_SHARDS --data DATASET [rnastruct s1-infer options...]
# Prints the merge job's id; the merged proposals land in OUT_DIR/merged.
# Extra sbatch options (partition, account, time, gres) go in SBATCH_* environment variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../data_gen/array_then_merge.sh" "$here/infer_array.sbatch" s1-infer "$@"

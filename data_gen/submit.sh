#!/bin/bash
# Generate a dataset on a Slurm cluster: NUM_SHARDS array tasks, then a merge that waits for them.
#   data_gen/submit.sh OUT_DIR NUM_SHARDS [rnastruct generate options...]
# Prints the merge job's id; the merged dataset lands in OUT_DIR/merged.
# Extra sbatch options (partition, account, time) go in SBATCH_* environment variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/array_then_merge.sh" "$here/generate_array.sbatch" generate "$@"

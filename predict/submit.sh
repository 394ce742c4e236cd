#!/bin/bash
# Predict a large FASTA on a Slurm cluster: NUM_SHARDS array tasks, each a contiguous part of the
# input, then a merge that runs only if every part succeeded.
#   predict/submit.sh OUT_DIR NUM_SHARDS INPUT.fa [rnastruct predict options...]
# Prints the merge job's id; the predictions land in OUT_DIR/merged, in input order, exactly as
# one `rnastruct predict INPUT.fa --out FILE` would write them.
# Extra sbatch options (partition, account, time) go in SBATCH_* environment variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../data_gen/array_then_merge.sh" "$here/predict_array.sbatch" predict "$@"

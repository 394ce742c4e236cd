#!/bin/bash
# S2 on real structures: the proposals of the real-structure S1 on 3,000 bpRNA TR0 RNAs (drawn with
# seed 7) and all of VL0 (validation), pruned, labelled by the real structures, then s2-train.
#   bash s2_training/real.sh S1_CHECKPOINT RUN_DIR [s2-train options, e.g. --device cuda]
# Needs data/real_bprna (s1_training/real.sbatch makes it). Each step is skipped when its output
# exists, and s2-train resumes, so a rerun continues. This 2-core CPU: 14 min of proposals,
# 18 min for the 5 epochs.
set -euo pipefail
s1=$1; out=$2; shift 2
subset=data/real_s2
[ -d "$subset" ] || rnastruct subset --in data/real_bprna --out "$subset" --train 3000 --seed 7
[ -d runs/real_s2_props ] || rnastruct s1-infer --data "$subset" --model "$s1" --out runs/real_s2_props --bf16 --quiet
[ -d runs/real_s2_pruned ] || rnastruct prune --in runs/real_s2_props --out runs/real_s2_pruned
[ -f data/real_s2.npz ] || rnastruct s2-data --in runs/real_s2_pruned --out data/real_s2.npz --max-boxes 256
resume=()
if [ -f "$out/last.pt" ]; then resume=(--resume); fi
rnastruct s2-train --config configs/s2/default.yaml --data data/real_s2.npz --out "$out" --set epochs=5 \
    --quiet "${resume[@]}" "$@"

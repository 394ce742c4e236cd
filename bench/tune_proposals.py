"""Choose the S1 proposal thresholds of the fold decoder on validation sequences, and store them
in a copy of the S1 checkpoint (``state["fold_proposal"]``, read by ``rnastruct.pipeline``).

    python bench/tune_proposals.py --data data/s2_len20_200 --s1 runs/s1/best.pt --out rnastruct/models/s1_default/s1.pt

The fold decoder folds with ViennaRNA over the pairs the selected, pruned proposals put forward
(``boxes.candidate_pairs``): lower thresholds allow more of the true pairs (higher F1 against
the MFE structure) at the price of more pairs to consider. For every (n_proposal threshold,
p_on) of the grid, on the ``valid`` split only (genes S1 never trained on), prints mean
base-pair F1 against the MFE structure, the share of true pairs allowed, allowed pairs per true
pair, and chooses the highest F1 (ties: the fewer allowed pairs).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="generated dataset with a split column")
    ap.add_argument("--s1", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--p-on", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1, 0.2])
    args = ap.parse_args()

    from rnastruct.boxes import candidate_pairs
    from rnastruct.folding import fold_within
    from rnastruct.metrics import pair_scores
    from rnastruct.s1.infer import ProposalConfig, S1Predictor, select
    from rnastruct.s1.prune import PruneConfig, prune
    from rnastruct.seqio import pairs_of_table, read_table
    from rnastruct.structure import canonical_map, parse_dot_bracket
    from rnastruct.train import load_checkpoint, save_checkpoint

    table, _ = read_table(args.data)
    rows = np.flatnonzero(np.asarray(table.column("split").to_pylist()) == args.split)[: args.limit]
    all_pairs = pairs_of_table(table)
    seqs = [table.column("seq")[int(k)].as_py() for k in rows]
    true_pairs = [all_pairs[int(k)] for k in rows]
    grid = list(itertools.product(args.thresholds, args.p_on))
    f1 = {g: np.zeros(len(seqs)) for g in grid}
    allowed_true = {g: np.zeros(len(seqs)) for g in grid}
    n_allowed = {g: np.zeros(len(seqs)) for g in grid}
    canonical_share = {g: np.zeros(len(seqs)) for g in grid}
    s1 = S1Predictor.from_checkpoint(args.s1)
    pruning = PruneConfig()
    for k, proposals in s1.propose(seqs, progress=True):
        seq, ref = seqs[k], true_pairs[k]
        ref_set = set(map(tuple, ref.tolist()))
        canon = np.triu(canonical_map(seq), 4)  # [L, L] pairs ViennaRNA could form
        for g in grid:
            boxes = prune(select(proposals, ProposalConfig(threshold=g[0], p_on=g[1])), seq, pruning)
            allowed = candidate_pairs(boxes["type"], boxes["bb_x"], boxes["bb_y"], boxes["siz_x"],
                                      boxes["siz_y"], len(seq))
            pairs = parse_dot_bracket(fold_within(seq, allowed)[0])
            f1[g][k] = pair_scores(pairs, ref, len(seq))["f1"]
            hit = sum(tuple(p) in ref_set for p in allowed.tolist())
            allowed_true[g][k] = hit / len(ref) if len(ref) else 1.0
            n_allowed[g][k] = len(allowed) / max(len(ref), 1)
            canonical_share[g][k] = canon[allowed[:, 0], allowed[:, 1]].sum() / max(canon.sum(), 1)
    print(f"{len(seqs)} {args.split} sequences of {args.data}")
    print("threshold  p_on   mean F1  true pairs allowed  every true pair  allowed per true pair"
          "  share of canonical pairs allowed")
    for g in grid:
        print(f"{g[0]:9.2f}  {g[1]:4.2f}  {f1[g].mean():8.4f}  {allowed_true[g].mean():18.4f}  "
              f"{(allowed_true[g] == 1).mean():15.3f}  {n_allowed[g].mean():21.1f}"
              f"  {canonical_share[g].mean():32.3f}")
    best = max(grid, key=lambda g: (round(f1[g].mean(), 4), -n_allowed[g].mean()))
    state = load_checkpoint(args.s1)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    state["fold_proposal"] = {"threshold": best[0], "p_on": best[1], "hloop_factor": 0.5, "method": "union"}
    save_checkpoint(args.out, state)
    print(f"chose threshold {best[0]}, p_on {best[1]} (F1 {f1[best].mean():.4f}); wrote {args.out}")


if __name__ == "__main__":
    main()

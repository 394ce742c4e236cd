"""End-to-end accuracy of `rnastruct predict` against the MFE structure on held-out segments,
for each decoder on the same S1 proposals: ``fold`` (ViennaRNA's MFE over the proposed pairs,
the default), ``boxes`` (S2 scores, exact assembly) and the original's greedy assembly on the
same S2 scores.

    python bench/predict_heldout.py --data data/heldout_len20_200 [--model mfe] [--limit N] [--json out.json]

The data: ``rnastruct generate ... --length 20-200 --min-mfe-freq 0.02 --only-splits test``
(genes never used to train S1 or S2). Prints mean base-pair F1 of each decoder, the share of
valid structures, the share of true pairs among the allowed ones, and F1 by MFE-frequency bin.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--model", default="mfe", help="model set (default mfe: the models of this task)")
    ap.add_argument("--s1", help="S1 checkpoint (default: the set's)")
    ap.add_argument("--s2", help="S2 checkpoint (default: bundled)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from rnastruct.boxes import box_problems, structure_to_boxes
    from rnastruct.folding import fold_within
    from rnastruct.evaluate import pair_scores
    from rnastruct.predictor import load_predictor
    from rnastruct.s2.assemble import assemble_greedy
    from rnastruct.seqio import pairs_of_table, read_table
    from rnastruct.structure import non_canonical_pairs, parse_dot_bracket

    def is_valid(seq, pairs, boxes):
        bases = pairs.ravel()
        return (box_problems(boxes, len(seq)) == [] and len(set(bases.tolist())) == len(bases)
                and not non_canonical_pairs(seq, pairs).any() and all(j - i > 3 for i, j in pairs))

    table, _ = read_table(args.data)
    seqs = table.column("seq").to_pylist()
    freq = np.asarray(table.column("mfe_freq").to_pylist())
    true_pairs = pairs_of_table(table)
    n = min(args.limit or len(seqs), len(seqs))
    # one S1 pass serves both decoders; each selects proposals with its own thresholds
    folder = load_predictor(s1=args.s1, model=args.model).decoder  # the proposal-restricted fold
    predictor = load_predictor(s1=args.s1, s2=args.s2, decoder="boxes", model=args.model)
    assembly = predictor.decoder
    decoders = ("fold", "boxes", "greedy")
    f1 = {d: np.zeros(n) for d in decoders}
    valid = {d: np.zeros(n, bool) for d in decoders}
    pair_recall = np.zeros(n)
    for k, proposals in predictor.s1.propose(seqs[:n], progress=True):
        seq, ref = seqs[k], true_pairs[k]
        allowed = folder.box_pairs(proposals, seq)
        folded = parse_dot_bracket(fold_within(seq, allowed)[0])
        boxes, scores = assembly.candidates(proposals, seq)
        exact, greedy = assembly.assemble(boxes, scores, seq), assemble_greedy(boxes, scores, seq)
        for d, pairs, bxs in (("fold", folded, structure_to_boxes(folded, len(seq))),
                              ("boxes", exact.pairs, exact.boxes), ("greedy", greedy.pairs, greedy.boxes)):
            f1[d][k] = pair_scores(pairs, ref, len(seq))["f1"]
            valid[d][k] = is_valid(seq, pairs, bxs)
        allowed_set = set(map(tuple, allowed.tolist()))
        pair_recall[k] = np.mean([tuple(p) in allowed_set for p in ref.tolist()]) if len(ref) else 1.0
    bins = [0.02, 0.05, 0.1, 0.2, 0.5, 1.01]
    by_bin = {d: {f"{lo:g}-{hi:g}": (float(f1[d][(freq[:n] >= lo) & (freq[:n] < hi)].mean()),
                                     int(((freq[:n] >= lo) & (freq[:n] < hi)).sum()))
                  for lo, hi in zip(bins[:-1], bins[1:])} for d in decoders}
    out = {"sequences": n, "s1": str(args.s1 or "bundled"),
           "fold_proposal": {"threshold": folder.proposal.threshold, "p_on": folder.proposal.p_on},
           **{f"f1_{d}": float(f1[d].mean()) for d in decoders},
           **{f"valid_share_{d}": float(valid[d].mean()) for d in decoders},
           "true_pairs_allowed": float(pair_recall.mean()),
           "sequences_with_every_true_pair_allowed": float((pair_recall == 1).mean()),
           "f1_by_mfe_freq": by_bin}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""End-to-end accuracy of `rnastruct predict` against the MFE structure on held-out segments,
with the exact assembly and the original's greedy one on the same S2 scores.

    python bench/predict_heldout.py --data data/heldout_len20_200 [--limit N] [--json out.json]

The data: ``rnastruct generate ... --length 20-200 --min-mfe-freq 0.02 --only-splits test``
(genes never used to train S1 or S2). Prints mean base-pair F1 (exact and greedy assembly),
the share of valid structures, and F1 by MFE-frequency bin.
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
    ap.add_argument("--s2", help="S2 checkpoint (default: bundled)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from rnastruct.boxes import box_problems
    from rnastruct.metrics import pair_scores
    from rnastruct.pipeline import Predictor
    from rnastruct.s2.assemble import assemble_greedy
    from rnastruct.seqio import pairs_of_table, read_table
    from rnastruct.structure import non_canonical_pairs

    table, _ = read_table(args.data)
    seqs = table.column("seq").to_pylist()
    freq = np.asarray(table.column("mfe_freq").to_pylist())
    true_pairs = pairs_of_table(table)
    n = min(args.limit or len(seqs), len(seqs))
    predictor = Predictor(s2=args.s2)
    f1_exact, f1_greedy, valid = np.zeros(n), np.zeros(n), np.zeros(n, bool)
    for k, proposals in predictor.s1.propose(seqs[:n], progress=True):
        seq, ref = seqs[k], true_pairs[k]
        boxes, scores = predictor.candidates(proposals, seq)
        exact, greedy = predictor.assemble(boxes, scores, seq), assemble_greedy(boxes, scores, seq)
        f1_exact[k] = pair_scores(exact.pairs, ref, len(seq))["f1"]
        f1_greedy[k] = pair_scores(greedy.pairs, ref, len(seq))["f1"]
        bases = exact.pairs.ravel()
        valid[k] = (box_problems(exact.boxes, len(seq)) == [] and len(set(bases.tolist())) == len(bases)
                    and not non_canonical_pairs(seq, exact.pairs).any()
                    and all(j - i > 3 for i, j in exact.pairs))
    bins = [0.02, 0.05, 0.1, 0.2, 0.5, 1.01]
    by_bin = {f"{lo:g}-{hi:g}": (float(f1_exact[(freq[:n] >= lo) & (freq[:n] < hi)].mean()),
                                  int(((freq[:n] >= lo) & (freq[:n] < hi)).sum()))
              for lo, hi in zip(bins[:-1], bins[1:])}
    out = {"sequences": n, "f1_exact_assembly": float(f1_exact.mean()), "f1_greedy_assembly": float(f1_greedy.mean()),
           "valid_share": float(valid.mean()), "f1_by_mfe_freq": by_bin}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

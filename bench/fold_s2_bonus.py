"""Does S2 help the fold decoder? Base-pair F1 against the MFE structure on S2 validation
sequences when S2's log-odds are added to ViennaRNA's energies as pseudo-energies.

    python bench/fold_s2_bonus.py --data data/s2_len20_200.npz [--s2 rnastruct/models/mfe/s2.pt] [--limit 250]

For each sequence of the ``valid`` split, the pairs of its S2 boxes (a stem's pairs, a loop's
closing pairs) are allowed, every other pair is forbidden, and an allowed pair gets
``-w * clip(logit - logit(box_threshold), -10, 10)`` kcal/mol (its best box's S2 log-odds relative
to the checkpoint's box threshold); ``w = 0`` is the plain fold decoder over these boxes.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="S2 dataset (rnastruct s2-data)")
    ap.add_argument("--s2", default=None, help="S2 checkpoint (default: bundled)")
    ap.add_argument("--limit", type=int, default=250)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.4, 0.8])
    args = ap.parse_args()

    import RNA

    from rnastruct.boxes import BOX_TYPES, candidate_pairs
    from rnastruct.folding import fold_within
    from rnastruct.learned import FoldEnergy
    from rnastruct.evaluate import pair_scores
    from rnastruct.predictor.models import MODEL_SETS
    from rnastruct.s2.data import load_npz
    from rnastruct.s2.loader import batch_of
    from rnastruct.s2.training import model_from_checkpoint
    from rnastruct.structure import parse_dot_bracket

    data = load_npz(args.data)
    model, _, state = model_from_checkpoint(args.s2 or MODEL_SETS["mfe"][1])
    g = float(state.get("box_threshold", 0.5))
    offset = np.log(g / (1 - g))
    valid = np.flatnonzero(data["split"] == "valid")[: args.limit]
    off = data["offsets"]
    f1 = {w: [] for w in args.weights}
    for k in valid:
        seq = str(data["seqs"][k])
        L = len(seq)
        rows = data["boxes"][off[k]:off[k + 1]]  # [N, 5]: type code, bb_x, bb_y, siz_x, siz_y
        with torch.no_grad():
            batch = batch_of(data, np.array([k]))
            logit = model(batch["features"], batch["mask"])[0, :len(rows)].numpy()
        ref = parse_dot_bracket(RNA.fold(seq)[0])
        best: dict[tuple[int, int], float] = {}  # allowed pair -> its best box's log-odds
        for (c, x, y, sx, sy), lg in zip(rows.tolist(), logit.astype(np.float64)):
            for i, j in candidate_pairs([BOX_TYPES[c]], [x], [y], [sx], [sy], L).tolist():
                best[i, j] = max(best.get((i, j), -np.inf), lg)
        allowed = np.array(sorted(best), dtype=np.int64).reshape(-1, 2)
        scores = np.array([best[p] for p in map(tuple, allowed.tolist())])  # [P]
        for w in args.weights:
            structure, _ = fold_within(seq, allowed, FoldEnergy(s2_weight=w, s2_offset=offset).stem_energies(scores))
            f1[w].append(pair_scores(parse_dot_bracket(structure), ref, L)["f1"])
    print(f"{len(valid)} validation sequences of {args.data}")
    for w in args.weights:
        print(f"S2 weight {w:4.2f} kcal/mol per log-odds unit: mean F1 vs MFE {np.mean(f1[w]):.4f}")


if __name__ == "__main__":
    main()

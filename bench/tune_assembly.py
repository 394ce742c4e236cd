"""Choose the assembly's two settings for base-pair F1 of the exact assembly on S2 validation
sequences, and store them in a copy of the checkpoint:

* ``box_threshold``: the S2 probability above which a box is worth taking (scores are S2
  log-odds relative to it);
* ``energy_weight``: how much the ViennaRNA energy of the box's own stack or loop (kcal/mol)
  is subtracted from its score.

    python bench/tune_assembly.py --data data/s2.npz --s2 runs/s2/best.pt --out rnastruct/models/s2_default/s2.pt

Only the ``valid`` split of the S2 dataset is used (genes S2 never trained on); F1 is against
the true boxes among the proposals (what the assembly can reach).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--s2", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5])
    ap.add_argument("--energy-weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0, 1.5])
    args = ap.parse_args()

    from rnastruct.boxes import BOX_TYPES
    from rnastruct.metrics import pair_scores
    from rnastruct.s2.assemble import assemble
    from rnastruct.pipeline import unproposed_loop_score
    from rnastruct.s2.features import FEATURES
    from rnastruct.s2.training import batch_of, load_npz, model_from_checkpoint
    from rnastruct.train import load_checkpoint, save_checkpoint

    data = load_npz(args.data)
    model, _, _ = model_from_checkpoint(args.s2)
    valid = np.flatnonzero(data["split"] == "valid")
    off = data["offsets"]
    grid = [(g, a) for g in args.thresholds for a in args.energy_weights]
    f1 = {key: [] for key in grid}
    energy_col = FEATURES.index("energy")
    for k in valid:
        seq = str(data["seqs"][k])
        rows = data["boxes"][off[k]:off[k + 1]]
        boxes = {"type": np.array(BOX_TYPES)[rows[:, 0]], "bb_x": rows[:, 1], "bb_y": rows[:, 2],
                 "siz_x": rows[:, 3], "siz_y": rows[:, 4]}
        true = rows[data["labels"][off[k]:off[k + 1]] > 0]
        ref = np.array(sorted((x + t, y - t) for c, x, y, s, _ in true.tolist() if c == 0 for t in range(s)),
                       dtype=np.int64).reshape(-1, 2)
        with torch.no_grad():
            b = batch_of(data, np.array([k]))
            logits = model(b["features"], b["mask"])[0, :len(rows)].numpy().astype(np.float64)
        energy = data["features"][off[k]:off[k + 1], energy_col].astype(np.float64) * 10  # kcal/mol
        for g, a in grid:
            res = assemble(boxes, logits - np.log(g / (1 - g)) - a * energy, seq, unproposed_loop_score(seq, a))
            f1[(g, a)].append(pair_scores(res.pairs, ref, len(seq))["f1"])
    for g, a in grid:
        print(f"box threshold {g:.2f}, energy weight {a:.1f}: mean F1 {np.mean(f1[(g, a)]):.4f}")
    best_g, best_a = max(grid, key=lambda key: np.mean(f1[key]))
    state = load_checkpoint(args.s2)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "history")}
    state["box_threshold"], state["energy_weight"] = best_g, best_a
    save_checkpoint(args.out, state)
    print(f"chose box threshold {best_g}, energy weight {best_a} (F1 {np.mean(f1[(best_g, best_a)]):.4f}); "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Choose the S2 probability above which boxes are worth taking, for base-pair F1 of the exact
assembly on S2 validation sequences, and store it in a copy of the checkpoint.

    python bench/tune_box_threshold.py --data data/s2.npz --s2 runs/s2/best.pt --out rnastruct/models/s2_default/s2.pt

Only the ``valid`` split of the S2 dataset is used (genes S2 never trained on).
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
    ap.add_argument("--grid", type=float, nargs="+", default=[0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5])
    args = ap.parse_args()

    from rnastruct.boxes import BOX_TYPES
    from rnastruct.metrics import pair_scores
    from rnastruct.s2.assemble import assemble
    from rnastruct.s2.training import batch_of, load_npz, model_from_checkpoint
    from rnastruct.train import load_checkpoint, save_checkpoint

    data = load_npz(args.data)
    model, _, _ = model_from_checkpoint(args.s2)
    valid = np.flatnonzero(data["split"] == "valid")
    off = data["offsets"]
    f1 = {g: [] for g in args.grid}
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
        for g in args.grid:
            res = assemble(boxes, logits - np.log(g / (1 - g)), seq)
            f1[g].append(pair_scores(res.pairs, ref, len(seq))["f1"])
    for g in args.grid:
        print(f"box threshold {g:.2f}: mean F1 against the proposable truth {np.mean(f1[g]):.4f}")
    best = max(args.grid, key=lambda g: np.mean(f1[g]))
    state = load_checkpoint(args.s2)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "history")}
    state["box_threshold"] = best
    save_checkpoint(args.out, state)
    print(f"chose {best}; wrote {args.out}")


if __name__ == "__main__":
    main()

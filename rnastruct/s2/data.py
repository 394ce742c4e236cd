"""S2 data (``rnastruct s2-data``): pruned S1 proposals on sequences with known structures
(every sequence kept, also those where S1 missed boxes), each box labelled 1 when it exactly
matches a true box of its type, with ``features.FEATURES``. Stored as NPZ without object arrays:
``features [T, F]``, ``labels [T]``, ``boxes [T, 5]`` (type code, bb_x, bb_y, siz_x, siz_y; box
convention of ``rnastruct.boxes``: top-right corner, sizes including closing bases), ``offsets
[n + 1]`` (sequence k owns rows ``offsets[k]:offsets[k + 1]``), ``ids``, ``split``, ``seqs``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..seqio import atomic_path
from .features import FEATURES


def ranked_subset(boxes: dict, max_boxes: int) -> np.ndarray:
    """Indices of at most ``max_boxes`` boxes, the most supported first (p_on_max, then
    n_proposal_norm), returned in their original order."""
    n = len(boxes["type"])
    if n <= max_boxes:
        return np.arange(n)
    support = np.maximum(np.asarray(boxes["n_proposal_norm_sm"]), np.asarray(boxes["n_proposal_norm_sl"]))
    order = np.lexsort((-support, -np.asarray(boxes["p_on_max"])))
    return np.sort(order[:max_boxes])


def make_dataset(ids, seqs, tables, true_pairs, splits, max_boxes: int) -> dict[str, np.ndarray]:
    """Per-sequence proposals -> the NPZ arrays described in the module docstring."""
    from ..boxes import structure_to_boxes
    from ..s1.targets import type_codes
    from .features import box_features, box_labels

    feats, labels, boxes, offsets = [], [], [], [0]
    for seq, t, pairs in zip(seqs, tables, true_pairs):
        keep = ranked_subset(t, max_boxes)
        t = {c: np.asarray(v)[keep] for c, v in t.items()}
        feats.append(box_features(t, seq))
        labels.append(box_labels(t, structure_to_boxes(pairs, len(seq))))
        boxes.append(np.stack([type_codes(t["type"])] + [np.asarray(t[c], np.int64) for c in
                                                          ("bb_x", "bb_y", "siz_x", "siz_y")], axis=1).reshape(-1, 5))
        offsets.append(offsets[-1] + len(keep))
    return {"features": np.concatenate(feats) if feats else np.zeros((0, len(FEATURES)), np.float32),
            "labels": np.concatenate(labels) if labels else np.zeros(0, np.float32),
            "boxes": np.concatenate(boxes) if boxes else np.zeros((0, 5), np.int64),
            "offsets": np.asarray(offsets, np.int64), "ids": np.asarray(ids, dtype=str),
            "split": np.asarray(splits, dtype=str), "seqs": np.asarray(seqs, dtype=str)}


def save_npz(path, arrays: dict) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_npz(path) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such S2 dataset")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # truncated, not an npz, object arrays
        raise InputError(f"{p}: not a readable S2 dataset ({type(e).__name__}: {e})") from None
    missing = {"features", "labels", "offsets", "split"} - set(data)
    if missing:
        raise InputError(f"{p}: S2 dataset lacks {', '.join(sorted(missing))}")
    if data["features"].shape[1] != len(FEATURES):
        raise InputError(f"{p}: {data['features'].shape[1]} features per box, this version uses "
                         f"{len(FEATURES)} (remake it with rnastruct s2-data)")
    return data

"""Base-pair metrics: count first (tp / fp / fn per sequence), aggregate second.

Conventions (SPEC section 8): a predicted pair is a true positive when the reference has the
same pair (0-based ``(i, j)``, ``i < j``); precision = tp / predicted, recall = tp / reference,
F1 = 2PR / (P + R). When both sets are empty every score is 1; when exactly one is empty every
score is 0. MCC is computed over the ``L (L - 1) / 2`` possible pairs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class PairCounts(NamedTuple):
    tp: int
    fp: int
    fn: int
    length: int


def pair_counts(pred: np.ndarray, ref: np.ndarray, length: int) -> PairCounts:
    """Count true positives, false positives and false negatives of pair lists ``[P, 2]``."""
    p = np.asarray(pred, dtype=np.int64).reshape(-1, 2)
    r = np.asarray(ref, dtype=np.int64).reshape(-1, 2)
    key_p = np.unique(np.minimum(p[:, 0], p[:, 1]) * length + np.maximum(p[:, 0], p[:, 1]))
    key_r = np.unique(np.minimum(r[:, 0], r[:, 1]) * length + np.maximum(r[:, 0], r[:, 1]))
    tp = int(np.intersect1d(key_p, key_r, assume_unique=True).size)
    return PairCounts(tp, len(key_p) - tp, len(key_r) - tp, length)


def scores(c: PairCounts) -> dict[str, float]:
    """Precision, recall, F1 and MCC of one sequence's counts (empty-set conventions above)."""
    n_pred, n_ref = c.tp + c.fp, c.tp + c.fn
    if n_pred == 0 and n_ref == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}
    if n_pred == 0 or n_ref == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "mcc": 0.0}
    precision, recall = c.tp / n_pred, c.tp / n_ref
    f1 = 2 * precision * recall / (precision + recall) if c.tp else 0.0
    tn = c.length * (c.length - 1) // 2 - c.tp - c.fp - c.fn
    denom = math.sqrt((c.tp + c.fp) * (c.tp + c.fn) * (tn + c.fp) * (tn + c.fn))
    mcc = (c.tp * tn - c.fp * c.fn) / denom if denom else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "mcc": mcc}


def pair_scores(pred: np.ndarray, ref: np.ndarray, length: int) -> dict[str, float]:
    """``scores(pair_counts(pred, ref, length))``."""
    return scores(pair_counts(pred, ref, length))

"""Box-level evaluation of S1 proposals against true boxes: sensitivity per type (exact and
overlapping), sequences with every true box proposed, proposals per sequence and per true box,
for the three proposal methods at any threshold (SPEC section 5).

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map and covers rows ``bb_x .. bb_x +
siz_x - 1``, columns ``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases.

Scores are reduced once per sequence (``score_sequence``) so that any threshold is a vector
comparison afterwards: a box passes "n_proposal" at threshold ``t`` when its ``n_score`` (the
larger n_proposal_norm of its two methods, divided by ``hloop_factor`` for hairpins) is ``> t``,
and "p_on" at ``p`` when ``p_on_max >= p``. A true box is found when some proposal of its type
that matches it passes; "exact" = same box, "overlap" = intersection over union >= ``MIN_IOU``.

Pure numpy, no I/O.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..boxes import BOX_TYPES, Box

#: A proposal "overlaps" a true box of its type at this intersection over union or more.
MIN_IOU = 0.5
_NEVER = -1.0  # score of a true box that no proposal matches: below every threshold


def score_sequence(true_boxes: Iterable[Box], boxes: Mapping[str, np.ndarray],
                   hloop_factor: float = 0.5) -> dict[str, np.ndarray]:
    """One sequence's true boxes and per-box proposals (``infer.BOX_COLUMNS``) -> scores.

    Returns ``prop_type``, ``prop_n``, ``prop_p`` (per proposal) and ``true_type``,
    ``exact_n``, ``exact_p``, ``overlap_n``, ``overlap_p`` (per true box: the best score of the
    matching proposals, -1 when none matches). Pseudoknotted true boxes are left out (S1 has no
    targets for them)."""
    true_boxes = [b for b in true_boxes if not b.pseudoknot]
    t = np.asarray(boxes["type"])
    n_score = np.maximum(np.asarray(boxes["n_proposal_norm_sm"], np.float64),
                         np.asarray(boxes["n_proposal_norm_sl"], np.float64))
    if hloop_factor > 0:
        n_score = np.where(t == "hloop", n_score / hloop_factor, n_score)
    p_score = np.asarray(boxes["p_on_max"], np.float64)
    bx, by = np.asarray(boxes["bb_x"]), np.asarray(boxes["bb_y"])
    sx, sy = np.asarray(boxes["siz_x"]), np.asarray(boxes["siz_y"])
    out = {k: np.full(len(true_boxes), _NEVER) for k in ("exact_n", "exact_p", "overlap_n", "overlap_p")}
    for k, b in enumerate(true_boxes):
        same = t == b.type
        exact = same & (bx == b.bb_x) & (by == b.bb_y) & (sx == b.siz_x) & (sy == b.siz_y)
        # rows bb_x .. bb_x + siz_x - 1 and columns bb_y - siz_y + 1 .. bb_y of both boxes
        rows = np.minimum(bx + sx, b.bb_x + b.siz_x) - np.maximum(bx, b.bb_x)
        cols = np.minimum(by, b.bb_y) - np.maximum(by - sy, b.bb_y - b.siz_y)
        inter = np.clip(rows, 0, None) * np.clip(cols, 0, None)
        iou = inter / (sx * sy + b.siz_x * b.siz_y - inter)
        overlap = same & (iou >= MIN_IOU)
        for name, match in (("exact", exact), ("overlap", overlap)):
            if match.any():
                out[f"{name}_n"][k] = n_score[match].max()
                out[f"{name}_p"][k] = p_score[match].max()
    return {"prop_type": t.astype("<U5"), "prop_n": n_score, "prop_p": p_score,
            "true_type": np.array([b.type for b in true_boxes], dtype="<U5"), **out}


def join_scores(per_sequence: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate ``score_sequence`` results, adding ``prop_seq`` / ``true_seq`` indices."""
    out = {k: np.concatenate([s[k] for s in per_sequence]) if per_sequence else np.zeros(0)
           for k in ("prop_type", "prop_n", "prop_p", "true_type", "exact_n", "exact_p",
                     "overlap_n", "overlap_p")}
    out["prop_seq"] = np.repeat(np.arange(len(per_sequence)), [len(s["prop_n"]) for s in per_sequence])
    out["true_seq"] = np.repeat(np.arange(len(per_sequence)), [len(s["exact_n"]) for s in per_sequence])
    out["n_sequences"] = np.array(len(per_sequence))
    return out


def _passes(n: np.ndarray, p: np.ndarray, method: str, threshold: float, p_on: float) -> np.ndarray:
    by_n, by_p = n > threshold, p >= p_on
    return {"n_proposal": by_n, "p_on": by_p, "union": by_n | by_p}[method]


def summarize(scores: Mapping[str, np.ndarray], method: str, threshold: float, p_on: float) -> dict:
    """Metrics of one method at one setting over all sequences of ``join_scores``:
    ``sens_<type>`` (exact) and ``sens_<type>_overlap`` per type, ``all_found`` (share of
    sequences with every true box proposed exactly), ``proposals_per_seq``,
    ``proposals_per_true_box``, and the counts."""
    n_seq = int(scores["n_sequences"])
    kept = _passes(scores["prop_n"], scores["prop_p"], method, threshold, p_on)
    exact = _passes(scores["exact_n"], scores["exact_p"], method, threshold, p_on)
    overlap = _passes(scores["overlap_n"], scores["overlap_p"], method, threshold, p_on)
    row = {"method": method, "threshold": threshold, "p_on": p_on}
    for t in BOX_TYPES:
        of_type = scores["true_type"] == t
        total = int(of_type.sum())
        row[f"sens_{t}"] = float(exact[of_type].mean()) if total else float("nan")
        row[f"sens_{t}_overlap"] = float(overlap[of_type].mean()) if total else float("nan")
        row[f"true_{t}"] = total
    missed = np.bincount(scores["true_seq"][~exact], minlength=n_seq)
    row["all_found"] = float((missed == 0).mean()) if n_seq else float("nan")
    row["proposals_per_seq"] = float(kept.sum() / n_seq) if n_seq else float("nan")
    n_true = len(scores["true_type"])
    row["proposals_per_true_box"] = float(kept.sum() / n_true) if n_true else float("nan")
    row["sequences"] = n_seq
    return row


#: Threshold grids of the sensitivity curves: n_proposal_norm, p_on; "union" walks both
#: together (k-th threshold with k-th p_on).
CURVE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
CURVE_P_ON = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def curves(scores: Mapping[str, np.ndarray], min_threshold: float = 0.0, min_p_on: float = 0.0,
           default_threshold: float = 0.2, default_p_on: float = 0.1) -> list[dict]:
    """``summarize`` over the grids, for each method. Settings below what the proposals were
    already filtered with (``min_threshold``, ``min_p_on``) are skipped, since the boxes they
    would add are gone; the other method's value is held at its default."""
    rows = []
    for thr in CURVE_THRESHOLDS:
        if thr >= min_threshold:
            rows.append(summarize(scores, "n_proposal", thr, default_p_on))
    for p in CURVE_P_ON:
        if p >= min_p_on:
            rows.append(summarize(scores, "p_on", default_threshold, p))
    for thr, p in zip(CURVE_THRESHOLDS, CURVE_P_ON):
        if thr >= min_threshold and p >= min_p_on:
            rows.append(summarize(scores, "union", thr, p))
    return rows

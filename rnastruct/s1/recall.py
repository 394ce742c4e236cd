"""Box-level evaluation of S1 proposals against true boxes: sensitivity per type (exact and
overlapping), sequences with every true box proposed, proposals per sequence and per true box,
for the three proposal methods at any threshold (SPEC section 5).

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map and covers rows ``bb_x .. bb_x +
siz_x - 1``, columns ``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases.

Scores are reduced once per sequence (``score_sequence``) so that any threshold is a vector
comparison afterwards: a box passes "n_proposal" (or "vote") at threshold ``t`` when its
``n_score`` (``prune.box_score``: the soft vote over the area when votes were computed, else the
larger n_proposal_norm of its two methods; divided by ``hloop_factor`` for hairpins) is ``> t``,
and "p_on" at ``p`` when ``p_on_max >= p``; under a budget of ``per_nt`` proposals per
nucleotide, only a sequence's ``ceil(per_nt * L)`` best by ``n_score`` count (``prune
--max-per-nt``). A true box is found when some proposal of its type that matches it passes;
"exact" = same box, "overlap" = intersection over union >= ``MIN_IOU``.

Pure numpy, no I/O.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..boxes import BOX_TYPES, Box
from .prune import box_score

#: A proposal "overlaps" a true box of its type at this intersection over union or more.
MIN_IOU = 0.5
_NEVER = -1.0  # score of a true box that no proposal matches: below every threshold


def score_sequence(true_boxes: Iterable[Box], boxes: Mapping[str, np.ndarray],
                   hloop_factor: float = 0.5, length: int = 0) -> dict[str, np.ndarray]:
    """One sequence (of ``length`` nt) -> its true boxes and per-box proposals
    (``infer.BOX_COLUMNS``) -> scores.

    Returns ``prop_type``, ``prop_n``, ``prop_p``, ``prop_rank`` (per proposal; the rank is by
    ``prop_n``, best first) and ``true_type``, ``exact_n``, ``exact_p``, ``overlap_n``,
    ``overlap_p`` (per true box: the best score of the matching proposals, -1 when none
    matches), ``exact_rank``, ``overlap_rank`` (the best rank among them; the number of
    proposals when none matches) and ``length``. Pseudoknotted true boxes are left out (S1 has
    no targets for them)."""
    true_boxes = [b for b in true_boxes if not b.pseudoknot]
    t = np.asarray(boxes["type"])
    n_score = box_score(boxes, hloop_factor)
    p_score = np.asarray(boxes["p_on_max"], np.float64)
    rank = np.empty(len(t), dtype=np.int64)
    rank[np.argsort(-n_score, kind="stable")] = np.arange(len(t))  # prune.top_per_nt's order
    bx, by = np.asarray(boxes["bb_x"]), np.asarray(boxes["bb_y"])
    sx, sy = np.asarray(boxes["siz_x"]), np.asarray(boxes["siz_y"])
    out = {k: np.full(len(true_boxes), _NEVER) for k in ("exact_n", "exact_p", "overlap_n", "overlap_p")}
    out.update({k: np.full(len(true_boxes), len(t), dtype=np.int64) for k in ("exact_rank", "overlap_rank")})
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
                out[f"{name}_rank"][k] = rank[match].min()
    return {"prop_type": t.astype("<U5"), "prop_n": n_score, "prop_p": p_score, "prop_rank": rank,
            "true_type": np.array([b.type for b in true_boxes], dtype="<U5"), **out,
            "length": np.array(length)}


def join_scores(per_sequence: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate ``score_sequence`` results, adding ``prop_seq`` / ``true_seq`` indices."""
    out = {k: np.concatenate([s[k] for s in per_sequence]) if per_sequence else np.zeros(0)
           for k in ("prop_type", "prop_n", "prop_p", "prop_rank", "true_type", "exact_n", "exact_p",
                     "overlap_n", "overlap_p", "exact_rank", "overlap_rank")}
    out["length"] = np.array([int(s["length"]) for s in per_sequence], dtype=np.int64)
    out["prop_seq"] = np.repeat(np.arange(len(per_sequence)), [len(s["prop_n"]) for s in per_sequence])
    out["true_seq"] = np.repeat(np.arange(len(per_sequence)), [len(s["exact_n"]) for s in per_sequence])
    out["n_sequences"] = np.array(len(per_sequence))
    return out


def _passes(n: np.ndarray, p: np.ndarray, method: str, threshold: float, p_on: float) -> np.ndarray:
    by_n, by_p = n > threshold, p >= p_on
    return {"n_proposal": by_n, "p_on": by_p, "union": by_n | by_p, "vote": by_n}[method]


def summarize(scores: Mapping[str, np.ndarray], method: str, threshold: float, p_on: float,
              per_nt: float | None = None) -> dict:
    """Metrics of one method at one setting over all sequences of ``join_scores``:
    ``sens_<type>`` (exact) and ``sens_<type>_overlap`` per type, ``all_found`` (share of
    sequences with every true box proposed exactly), ``proposals_per_seq``,
    ``proposals_per_true_box``, and the counts. ``per_nt``: also a budget of that many
    proposals per nucleotide, the best by ``n_score``; ranks are among all the stored
    proposals, so give the thresholds the proposals were stored with (all of them pass)."""
    n_seq = int(scores["n_sequences"])
    kept = _passes(scores["prop_n"], scores["prop_p"], method, threshold, p_on)
    exact = _passes(scores["exact_n"], scores["exact_p"], method, threshold, p_on)
    overlap = _passes(scores["overlap_n"], scores["overlap_p"], method, threshold, p_on)
    if per_nt is not None:
        budget = np.ceil(per_nt * scores["length"]).astype(np.int64)  # [n_seq]
        kept &= scores["prop_rank"] < budget[scores["prop_seq"]]
        exact &= scores["exact_rank"] < budget[scores["true_seq"]]
        overlap &= scores["overlap_rank"] < budget[scores["true_seq"]]
    row = {"method": method, "threshold": threshold, "p_on": p_on,
           "per_nt": float("nan") if per_nt is None else per_nt}
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
#: together (k-th threshold with k-th p_on); budgets (proposals per nucleotide).
CURVE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
CURVE_P_ON = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
CURVE_PER_NT = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
#: vote_norm thresholds: votes from second choices are small, so the grid starts far lower
CURVE_VOTE = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def curves(scores: Mapping[str, np.ndarray], min_threshold: float = 0.0, min_p_on: float = 0.0,
           default_threshold: float = 0.2, default_p_on: float = 0.1, method: str = "union") -> list[dict]:
    """``summarize`` over the grids, for each method. Settings below what the proposals were
    already filtered with (``min_threshold``, ``min_p_on``) are skipped, since the boxes they
    would add are gone; the other method's value is held at its default. Proposals stored by
    "vote": its threshold grid, and for every method the budgets at the stored setting."""
    budgets = [summarize(scores, method, default_threshold, default_p_on, per_nt) for per_nt in CURVE_PER_NT]
    if method == "vote":
        return [summarize(scores, "vote", thr, default_p_on) for thr in CURVE_VOTE
                if thr >= min_threshold] + budgets
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
    return rows + budgets

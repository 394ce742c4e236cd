"""Pruning S1 proposals that cannot be part of any secondary structure (SPEC section 5).

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map (row = 5' base ``i``, column = 3' base
``j``, ``i < j``) and covers rows ``bb_x .. bb_x + siz_x - 1``, columns ``bb_y - siz_y + 1 ..
bb_y``; sizes include the closing bases; a stem's pairs are ``(bb_x + k, bb_y - k)``; a hairpin
box sits on the diagonal (``bb_x + siz_x - 1 == bb_y``).

Pure numpy over per-box tables (``infer.BOX_COLUMNS``), no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..structure import canonical_map


PRUNE_REASONS = ("geometry", "non_canonical_stem", "small_hairpin", "few_pixels", "low_prob", "over_budget")


@dataclass
class PruneConfig:
    """Every rule with the original's default (model_utils/prune_stage_1.py in the notebook:
    ``--discard_ns_stem --min_hloop_size 3 --min_pixel_pred 0 --min_prob 0``)."""

    discard_ns_stem: bool = True  # drop stems with any pair outside AU/UA/GC/CG/GU/UG
    min_hloop_size: int = 3  # box units: 3 = closing pair + at least one unpaired base
    min_pixel_pred: int = 0  # drop boxes proposed by fewer pixels (either method); 0 = off
    min_prob: float = 0.0  # drop boxes whose median probability (best method) is lower; 0 = off
    # ours: keep at most ceil(max_per_nt * L) boxes per sequence, the best by box_score (after
    # the other rules, so the budget is not spent on boxes they drop); 0 = off
    max_per_nt: float = 0.0
    hloop_factor: float = 0.5  # box_score's hairpin scaling (the proposals' own, ProposalConfig)

    @property
    def geometry_only(self) -> bool:
        """Every rule reads the box alone (no pixel counts, probabilities or scores)."""
        return self.min_pixel_pred == 0 and self.min_prob == 0 and self.max_per_nt == 0

    def validate(self) -> None:
        if self.max_per_nt < 0 or self.hloop_factor <= 0 or self.min_pixel_pred < 0 or self.min_prob < 0:
            raise ValueError("max_per_nt, min_pixel_pred and min_prob must be >= 0 and hloop_factor > 0")


def box_score(boxes: Mapping[str, np.ndarray], hloop_factor: float = 0.5) -> np.ndarray:
    """How strongly S1 proposes each box of a per-box table (``infer.BOX_COLUMNS``): its soft
    vote over its area (``vote_norm``) when votes were computed, else the larger
    ``n_proposal_norm`` of its two methods; hairpins divided by ``hloop_factor``, since only the
    upper half of their box can propose. What thresholds compare and budgets rank."""
    t = np.asarray(boxes["type"])
    vote = (np.asarray(boxes["vote_norm"], dtype=np.float64) if "vote_norm" in boxes
            else np.full(len(t), np.nan))
    norm = np.maximum(np.asarray(boxes["n_proposal_norm_sm"], dtype=np.float64),
                      np.asarray(boxes["n_proposal_norm_sl"], dtype=np.float64))
    score = np.where(np.isnan(vote), norm, vote)
    return np.where(t == "hloop", score / hloop_factor, score)


def top_per_nt(score: np.ndarray, keep: np.ndarray, length: int, per_nt: float) -> np.ndarray:
    """``keep`` narrowed to the ``ceil(per_nt * length)`` kept rows of highest ``score`` (ties:
    the earlier row)."""
    budget = int(np.ceil(per_nt * length))
    idx = np.flatnonzero(keep)
    out = np.zeros_like(keep)
    out[idx[np.argsort(-score[idx], kind="stable")[:budget]]] = True
    return out


def prune_reasons(boxes: Mapping[str, np.ndarray], seq: str, cfg: PruneConfig) -> np.ndarray:
    """Per box, the first rule of ``PRUNE_REASONS`` that drops it, or "" when it is kept.

    ``boxes``: a per-box table (``type``, ``bb_x``, ``bb_y``, ``siz_x``, ``siz_y``, and for the
    optional filters ``n_proposal_sm/_sl``, ``prob_median_sm/_sl``, and for the budget
    ``n_proposal_norm_sm/_sl`` and ``vote_norm``); box convention as in the module docstring.
    Geometry ("out of range") drops boxes outside the sequence or the upper triangle,
    non-square stems and hairpins, hairpins off the diagonal, and internal loops without two
    distinct closing pairs or without an unpaired base. The budget (``max_per_nt``) comes
    last, so the boxes other rules drop do not spend it.
    """
    L = len(seq)
    t = np.asarray(boxes["type"])
    bx, by = np.asarray(boxes["bb_x"], np.int64), np.asarray(boxes["bb_y"], np.int64)
    sx, sy = np.asarray(boxes["siz_x"], np.int64), np.asarray(boxes["siz_y"], np.int64)
    ok = geometry_ok(t, bx, by, sx, sy, L)
    reason = np.where(ok, "", "geometry").astype("<U20")
    stem, hloop = t == "stem", t == "hloop"
    if cfg.discard_ns_stem:
        idx = np.flatnonzero(stem & ok)
        bad = np.zeros(len(t), dtype=bool)
        if len(idx):
            bad[idx] = StemPairs(seq).non_canonical(bx[idx], by[idx], sx[idx])
        reason[(reason == "") & bad] = "non_canonical_stem"
    reason[(reason == "") & hloop & (sx < cfg.min_hloop_size)] = "small_hairpin"
    if cfg.min_pixel_pred > 0:
        pixels = np.maximum(np.asarray(boxes["n_proposal_sm"]), np.asarray(boxes["n_proposal_sl"]))
        reason[(reason == "") & (pixels < cfg.min_pixel_pred)] = "few_pixels"
    if cfg.min_prob > 0:
        prob = np.maximum(np.asarray(boxes["prob_median_sm"]), np.asarray(boxes["prob_median_sl"]))
        reason[(reason == "") & (prob < cfg.min_prob)] = "low_prob"
    if cfg.max_per_nt > 0:
        kept = reason == ""
        best = top_per_nt(box_score(boxes, cfg.hloop_factor), kept, L, cfg.max_per_nt)
        reason[kept & ~best] = "over_budget"
    return reason


def geometry_ok(types, bx: np.ndarray, by: np.ndarray, sx: np.ndarray, sy: np.ndarray, length: int) -> np.ndarray:
    """Bool per box: inside the sequence and the upper triangle, stems and hairpins square,
    hairpins on the diagonal and the rest above it, internal loops with two distinct closing
    pairs and an unpaired base. ``types``: one type name for all boxes or one per box; box
    convention as in the module docstring."""
    t = np.asarray(types)
    stem, iloop, hloop = t == "stem", t == "iloop", t == "hloop"
    blx, bly = bx + sx - 1, by - sy + 1  # bottom-left corner
    ok = (sx >= 1) & (sy >= 1) & (bx >= 0) & (by < length) & (bx < by) & (stem | iloop | hloop)
    ok &= np.where(hloop, blx == by, blx < bly)  # hairpins on the diagonal, the rest above it
    ok &= np.where(stem | hloop, sx == sy, True)
    ok &= np.where(iloop, (sx >= 2) & (sy >= 2) & (sx + sy >= 5), True)
    return ok


class StemPairs:
    """Stems as runs on the pair map, for one sequence: which are non-canonical, and which
    pairs a set of them covers, in O(1) per stem rather than per pair.

    A stem's pairs ``(bb_x + k, bb_y - k)`` lie on one anti-diagonal. Laid out flat with rows of
    ``L + 1`` (the extra column a separator), a step down-left is a step of ``L`` in the flat
    index, so reshaped to ``[L + 1, L]`` every stem is a run down one column: rows ``r .. r +
    size - 1`` of column ``c`` with ``(r, c) = divmod(bb_x * (L + 1) + bb_y, L)``. Counting
    non-canonical pairs in a run is then a difference of column prefix sums, and the union
    of runs a difference array. Memory: a few ``L x L`` int arrays. Stems must be in range
    (``geometry_ok``)."""

    def __init__(self, seq: str):
        L = self.L = len(seq)
        bad = np.ones((L, L + 1), dtype=bool)  # the separator column is never a pair
        bad[:, :L] = ~canonical_map(seq)
        self._prefix = np.zeros((L + 2, L), dtype=np.int32)
        np.cumsum(bad.reshape(L + 1, L), axis=0, out=self._prefix[1:])  # [L + 2, L]

    def _runs(self, bx: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.divmod(bx * (self.L + 1) + by, self.L)

    def non_canonical(self, bx: np.ndarray, by: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Bool per stem ``(bb_x, bb_y, size)``: has a pair outside AU/GC/GU."""
        r, c = self._runs(bx, by)
        return self._prefix[r + size, c] > self._prefix[r, c]

    def covered(self, bx: np.ndarray, by: np.ndarray, size: np.ndarray) -> np.ndarray:
        """``[L, L]`` bool: the pairs of any of the stems ``(bb_x, bb_y, size)``."""
        L = self.L
        r, c = self._runs(bx, by)
        n = (L + 2) * L
        delta = np.bincount(r * L + c, minlength=n) - np.bincount((r + size) * L + c, minlength=n)
        runs = np.cumsum(delta.reshape(L + 2, L), axis=0) > 0  # [L + 2, L]
        return runs.reshape(-1)[: L * (L + 1)].reshape(L, L + 1)[:, :L]


def prune(boxes: Mapping[str, np.ndarray], seq: str, cfg: PruneConfig) -> dict[str, np.ndarray]:
    """The rows of ``boxes`` that ``prune_reasons`` keeps (same columns, same order)."""
    keep = prune_reasons(boxes, seq, cfg) == ""
    return {c: np.asarray(v)[keep] for c, v in boxes.items()}

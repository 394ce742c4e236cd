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


PRUNE_REASONS = ("geometry", "non_canonical_stem", "small_hairpin", "few_pixels", "low_prob")


@dataclass
class PruneConfig:
    """Every rule with the original's default (model_utils/prune_stage_1.py in the notebook:
    ``--discard_ns_stem --min_hloop_size 3 --min_pixel_pred 0 --min_prob 0``)."""

    discard_ns_stem: bool = True  # drop stems with any pair outside AU/UA/GC/CG/GU/UG
    min_hloop_size: int = 3  # box units: 3 = closing pair + at least one unpaired base
    min_pixel_pred: int = 0  # drop boxes proposed by fewer pixels (either method); 0 = off
    min_prob: float = 0.0  # drop boxes whose median probability (best method) is lower; 0 = off


def prune_reasons(boxes: Mapping[str, np.ndarray], seq: str, cfg: PruneConfig) -> np.ndarray:
    """Per box, the first rule of ``PRUNE_REASONS`` that drops it, or "" when it is kept.

    ``boxes``: a per-box table (``type``, ``bb_x``, ``bb_y``, ``siz_x``, ``siz_y``, and for the
    optional filters ``n_proposal_sm/_sl`` and ``prob_median_sm/_sl``); box convention as in the
    module docstring. Geometry ("out of range") drops boxes outside the sequence or the upper
    triangle, non-square stems and hairpins, hairpins off the diagonal, and internal loops
    without two distinct closing pairs or without an unpaired base.
    """
    L = len(seq)
    t = np.asarray(boxes["type"])
    bx, by = np.asarray(boxes["bb_x"], np.int64), np.asarray(boxes["bb_y"], np.int64)
    sx, sy = np.asarray(boxes["siz_x"], np.int64), np.asarray(boxes["siz_y"], np.int64)
    blx, bly = bx + sx - 1, by - sy + 1  # bottom-left corner
    stem, iloop, hloop = t == "stem", t == "iloop", t == "hloop"
    ok = (sx >= 1) & (sy >= 1) & (bx >= 0) & (by < L) & (bx < by) & (stem | iloop | hloop)
    ok &= np.where(hloop, blx == by, blx < bly)  # hairpins on the diagonal, the rest above it
    ok &= np.where(stem | hloop, sx == sy, True)
    ok &= np.where(iloop, (sx >= 2) & (sy >= 2) & (sx + sy >= 5), True)
    reason = np.where(ok, "", "geometry").astype("<U20")

    if cfg.discard_ns_stem:
        can_pair = canonical_map(seq)  # [L, L]
        idx = np.flatnonzero(stem & ok)
        sizes = sx[idx]
        k = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # 0..s-1 per stem
        i, j = np.repeat(bx[idx], sizes) + k, np.repeat(by[idx], sizes) - k
        bad_pair = ~can_pair[i, j]
        bad = np.zeros(len(t), dtype=bool)
        np.logical_or.at(bad, np.repeat(idx, sizes), bad_pair)
        reason[(reason == "") & bad] = "non_canonical_stem"
    reason[(reason == "") & hloop & (sx < cfg.min_hloop_size)] = "small_hairpin"
    if cfg.min_pixel_pred > 0:
        pixels = np.maximum(np.asarray(boxes["n_proposal_sm"]), np.asarray(boxes["n_proposal_sl"]))
        reason[(reason == "") & (pixels < cfg.min_pixel_pred)] = "few_pixels"
    if cfg.min_prob > 0:
        prob = np.maximum(np.asarray(boxes["prob_median_sm"]), np.asarray(boxes["prob_median_sl"]))
        reason[(reason == "") & (prob < cfg.min_prob)] = "low_prob"
    return reason


def prune(boxes: Mapping[str, np.ndarray], seq: str, cfg: PruneConfig) -> dict[str, np.ndarray]:
    """The rows of ``boxes`` that ``prune_reasons`` keeps (same columns, same order)."""
    keep = prune_reasons(boxes, seq, cfg) == ""
    return {c: np.asarray(v)[keep] for c, v in boxes.items()}

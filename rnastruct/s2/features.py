"""S2 inputs: per-box features of S1 proposals, and labels against the true structure.

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map and covers rows ``bb_x .. bb_x +
siz_x - 1``, columns ``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases.

Features (``FEATURES``, one row per box): the original 11 (type one-hot, the box, median
probability and n_proposal_norm of each proposal method), the other S1 statistics, the sequence
length, the ViennaRNA energy of the loop or stack the box forms, and Fourier features of both
corners so that attention can relate boxes that share a closing pair.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..boxes import BOX_TYPES
from ..folding import box_energies

_SCALAR = (
    "type_stem", "type_iloop", "type_hloop", "bb_x", "bb_y", "siz_x", "siz_y",
    "prob_median_sm", "prob_median_sl", "n_proposal_norm_sm", "n_proposal_norm_sl",  # the original 11
    "prob_max", "p_on_median", "p_on_max", "log_n_proposal_sm", "log_n_proposal_sl",
    "log_length", "span", "energy", "energy_per_base",
)
_FREQS = 2.0 ** np.arange(-1, 6)  # cycles per 100 nt: periods from 200 down to ~3 nt
_CORNERS = ("bb_x", "bb_y", "bl_x", "bl_y")
FEATURES = _SCALAR + tuple(f"{c}_{f}{k}" for c in _CORNERS for k in range(len(_FREQS)) for f in ("sin", "cos"))


def box_features(boxes: Mapping[str, np.ndarray], seq: str) -> np.ndarray:
    """Per-box table (``rnastruct.s1.infer.BOX_COLUMNS``) of one sequence -> ``[N, F]`` float32
    features in ``FEATURES`` order (positions scaled by 1/100 nt, sizes as log)."""
    L = len(seq)
    t = np.asarray(boxes["type"])
    n = len(t)
    bx, by = np.asarray(boxes["bb_x"], np.float64), np.asarray(boxes["bb_y"], np.float64)
    sx, sy = np.asarray(boxes["siz_x"], np.float64), np.asarray(boxes["siz_y"], np.float64)
    energy = np.asarray(box_energies(seq, t, boxes["bb_x"], boxes["bb_y"], boxes["siz_x"], boxes["siz_y"]),
                        np.float64) if n else np.zeros(0)
    cols = [(t == bt).astype(np.float64) for bt in BOX_TYPES]
    cols += [bx / 100, by / 100, np.log(sx), np.log(sy)]
    cols += [np.asarray(boxes[c], np.float64) for c in ("prob_median_sm", "prob_median_sl", "n_proposal_norm_sm",
                                                         "n_proposal_norm_sl", "prob_max", "p_on_median", "p_on_max")]
    cols += [np.log1p(np.asarray(boxes["n_proposal_sm"], np.float64)),
             np.log1p(np.asarray(boxes["n_proposal_sl"], np.float64)),
             np.full(n, np.log(max(L, 1)) / 5), (by - bx) / 100, energy / 10, energy / (sx + sy)]
    corners = np.stack([bx, by, bx + sx - 1, by - sy + 1], axis=1)  # [N, 4]
    angle = corners[:, :, None] * (2 * np.pi * _FREQS / 100)[None, None, :]  # [N, 4, F]
    four = np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(n, 4 * len(_FREQS) * 2)  # [N, 4 * F * 2]
    out = np.concatenate([np.stack(cols, axis=1) if n else np.zeros((0, len(_SCALAR))), four], axis=1)
    return out.astype(np.float32)


def box_labels(boxes: Mapping[str, np.ndarray], true_boxes) -> np.ndarray:
    """1 where a proposed box exactly matches a true box of the same type, else 0 (float32)."""
    truth = {tuple(b)[:5] for b in true_boxes if not getattr(b, "pseudoknot", False)}
    keys = zip(np.asarray(boxes["type"]).tolist(), *(np.asarray(boxes[c]).tolist()
                                                      for c in ("bb_x", "bb_y", "siz_x", "siz_y")))
    return np.array([k in truth for k in keys], dtype=np.float32)

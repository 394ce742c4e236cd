"""Learned scores as pseudo-energies: how S1's pair head enters ViennaRNA's dynamic programme.

S1's pair head gives each pixel ``(i, j)`` a logit, the learned log-odds that ``i`` pairs with
``j`` in a real structure. The decoder adds, to every canonical pair a structure forms,

    e(i, j) = -weight * (logit(i, j) - offset)    kcal/mol

on top of Turner 2004 (ViennaRNA soft constraints), so a pair the model believes in is cheaper
and one it doubts dearer, and the exact recursions (every loop type, dangles) do the rest. The
structure is then the MFE under these energies, or an ensemble decoding of their partition
function (MEA, centroid, ThreshKnot). ``weight``, ``offset`` and the decoding are chosen on
validation structures (bench/tune_learned.py) and travel in the S1 checkpoint as
``fold_energy``. Pure numpy: positions 0-based, pairs ``i < j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .structure import canonical_map

DECODINGS = ("mfe", "mea", "centroid", "threshknot")


@dataclass
class FoldEnergy:
    """How the fold decoder uses the learned pair scores (stored in the S1 checkpoint)."""

    weight: float = 0.0  # kcal/mol per logit unit (0 = plain Turner 2004)
    offset: float = 0.0  # logit at which a pair costs nothing extra
    decoding: str = "mfe"  # mfe | mea | centroid | threshknot
    gamma: float = 1.0  # MEA: weight of paired against unpaired bases
    threshold: float = 0.3  # ThreshKnot: least pair probability
    # the pair probabilities reported (--bpp, unpaired probabilities) are those of the ensemble
    # at this many times the thermal energy: a temperature fitted on validation structures so
    # that a pair given probability p is real about p of the time (bench/calibration.py)
    prob_scale: float = 1.0

    def validate(self) -> None:
        from .seqio import InputError

        if self.decoding not in DECODINGS:
            raise InputError(f"unknown decoding {self.decoding!r}: expected one of {', '.join(DECODINGS)}")
        if not (self.weight >= 0 and self.gamma > 0 and 0 < self.threshold <= 1 and self.prob_scale > 0):
            raise InputError(f"weight must be >= 0, gamma > 0 and threshold in (0, 1]; got {self.weight}, "
                             f"{self.gamma}, {self.threshold}")


def pair_pseudo_energies(logits: np.ndarray, seq: str, weight: float, offset: float) -> np.ndarray:
    """Pair logits ``[L, L]`` -> pseudo-energies ``[L, L]`` float64 (kcal/mol): ``-weight *
    (logit - offset)`` for canonical pairs ``i < j``, 0 elsewhere (ViennaRNA never forms those)."""
    L = len(seq)
    if logits.shape != (L, L):
        raise ValueError(f"logits of shape {logits.shape} for a sequence of length {L}")
    energy = -weight * (logits.astype(np.float64) - offset)  # [L, L]
    return np.where(np.triu(canonical_map(seq), 1), energy, 0.0)


def threshknot(probs: np.ndarray, threshold: float) -> np.ndarray:
    """ThreshKnot (Zhang et al. 2019): pairs ``(i, j)`` with probability >= ``threshold`` that
    are the most probable pair of both ``i`` and ``j`` -> ``[P, 2]``, may cross. ``probs``:
    ``[L, L]`` symmetric or upper-triangular."""
    P = np.triu(probs, 1)
    P = P + P.T  # [L, L] symmetric
    best = P.argmax(axis=1)  # [L]
    i, j = np.nonzero(np.triu(P >= threshold, 1))
    keep = (best[i] == j) & (best[j] == i)
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64).reshape(-1, 2)

"""The energy model: how learned scores enter ViennaRNA's dynamic programme as pseudo-energies.

S1's pair head gives each pixel ``(i, j)`` a logit, the learned log-odds that ``i`` pairs with
``j`` in a real structure. ``FoldEnergy`` adds, to every canonical pair a structure forms,

    e(i, j) = -weight * (logit(i, j) - offset)    kcal/mol

on top of Turner 2004 (ViennaRNA soft constraints), so a pair the model believes in is cheaper
and one it doubts dearer, and the exact recursions (every loop type, dangles) do the rest. The
structure is then the MFE under these energies, or an ensemble decoding of their partition
function (MEA, centroid, ThreshKnot). ``weight``, ``offset`` and the decoding are chosen on
validation structures and travel in the S1 checkpoint as ``fold_energy``.

A pair the model rules out firmly (``e(i, j) >= prune`` kcal/mol) is not priced but forbidden:
the recursions skip it, which is where the two-stage design pays off in time, and the
threshold is chosen on validation structures so that accuracy does not drop
(``rnastruct tune-prune``).

S2 can add its own term: each pair of a proposed stem box gets

    e2(i, j) = -s2_weight * clip(s(i, j) - s2_offset, -10, 10)    kcal/mol

where ``s(i, j)`` is S2's log-odds of the best-scored stem box holding the pair (pairs in no
proposed stem get nothing), so S2's view of whole stems, in the context of every other box,
enters the same dynamic programme. Pure numpy: positions 0-based, pairs ``i < j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .structure import CANONICAL_PAIRS, canonical_map

DECODINGS = ("mfe", "mea", "centroid", "threshknot")


@dataclass
class FoldEnergy:
    """The energy model: how the fold decoder turns learned scores into pseudo-energies
    (``pseudo_energies``), and how it decodes (stored in the S1 checkpoint as ``fold_energy``)."""

    weight: float = 0.0  # kcal/mol per logit unit (0 = plain Turner 2004)
    offset: float = 0.0  # logit at which a pair costs nothing extra
    decoding: str = "mfe"  # mfe | mea | centroid | threshknot
    gamma: float = 1.0  # MEA: weight of paired against unpaired bases
    threshold: float = 0.3  # ThreshKnot: least pair probability
    # the pair probabilities reported (--bpp, unpaired probabilities) are those of the ensemble
    # at this many times the thermal energy: a temperature fitted on validation structures so
    # that a pair given probability p is real about p of the time (``rnastruct calibrate``)
    prob_scale: float = 1.0
    # S2's term (see the module docstring): kcal/mol per log-odds unit, and the log-odds at
    # which a stem's pairs cost nothing extra (0 = S2 unused)
    s2_weight: float = 0.0
    s2_offset: float = 0.0
    s2_max_boxes: int = 256  # boxes S2 sees per sequence, the best supported (as in its training data)
    # pairs whose pseudo-energy is at least this (kcal/mol) are forbidden outright (``pruned``):
    # the dynamic programme skips them, which halves its time, and on validation structures the
    # pairs the model rules out this firmly are almost never real (None: every pair kept)
    prune: float | None = None

    def validate(self) -> None:
        from .errors import InputError

        if self.decoding not in DECODINGS:
            raise InputError(f"unknown decoding {self.decoding!r}: expected one of {', '.join(DECODINGS)}")
        # each named by itself: a user who set gamma must not read about weights they never set
        for name, ok, want in (("weight", self.weight >= 0, ">= 0"), ("s2_weight", self.s2_weight >= 0, ">= 0"),
                               ("gamma", self.gamma > 0, "> 0"), ("threshold", 0 < self.threshold <= 1, "in (0, 1]"),
                               ("prob_scale", self.prob_scale > 0, "> 0"),
                               ("prune", self.prune is None or self.prune >= 0, ">= 0 or unset")):
            if not ok:
                raise InputError(f"{name} must be {want}, got {getattr(self, name)}")

    def pair_energies(self, logits: np.ndarray, seq: str) -> np.ndarray:
        """Pair logits ``[L, L]`` -> pseudo-energies ``[L, L]`` float64 (kcal/mol): ``-weight *
        (logit - offset)`` for canonical pairs ``i < j``, 0 elsewhere (ViennaRNA never forms
        those)."""
        L = len(seq)
        if logits.shape != (L, L):
            raise ValueError(f"logits of shape {logits.shape} for a sequence of length {L}")
        energy = pair_term(logits.astype(np.float64), self.weight, self.offset)  # [L, L]
        return np.where(np.triu(canonical_map(seq), 1), energy, 0.0)

    def pair_energy_list(self, logits: np.ndarray, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """``pair_energies`` as a list: pair logits ``[L, L]``, or their band ``[L, W + 1]``
        (``band[i, d]`` for the pair ``(i, i + d)``, as ``S1Predictor.pair_logits`` gives under a
        span limit) -> ``(pairs [K, 2], energies [K])`` for the canonical pairs ``i + 4 <= j``
        (within the band; ViennaRNA forms no closer one), float64 as the map's. A tenth of the
        map's memory at 3,000 nt, and what a band needs."""
        L, width = logits.shape
        if L != len(seq):
            raise ValueError(f"logits of shape {logits.shape} for a sequence of length {len(seq)}")
        codes = np.frombuffer(seq.upper().replace("T", "U").encode(), dtype=np.uint8)
        if width == L:  # the whole map: every pair i + 4 <= j
            i, j = np.nonzero(np.triu(_CAN_PAIR[codes[:, None], codes[None, :]], 4))
            scores = logits[i, j]
        else:
            i, d = np.nonzero(np.ones((L, width), dtype=bool))  # row-major: sorted by i, then j
            keep = (d >= 4) & (i + d < L)
            i, d = i[keep], d[keep]
            canonical = _CAN_PAIR[codes[i], codes[i + d]]
            i, d = i[canonical], d[canonical]
            j, scores = i + d, logits[i, d]
        energy = pair_term(scores.astype(np.float64), self.weight, self.offset)
        return np.stack([i, j], axis=1).astype(np.int64).reshape(-1, 2), energy

    def pruned(self, pseudo, seq: str) -> np.ndarray | None:
        """The pairs to forbid: those of ``pseudo`` (``pseudo_energies``' map ``[L, L]`` or
        ``pair_energy_list``'s list) whose pseudo-energy is at least ``prune`` -> ``[K, 2]``
        0-based, or None when ``prune`` is unset. Their energies stay in ``pseudo``: a
        constraint that forces one of them still prices it."""
        if self.prune is None or pseudo is None:
            return None
        if isinstance(pseudo, tuple):
            pairs, energy = pseudo
            return np.asarray(pairs, np.int64).reshape(-1, 2)[np.asarray(energy) >= self.prune]
        formable = np.triu(canonical_map(seq), 4)  # [L, L]: the pairs ViennaRNA could form
        return np.argwhere(formable & (pseudo >= self.prune))

    def kept(self, pseudo: tuple) -> tuple:
        """``pair_energy_list``'s list without the pairs ``pruned`` forbids (all of it when
        ``prune`` is unset): no structure holds those, so ViennaRNA need not price them, unless
        a constraint forces one."""
        if self.prune is None:
            return pseudo
        keep = np.asarray(pseudo[1]) < self.prune
        return np.asarray(pseudo[0]).reshape(-1, 2)[keep], np.asarray(pseudo[1])[keep]

    def stem_energies(self, best: np.ndarray) -> np.ndarray:
        """``stem_pair_scores`` -> S2's pseudo-energies ``[L, L]`` (kcal/mol): ``-s2_weight *
        clip(score - s2_offset, -10, 10)`` where a stem holds the pair, 0 elsewhere."""
        held = np.isfinite(best)
        return np.where(held, -self.s2_weight * np.clip(np.where(held, best, 0.0) - self.s2_offset, -10, 10), 0.0)

    def pseudo_energies(self, logits: np.ndarray | None, seq: str, stems: np.ndarray | None = None) -> np.ndarray | None:
        """Everything the learned scores add to Turner 2004 -> ``[L, L]`` kcal/mol, or None
        when nothing: the pair term (when ``weight`` is set) plus, with ``stems``
        (``stem_pair_scores``), S2's stem term."""
        energy = self.pair_energies(logits, seq) if self.weight else None
        if stems is not None:
            stem_energy = self.stem_energies(stems)  # [L, L]
            energy = stem_energy if energy is None else energy + stem_energy
        return energy


def pair_term(logits, weight, offset):
    """The learned pair pseudo-energy, ``-weight * (logit - offset)`` kcal/mol, of numpy arrays
    or of torch tensors (training differentiates it: ``s1.ensemble``)."""
    return -weight * (logits - offset)


#: [256, 256] bool over byte codes: the canonical pairs (AU UA GC CG GU UG)
_CAN_PAIR = np.zeros((256, 256), dtype=bool)
for _a, _b in CANONICAL_PAIRS:
    _CAN_PAIR[ord(_a), ord(_b)] = True


def stem_pair_scores(boxes, scores: np.ndarray, length: int) -> np.ndarray:
    """Proposed boxes (``BOX_COLUMNS`` table) and their S2 log-odds ``[N]`` -> ``[L, L]``: each
    pair's best score among the stem boxes holding it, ``-inf`` where none does. A stem box
    ``(bb_x, bb_y)`` of size ``n`` holds ``(bb_x + k, bb_y - k)``, ``k < n`` (``rnastruct.boxes``)."""
    t = np.asarray(boxes["type"])
    stem = t == "stem"
    x, y = np.asarray(boxes["bb_x"], np.int64)[stem], np.asarray(boxes["bb_y"], np.int64)[stem]
    n = np.maximum(np.minimum(np.asarray(boxes["siz_x"], np.int64)[stem],
                              np.asarray(boxes["siz_y"], np.int64)[stem]), 0)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # [P] step along each stem
    i, j = np.repeat(x, n) + k, np.repeat(y, n) - k
    score = np.repeat(np.asarray(scores, np.float64)[stem], n)
    ok = (i >= 0) & (i < j) & (j < length)
    best = np.full((length, length), -np.inf)
    np.maximum.at(best, (i[ok], j[ok]), score[ok])
    return best


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


def threshknot_rows(rows: np.ndarray, length: int, threshold: float) -> np.ndarray:
    """``threshknot`` from the likely pairs only: ``rows`` ``[K, 3]`` of ``(i, j, p)`` (0-based
    ``i < j``) holding at least every pair with ``p >= threshold`` (a pair below it can be
    neither chosen nor any chosen pair's rival) -> the same ``[P, 2]``, for maps too large to
    hold whole (a limited base-pair span)."""
    rows = np.asarray(rows, np.float64).reshape(-1, 3)
    rows = rows[rows[:, 2] >= threshold]
    i, j, p = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2]
    best_p = np.full(length, -1.0)
    np.maximum.at(best_p, i, p)
    np.maximum.at(best_p, j, p)
    # each base's most probable partner; ties go to the lower partner index, as argmax does
    best = np.full(length, length, dtype=np.int64)
    np.minimum.at(best, i, np.where(p == best_p[i], j, length))
    np.minimum.at(best, j, np.where(p == best_p[j], i, length))
    keep = (best[i] == j) & (best[j] == i)
    order = np.lexsort((j[keep], i[keep]))
    return np.stack([i[keep][order], j[keep][order]], axis=1).astype(np.int64).reshape(-1, 2)

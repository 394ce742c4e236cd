"""The one module that imports ViennaRNA.

Folding with default ViennaRNA (Turner 2004) parameters: MFE structure and free energy, the
ensemble frequency of the MFE structure, the ensemble diversity, and base-pair probabilities.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import RNA

from .structure import canonical_map

VIENNARNA_VERSION = RNA.__version__


class Fold(NamedTuple):
    structure: str  # dot-bracket of the MFE structure
    mfe: float  # kcal/mol
    mfe_freq: float  # ensemble frequency of the MFE structure, exp(-(mfe - G) / kT)
    ens_div: float  # ensemble diversity (mean base-pair distance); nan when not computed


_MODEL_DETAILS: dict[bool, "RNA.md"] = {}


def _model_details(bpp: bool) -> "RNA.md":
    """Default model details, made once per process (fold_compound copies them)."""
    if bpp not in _MODEL_DETAILS:
        md = RNA.md()
        md.compute_bpp = int(bpp)
        _MODEL_DETAILS[bpp] = md
    return _MODEL_DETAILS[bpp]


def fold(seq: str, partition: bool = True, ens_div: bool = True) -> Fold:
    """Fold one (normalised, ACGUN) sequence.

    ``partition=False`` computes the MFE only (mfe_freq and ens_div are nan). The ensemble
    diversity needs base-pair probabilities; with ``ens_div=False`` that pass is skipped, which
    is about 1.4x faster at L = 64 and gives the same mfe_freq.
    """
    fc = RNA.fold_compound(seq, _model_details(partition and ens_div))
    structure, mfe = fc.mfe()
    if not partition:
        return Fold(structure, round(float(mfe), 2), float("nan"), float("nan"))
    _partition_function(fc, mfe)
    freq = fc.pr_structure(structure)
    div = fc.mean_bp_distance() if ens_div else float("nan")
    # ViennaRNA works in integer dcal/mol; round away the float32 noise (-34.400002).
    return Fold(structure, round(float(mfe), 2), float(freq), float(div))


def _partition_function(fc: "RNA.fold_compound", mfe: float) -> None:
    # Rescale Boltzmann factors around the MFE so long sequences do not overflow.
    fc.exp_params_rescale(mfe)
    fc.pf()


def pair_probs(seq: str, cutoff: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base-pair probabilities of ``seq`` (normalised, ACGUN) in ViennaRNA's ensemble with
    default parameters -> ``(i, j, p)``: 0-based positions ``i < j`` (int32) of every pair with
    probability ``p >= cutoff`` (float32). What S1's auxiliary target is made of
    (``S1Config.pair_prob_weight``)."""
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    fc = RNA.fold_compound(seq, _model_details(True))
    _partition_function(fc, fc.mfe()[1])
    P = np.asarray(fc.bpp(), dtype=np.float32)[1:, 1:]  # [L, L]; ViennaRNA fills i < j only
    i, j = np.nonzero(np.triu(P, 1) >= cutoff)
    return i.astype(np.int32), j.astype(np.int32), P[i, j]


def energy_of_structure(seq: str, structure: str) -> float:
    """Free energy (kcal/mol) of ``structure`` on ``seq`` with default parameters."""
    return float(RNA.fold_compound(seq).eval_structure(structure))


#: Energy given to a loop ViennaRNA cannot form (a non-canonical closing pair), kcal/mol.
IMPOSSIBLE_ENERGY = 20.0


def box_energies(seq: str, types, bb_x, bb_y, siz_x, siz_y) -> "list[float]":
    """Free energy (kcal/mol, Turner 2004) of the loops each box forms on its own: a stem's
    stacked pairs, an internal loop between its two closing pairs, a hairpin closed by its
    corner. Box convention of ``rnastruct.boxes``: top-right corner ``(bb_x, bb_y)``, 0-based,
    sizes including closing bases. Loops ViennaRNA cannot form get ``IMPOSSIBLE_ENERGY``."""
    fc = RNA.fold_compound(seq, _model_details(False))
    L = len(seq)
    out = []
    for t, i, j, sx, sy in zip(types, bb_x, bb_y, siz_x, siz_y):
        i, j, sx, sy = int(i) + 1, int(j) + 1, int(sx), int(sy)  # ViennaRNA is 1-based
        inner_i, inner_j = i + sx - 1, j - sy + 1
        # ViennaRNA does not check indices (it crashes outside the sequence): only boxes inside
        # it, above the diagonal, with their closing pairs in order, are evaluated
        shape_ok = {"stem": inner_i < inner_j, "iloop": i < inner_i < inner_j < j,
                    "hloop": inner_i == j}.get(t, False)
        if not (1 <= i < j <= L and sx >= 1 and sy >= 1 and shape_ok):
            out.append(IMPOSSIBLE_ENERGY)
            continue
        if t == "stem":
            e = sum(fc.eval_int_loop(i + k, j - k, i + k + 1, j - k - 1) for k in range(sx - 1))
        elif t == "iloop":
            e = fc.eval_int_loop(i, j, i + sx - 1, j - sy + 1)
        else:
            e = fc.eval_hp_loop(i, j)
        out.append(min(e / 100.0, IMPOSSIBLE_ENERGY))
    return out


#: Hard-constraint option that forbids a pair: allowed in no loop context, and no conflicting
#: pair removed (the default would also forbid every pair sharing a base with it)
_FORBID = RNA.CONSTRAINT_CONTEXT_NONE | RNA.CONSTRAINT_CONTEXT_NO_REMOVE


def fold_within(seq: str, allowed, pseudo_energy=None) -> tuple[str, float]:
    """The MFE structure of ``seq`` among those whose pairs all lie in ``allowed``, and its free
    energy (kcal/mol, Turner 2004): ViennaRNA's exact dynamic programming (all loop types,
    dangles) with every other pair forbidden by a hard constraint. With every canonical pair
    allowed this is RNAfold's MFE.

    ``allowed``: 0-based pairs ``[P, 2]`` (``i < j``, each once), or an ``[L, L]`` bool map
    whose upper triangle says which pairs are allowed. ``pseudo_energy`` (``[P]`` kcal/mol,
    optional, with pairs only) is added to each allowed pair, and to the energy returned."""
    L = len(seq)
    allowed = np.asarray(allowed)
    formable = np.triu(canonical_map(seq), 4)  # [L, L]: pairs ViennaRNA could form at all
    if allowed.dtype == bool and allowed.shape == (L, L):
        if pseudo_energy is not None:
            raise ValueError("pseudo_energy needs the allowed pairs as a [P, 2] list")
        formable &= ~allowed
    else:
        allowed = allowed.astype(np.int64).reshape(-1, 2)
        if len(allowed) and (allowed.min() < 0 or allowed.max() >= L or (allowed[:, 0] >= allowed[:, 1]).any()):
            raise ValueError(f"allowed pairs must satisfy 0 <= i < j < {L}")
        formable[allowed[:, 0], allowed[:, 1]] = False
    fc = RNA.fold_compound(seq, _model_details(False))
    # a hard constraint lets the recursions skip a forbidden pair altogether (15% faster than
    # pricing it out with a soft one); only formable pairs need one, one call each
    for i, j in (np.argwhere(formable) + 1).tolist():  # ViennaRNA is 1-based
        fc.hc_add_bp(i, j, _FORBID)
    if pseudo_energy is not None:
        for (i, j), e in zip((allowed + 1).tolist(), np.asarray(pseudo_energy, np.float64).tolist()):
            fc.sc_add_bp(i, j, e)
    structure, energy = fc.mfe()
    return structure, round(float(energy), 2)


def svg_plot(seq: str, structure: str, path) -> None:
    """ViennaRNA's drawing of ``structure`` as an SVG file at ``path``."""
    if not RNA.svg_rna_plot(seq, structure, str(path)):
        raise RuntimeError(f"ViennaRNA could not draw {path}")

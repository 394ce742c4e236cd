"""The one module that imports ViennaRNA.

Every fold starts from ``compound``, the one place a ViennaRNA fold compound is made: Turner
2004 parameters, partition-function options and temperature scale, pairs outside an allowed set
forbidden, RNAfold hard constraints, learned pair pseudo-energies and SHAPE data as soft
constraints. On it: the MFE structure and free energy, the ensemble frequency of the MFE
structure, the ensemble diversity and base-pair probabilities (``fold``, ``pair_probs``, what
training data is made of); the fold decoder's MFE and ensemble decodings (``fold_within``,
``fold_full``); loop energies of boxes (``box_energies``); ViennaRNA's drawing of a structure.
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
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


#: Deigan et al. (2009) SHAPE pseudo-energy parameters (kcal/mol), RNAfold's defaults
SHAPE_SLOPE, SHAPE_INTERCEPT = 1.8, -0.6
_CONSTRAINT_OPTIONS = RNA.CONSTRAINT_DB_DEFAULT | RNA.CONSTRAINT_DB_ENFORCE_BP


def compound(seq: str, bpp: bool = False, beta_scale: float = 1.0, allowed=None, constraint: str | None = None,
             soft=None, shape: np.ndarray | None = None, shape_slope: float = SHAPE_SLOPE,
             shape_intercept: float = SHAPE_INTERCEPT, max_bp_span: int | None = None,
             forbid: np.ndarray | None = None) -> "RNA.fold_compound":
    """A ViennaRNA fold compound for ``seq`` (Turner 2004, default model details):

    - ``bpp``: base-pair probabilities are computed with the partition function;
    - ``beta_scale`` != 1: the ensemble at that many times the thermal energy;
    - ``allowed``: pairs outside it forbidden (as ``fold_within`` takes it), or None;
    - ``constraint``: RNAfold's dot-bracket hard constraint, pairs enforced;
    - ``soft``: pseudo-energies per pair as ``_soft_matrix`` gives them, or as ``_soft_list``
      gives them, set pair by pair, or None;
    - ``shape``: ``[L]`` SHAPE reactivities (NaN or negative = no data) as Deigan et al.'s
      pseudo-energies ``shape_slope * ln(r + 1) + shape_intercept`` per stacked pair;
    - ``max_bp_span``: no pair ``(i, j)`` with ``j - i`` above it (RNAfold's ``--maxBPspan``);
    - ``forbid``: ``[K, 2]`` 0-based pairs no structure may form (``FoldEnergy.pruned``), unless
      ``constraint`` forces one."""
    md = RNA.md()
    md.compute_bpp = int(bpp)
    if beta_scale != 1.0:
        md.betaScale = float(beta_scale)
    if max_bp_span is not None:
        md.max_bp_span = int(max_bp_span)
    fc = RNA.fold_compound(seq, md)
    if allowed is not None:
        _forbid_outside(fc, seq, allowed, max_bp_span=max_bp_span)
    if forbid is not None:
        _forbid(fc, forbid)
    if constraint is not None:  # after the forbidden pairs: a pair it forces is allowed again
        fc.hc_add_from_db(constraint, _CONSTRAINT_OPTIONS)
    if isinstance(soft, tuple):  # mapped, not a Python loop: 0.7 s for 1.7 million pairs
        deque(map(fc.sc_add_bp, *soft), maxlen=0)
    elif soft is not None:
        fc.sc_add_bp(soft)
    if shape is not None:
        data = np.where(np.isfinite(shape) & (np.asarray(shape) >= 0), shape, -999.0)  # ViennaRNA: < 0 = none
        fc.sc_add_SHAPE_deigan([-999.0] + data.astype(np.float64).tolist(), shape_slope, shape_intercept,
                               RNA.OPTION_DEFAULT)
    return fc


def fold(seq: str, partition: bool = True, ens_div: bool = True) -> Fold:
    """Fold one (normalised, ACGUN) sequence.

    ``partition=False`` computes the MFE only (mfe_freq and ens_div are nan). The ensemble
    diversity needs base-pair probabilities; with ``ens_div=False`` that pass is skipped, which
    is about 1.4x faster at L = 64 and gives the same mfe_freq.
    """
    fc = compound(seq, bpp=partition and ens_div)
    structure, mfe = fc.mfe()
    if not partition:
        return Fold(structure, round(float(mfe), 2), float("nan"), float("nan"))
    _partition(fc, mfe)
    freq = fc.pr_structure(structure)
    div = fc.mean_bp_distance() if ens_div else float("nan")
    # ViennaRNA works in integer dcal/mol; round away the float32 noise (-34.400002).
    return Fold(structure, round(float(mfe), 2), float(freq), float(div))


def pair_probs(seq: str, cutoff: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base-pair probabilities of ``seq`` (normalised, ACGUN) in ViennaRNA's ensemble with
    default parameters -> ``(i, j, p)``: 0-based positions ``i < j`` (int32) of every pair with
    probability ``p >= cutoff`` (float32). What S1's auxiliary target is made of
    (``S1Config.pair_prob_weight``)."""
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    fc = compound(seq, bpp=True)
    _partition(fc, fc.mfe()[1])
    P = np.asarray(fc.bpp(), dtype=np.float32)[1:, 1:]  # [L, L]; ViennaRNA fills i < j only
    i, j = np.nonzero(np.triu(P, 1) >= cutoff)
    return i.astype(np.int32), j.astype(np.int32), P[i, j]


def energy_of_structure(seq: str, structure: str) -> float:
    """Free energy (kcal/mol) of ``structure`` on ``seq`` with default parameters."""
    return float(compound(seq).eval_structure(structure))


#: Energy given to a loop ViennaRNA cannot form (a non-canonical closing pair), kcal/mol.
IMPOSSIBLE_ENERGY = 20.0


def box_energies(seq: str, types, bb_x, bb_y, siz_x, siz_y) -> "list[float]":
    """Free energy (kcal/mol, Turner 2004) of the loops each box forms on its own: a stem's
    stacked pairs, an internal loop between its two closing pairs, a hairpin closed by its
    corner. Box convention of ``rnastruct.boxes``: top-right corner ``(bb_x, bb_y)``, 0-based,
    sizes including closing bases. Loops ViennaRNA cannot form get ``IMPOSSIBLE_ENERGY``."""
    fc = compound(seq)
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


def _forbid_outside(fc: "RNA.fold_compound", seq: str, allowed, with_list: bool = False,
                    max_bp_span: int | None = None) -> np.ndarray:
    """Hard constraints on ``fc`` forbidding every formable pair outside ``allowed`` (``[P, 2]``
    0-based pairs, or an ``[L, L]`` bool map) -> ``allowed`` as given (a ``[P, 2]`` int64 list
    when it was one). ``with_list``: the caller needs the list form. Pairs beyond
    ``max_bp_span`` need none (the model details exclude them already)."""
    L = len(seq)
    allowed = np.asarray(allowed)
    formable = np.triu(canonical_map(seq), 4)  # [L, L]: pairs ViennaRNA could form at all
    if max_bp_span is not None:
        formable = np.tril(formable, max_bp_span)
    if allowed.dtype == bool and allowed.shape == (L, L):
        if with_list:
            raise ValueError("pseudo_energy needs the allowed pairs as a [P, 2] list")
        formable &= ~allowed
    else:
        allowed = allowed.astype(np.int64).reshape(-1, 2)
        if len(allowed) and (allowed.min() < 0 or allowed.max() >= L or (allowed[:, 0] >= allowed[:, 1]).any()):
            raise ValueError(f"allowed pairs must satisfy 0 <= i < j < {L}")
        formable[allowed[:, 0], allowed[:, 1]] = False
    _forbid(fc, np.argwhere(formable))
    return allowed


def _forbid(fc: "RNA.fold_compound", pairs: np.ndarray) -> None:
    """Hard constraints on ``fc`` forbidding ``pairs`` (``[K, 2]`` 0-based). A hard constraint
    lets the recursions skip a pair altogether (15% faster than pricing it out with a soft one);
    one call each, formable pairs only."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2) + 1  # ViennaRNA is 1-based
    # mapped, not looped: half the time of a Python loop (a quarter of the short RNAs' DP
    # stage was here); in chunks: lists of every pair were 90 MB at 3,000 nt
    for chunk in np.split(pairs, np.arange(1 << 16, len(pairs), 1 << 16)):
        deque(map(fc.hc_add_bp, chunk[:, 0].tolist(), chunk[:, 1].tolist(), repeat(_FORBID, len(chunk))), maxlen=0)


def fold_within(seq: str, allowed, pseudo_energy=None) -> tuple[str, float]:
    """The MFE structure of ``seq`` among those whose pairs all lie in ``allowed``, and its free
    energy (kcal/mol, Turner 2004): ViennaRNA's exact dynamic programming (all loop types,
    dangles) with every other pair forbidden by a hard constraint. With every canonical pair
    allowed this is RNAfold's MFE.

    ``allowed``: 0-based pairs ``[P, 2]`` (``i < j``, each once), or an ``[L, L]`` bool map
    whose upper triangle says which pairs are allowed. ``pseudo_energy`` (``[P]`` kcal/mol,
    optional, with pairs only) is added to each allowed pair, and to the energy returned."""
    fc = compound(seq)
    allowed = _forbid_outside(fc, seq, allowed, with_list=pseudo_energy is not None)
    if pseudo_energy is not None:
        for (i, j), e in zip((allowed + 1).tolist(), np.asarray(pseudo_energy, np.float64).tolist()):
            fc.sc_add_bp(i, j, e)
    structure, energy = fc.mfe()
    return structure, round(float(energy), 2)


class Folded(NamedTuple):
    """One decoded structure and, when asked for, its ensemble."""

    pairs: np.ndarray  # [P, 2] 0-based, i < j (ThreshKnot's may cross)
    energy: float  # Turner 2004 free energy of the nested part, kcal/mol (no pseudo-energies)
    ensemble_energy: float  # free energy of the ensemble under every energy used; nan if not computed
    # [L, L] pair probabilities (upper triangle); None if not asked for, or under a span limit
    # (where an [L, L] map would be mostly zeros: use the next two)
    probs: np.ndarray | None
    unpaired: np.ndarray | None = None  # [L] each base's probability of being unpaired
    # [K, 3] rows (i, j, p), 0-based i < j, of the pairs with probability >= the cutoff asked for
    bpp: np.ndarray | None = None
    # with probs: the ensemble free energy under Turner 2004 alone (no learned or SHAPE
    # pseudo-energies, no pair restriction; the hard constraint and the span limit kept), kcal/mol
    turner_ensemble_energy: float = float("nan")


def fold_soft(seq: str, pair_energy: np.ndarray | None = None, decoding: str = "mfe", gamma: float = 1.0,
              threshold: float = 0.3, allowed=None) -> tuple[np.ndarray, float]:
    """Fold ``seq`` with Turner 2004 plus ``pair_energy`` (``[L, L]`` kcal/mol added to each
    pair ``(i, j)``, 0-based, ``i < j``, that a structure forms: ViennaRNA soft constraints) and
    decode -> (pairs ``[P, 2]``, the Turner 2004 free energy of the structure's nested part,
    without the pseudo-energies). ``decoding``: "mfe", or from the partition function under the
    same energies "mea" (``gamma``), "centroid" or "threshknot" (``threshold``; pairs may
    cross). Without ``pair_energy`` each is RNAfold's own (``-p --MEA``, centroid). ``allowed``
    (optional, as ``fold_within``): every other pair is forbidden."""
    return fold_soft_many(seq, pair_energy, [(decoding, gamma, threshold)], allowed)[0]


def fold_soft_many(seq: str, pair_energy: np.ndarray | None, decodings: list[tuple[str, float, float]],
                   allowed=None) -> list[tuple[np.ndarray, float]]:
    """``fold_soft`` for several ``(decoding, gamma, threshold)`` at the cost of one: the MFE and
    the partition function are computed once (what tuning on validation sets needs)."""
    return [(f.pairs, f.energy) for f in fold_full(seq, pair_energy, decodings, allowed=allowed)]


def fold_full(seq: str, pair_energy, decodings: list[tuple[str, float, float]],
              allowed=None, constraint: str | None = None, shape: np.ndarray | None = None,
              shape_slope: float = SHAPE_SLOPE, shape_intercept: float = SHAPE_INTERCEPT,
              probs: bool = False, prob_scale: float = 1.0, max_bp_span: int | None = None,
              bpp_cutoff: float = 1e-3, forbid: np.ndarray | None = None, on_stage=None) -> list[Folded]:
    """Every option of the fold decoder, one ViennaRNA fold compound for all ``decodings``.

    - ``pair_energy``: ``[L, L]`` kcal/mol per pair (the learned pseudo-energies), or the same
      as a list, ``(pairs [K, 2] 0-based i < j, energies [K])`` (pairs absent cost nothing
      extra; ``FoldEnergy.pair_energy_list``), or None;
    - ``allowed``: pairs outside it forbidden (as ``fold_within``), or None;
    - ``constraint``: RNAfold's dot-bracket hard constraint (``. x | ( ) < >``), pairs enforced
      (``check_constraint`` first: ViennaRNA ignores a pair it cannot form);
    - ``shape``: ``[L]`` SHAPE reactivities (NaN or negative = no data) as Deigan et al.'s
      pseudo-energies ``slope * ln(r + 1) + intercept`` per stacked pair, added to the others;
    - ``probs``: also return the pair probabilities, each base's unpaired probability and the
      ensemble free energy (the partition function is computed for ensemble decodings anyway):
      the pairs with probability >= ``bpp_cutoff`` as rows, and the whole ``[L, L]`` map unless
      the span is limited; ``prob_scale`` != 1 reports them for the ensemble at ``prob_scale``
      times the thermal energy (ViennaRNA's ``betaScale``, a calibration temperature), while the
      structure is still decoded at 1; and the ensemble free energy under Turner 2004 alone (one
      more partition function when other energies are in play);
    - ``max_bp_span``: no pair ``(i, j)`` with ``j - i`` above it, as RNAfold's ``--maxBPspan``;
    - ``forbid``: ``[K, 2]`` 0-based pairs no structure may form (the pairs the learned term
      rules out, ``FoldEnergy.pruned``), unless ``constraint`` forces one;
    - ``on_stage``: called with the name of each stage as it starts (progress on long sequences).
    Raises ``ValueError`` when the constraints leave no structure."""
    from .learned import threshknot, threshknot_rows
    from .structure import parse_dot_bracket, split_pseudoknots, to_dot_bracket

    L = len(seq)
    if max_bp_span is not None and max_bp_span < 4:
        raise ValueError(f"max_bp_span must be >= 4 (a hairpin closes at least 3 bases), got {max_bp_span}")
    span = None if max_bp_span is None or max_bp_span >= L - 1 else int(max_bp_span)
    if constraint is not None and span is not None:
        _check_constraint_span(constraint, span)
    ensemble = probs or any(d != "mfe" for d, _, _ in decodings)
    threshknots = [t for d, _, t in decodings if d == "threshknot"]
    stage = on_stage or (lambda what: None)

    stage("soft constraints")
    # built once, used by both compounds; a list goes pair by pair: its matrix would be (L + 1)^2
    # Python objects (110 MB at 3,000 nt, beside ViennaRNA's own copy)
    if pair_energy is None:
        soft = None
    elif isinstance(pair_energy, tuple):
        soft = _soft_list(pair_energy)
    else:
        soft = _soft_matrix(pair_energy, L)
    options = dict(allowed=allowed, constraint=constraint, shape=shape, shape_slope=shape_slope,
                   shape_intercept=shape_intercept, soft=soft, max_bp_span=span, forbid=forbid)
    fc = compound(seq, bpp=ensemble, **options)
    if not (probs and prob_scale != 1.0):  # no second compound: free the matrix before the DP
        options["soft"] = soft = None
    structure, mfe = None, None
    if not ensemble or any(d == "mfe" for d, _, _ in decodings):
        stage("minimum free energy")
        structure, mfe = _mfe(fc)
    g, P, rows, unpaired, report_rows, reported = float("nan"), None, None, None, None, None
    if ensemble:
        stage("partition function")
        g, mfe = _partition(fc, mfe, on_stage)
        if threshknots:  # what ThreshKnot reads: the whole map, or the band's likely pairs
            if span is None:
                P = _probabilities(fc, L)  # [L, L]
            else:
                rows = _unpaired_and_rows(_probabilities(fc, L, span), L, span, min(threshknots))[1]  # [K, 3]
    if probs:
        hot = fc
        if prob_scale != 1.0:
            # the probabilities reported are those of the ensemble at prob_scale x kT (a
            # temperature fitted for calibration); the structure is decoded from the unscaled one
            stage("partition function at the calibration temperature")
            hot = compound(seq, bpp=True, beta_scale=prob_scale, **options)
            g = _partition(hot, mfe)[0]  # the MFE does not depend on the temperature scale
        reported = _probabilities(hot, L, span)  # [L, L], or the band [L, span + 1]
        unpaired, report_rows = _unpaired_and_rows(reported, L, span, bpp_cutoff)
        reported = reported if span is None else None
    stage("decoding")
    plain = compound(seq)
    g_turner = float("nan")
    if probs:
        g_turner = g
        if pair_energy is not None or shape is not None or allowed is not None or prob_scale != 1.0:
            physical = compound(seq, constraint=constraint, max_bp_span=span)  # the partition function, no probabilities
            g_turner = _partition(physical)[0]
    out = []
    for decoding, gamma, threshold in decodings:
        if decoding == "mfe":
            pairs = parse_dot_bracket(structure)
        elif decoding == "mea":
            try:
                pairs = parse_dot_bracket(fc.MEA(gamma)[0])
            except ValueError:  # ViennaRNA's MEA backtrack can fail on extreme energies: centroid
                pairs = parse_dot_bracket(fc.centroid()[0])
        elif decoding == "centroid":
            pairs = parse_dot_bracket(fc.centroid()[0])
        elif decoding == "threshknot":
            pairs = threshknot(P, threshold) if P is not None else threshknot_rows(rows, L, threshold)
        else:
            raise ValueError(f"unknown decoding {decoding!r}")
        nested = split_pseudoknots(pairs)[0]
        energy = round(float(plain.eval_structure(to_dot_bracket(nested, L))), 2)
        out.append(Folded(pairs, energy, g, reported if probs else None, unpaired, report_rows, g_turner))
    return out


def _mfe(fc: "RNA.fold_compound") -> tuple[str, float]:
    """``fc.mfe()``: (structure, kcal/mol); a ``ValueError`` when the constraints allow none."""
    structure, mfe = fc.mfe()
    if mfe >= INFEASIBLE:
        raise ValueError("the constraints leave no structure")
    return structure, mfe


#: ``_partition`` skips the MFE pass up to this length (see there)
UNSCALED_MAX_LENGTH = 1000


def _partition(fc: "RNA.fold_compound", mfe: float | None = None, on_stage=None) -> tuple[float, float | None]:
    """Fill ``fc``'s partition function -> (ensemble free energy in kcal/mol, the MFE or None
    when it was not needed).

    Boltzmann factors are scaled per nucleotide so that long sequences do not overflow.
    RNAfold takes the scale from the MFE, which costs an MFE pass (a third of the dynamic
    programme at ArchiveII lengths). Up to ``UNSCALED_MAX_LENGTH`` nt, ViennaRNA's own estimate
    (about -0.2 kcal/mol per nucleotide) leaves a margin of hundreds of kcal/mol before the
    double range overflows, so the partition function runs on it directly. An overflow makes
    ViennaRNA return its infinity (``INFEASIBLE``) within a fraction of the work. Then, as for
    longer sequences, the MFE is computed and the partition function refilled around it. The
    probabilities are the same to rounding either way (tested)."""
    if mfe is None and fc.length <= UNSCALED_MAX_LENGTH:
        g = float(fc.pf()[1])
        if g < INFEASIBLE:
            return g, None
    if mfe is None:
        if on_stage is not None:
            on_stage("minimum free energy")
        mfe = _mfe(fc)[1]
        if on_stage is not None:
            on_stage("partition function")
    fc.exp_params_rescale(mfe)
    return float(fc.pf()[1]), mfe


def _check_constraint_span(constraint: str, span: int) -> None:
    """A ``ValueError`` naming the first forced pair of ``constraint`` wider than ``span``."""
    stack = []
    for k, c in enumerate(constraint):
        if c == "(":
            stack.append(k)
        elif c == ")" and stack:
            i = stack.pop()
            if k - i > span:
                raise ValueError(f"forced pair {i + 1}-{k + 1} spans {k - i} nt, more than the maximum "
                                 f"base-pair span {span}")


def _probabilities(fc: "RNA.fold_compound", L: int, span: int | None = None) -> np.ndarray:
    """The pair probabilities of ``fc`` after ``pf()``: ``[L, L]`` (upper triangle; row i,
    column j, 0-based), or with ``span`` the band ``[L, span + 1]`` (row i, column j - i).
    Read from ViennaRNA's triangular array in one pass: ``fc.bpp()`` builds an ``(L + 1)^2``
    tuple of Python floats first, a gigabyte at 3,000 nt."""
    tri = np.fromiter(fc.exp_matrices.probs, np.float64, count=len(fc.exp_matrices.probs))
    iindx = np.fromiter(fc.iindx, np.int64, count=L + 1)
    # pair (i, j), 1-based, sits at iindx[i] - j: row i is contiguous, j descending
    if span is None:
        P = np.zeros((L, L))
        for i in range(1, L):
            P[i - 1, i:] = tri[iindx[i] - L : iindx[i] - i][::-1]
        return P
    B = np.zeros((L, span + 1))
    for i in range(1, L):
        top = min(L, i + span)
        B[i - 1, 1 : top - i + 1] = tri[iindx[i] - top : iindx[i] - i][::-1]
    return B


def _unpaired_and_rows(P: np.ndarray, L: int, span: int | None, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair probabilities (``_probabilities``: ``[L, L]`` or the band ``[L, span + 1]``) ->
    (each base's unpaired probability ``[L]``, rows ``(i, j, p)`` of the pairs with ``p >=
    cutoff`` ``[K, 3]``, sorted by i, then j)."""
    if span is None:
        paired = P.sum(axis=0) + P.sum(axis=1)  # [L]
        i, j = np.nonzero(P >= cutoff)
        p = P[i, j]
    else:
        paired = P.sum(axis=1)  # [L]: as the pair's 5' base
        for d in range(1, span + 1):  # as its 3' base: (i, i + d) for i < L - d
            paired[d:] += P[: L - d, d]
        i, d = np.nonzero(P >= cutoff)
        j, p = i + d, P[i, d]
    rows = np.stack([i, j, p], axis=1) if len(i) else np.zeros((0, 3))
    return np.clip(1.0 - paired, 0.0, 1.0), rows


#: ViennaRNA's MFE when no structure satisfies the hard constraints (INF / 100, kcal/mol)
INFEASIBLE = 1e5


def _soft_list(pair_energy: tuple) -> tuple[list, list, list]:
    """``(pairs [K, 2], energies [K])`` (0-based) -> the 1-based rows, columns and energies
    ``sc_add_bp`` takes pair by pair."""
    pairs = np.asarray(pair_energy[0], np.int64).reshape(-1, 2) + 1  # ViennaRNA is 1-based
    return pairs[:, 0].tolist(), pairs[:, 1].tolist(), np.asarray(pair_energy[1], np.float64).tolist()


def _soft_matrix(pair_energy: np.ndarray, L: int) -> list:
    """``[L, L]`` pair energies -> the 1-based ``(L + 1) x (L + 1)`` matrix ``sc_add_bp`` takes.
    The list holds one shared 0.0 for every pair without an energy (the lower triangle, the
    non-canonical pairs): a float object per entry was 300 MB at 3,000 nt."""
    pairs = np.argwhere(np.triu(pair_energy != 0, 1))
    energy = pair_energy[pairs[:, 0], pairs[:, 1]]
    m = np.full((L + 1, L + 1), 0.0, dtype=object)
    m[pairs[:, 0] + 1, pairs[:, 1] + 1] = np.asarray(energy, np.float64).tolist()  # ViennaRNA is 1-based
    return m.tolist()


def pair_probabilities(seq: str, pair_energy: np.ndarray | None = None,
                       prob_scale: float = 1.0) -> tuple[np.ndarray, float]:
    """Base-pair probabilities ``[L, L]`` (upper triangle) under Turner 2004 plus
    ``pair_energy`` (as ``fold_soft``; at ``prob_scale`` x kT), and the ensemble free energy
    (kcal/mol)."""
    f = fold_full(seq, pair_energy, [("mfe", 1.0, 0.3)], probs=True, prob_scale=prob_scale)[0]
    return f.probs, f.ensemble_energy


def thermal_energy(temperature: float = 37.0) -> float:
    """kT (kcal/mol) at ``temperature`` (Celsius), as ViennaRNA computes it."""
    return (temperature + 273.15) * 1.98717 / 1000.0


def ensemble_nll(seq: str, pair_energy: np.ndarray, pairs: np.ndarray) -> tuple[float, np.ndarray]:
    """The negative log-probability of the structure ``pairs`` (``[P, 2]`` 0-based, nested,
    canonical, hairpins >= 3) in the Boltzmann ensemble of Turner 2004 plus ``pair_energy``
    (``[L, L]`` kcal/mol per pair ``i < j``, as ``fold_soft``), and its gradient with respect to
    ``pair_energy`` -> ``(nll, grad [L, L])``:

        nll = (E(y) - G) / kT,    d nll / d e_ij = (y_ij - p_ij) / kT

    with ``E(y)`` the structure's free energy and ``G`` the ensemble's, both under the same soft
    constraints, and ``p_ij`` the pair probabilities (SPEC section 9.1). ViennaRNA rounds
    energies to 0.01 kcal/mol, so a finite-difference check needs steps that are multiples of it."""
    from .structure import CANONICAL_PAIRS, is_nested, to_dot_bracket

    L = len(seq)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    bad = [(i + 1, j + 1) for i, j in pairs.tolist() if seq[i] + seq[j] not in CANONICAL_PAIRS or j - i < 4]
    if bad or not is_nested(pairs):
        raise ValueError(f"the reference structure is not in the ensemble: "
                         f"{'crossing pairs' if not bad else f'pair {bad[0][0]}-{bad[0][1]} is non-canonical or closes a hairpin under 3'}")
    fc = compound(seq, bpp=True, soft=_soft_matrix(pair_energy, L))
    structure = to_dot_bracket(pairs, L)
    energy = fc.eval_structure(structure)
    g = _partition(fc, fc.mfe()[1])[0]  # Boltzmann factors scaled around the MFE: no overflow
    kT = thermal_energy(RNA.md().temperature)
    y = np.zeros((L, L))
    y[pairs[:, 0], pairs[:, 1]] = 1.0
    P = _probabilities(fc, L)  # [L, L] upper triangle
    return (float(energy) - g) / kT, (y - P) / kT


#: ViennaRNA's bundled RNA energy parameter sets a learned term can sit on
ENERGY_PARAMETERS = {"turner2004": RNA.params_load_RNA_Turner2004,
                     "andronescu2007": RNA.params_load_RNA_Andronescu2007,
                     "langdon2018": RNA.params_load_RNA_Langdon2018}


def use_energy_parameters(name: str) -> None:
    """Make ``name`` (a key of ``ENERGY_PARAMETERS``) the energy parameters of every fold
    compound this process builds. Call it before the process builds any: ViennaRNA caches its
    tables per model details and hands a cached set back after a new one is loaded (seen with
    2.7.2), so a benchmark calls it first thing in a fresh worker process."""
    if name not in ENERGY_PARAMETERS:
        raise ValueError(f"unknown energy parameters {name!r}: expected one of {', '.join(ENERGY_PARAMETERS)}")
    if not ENERGY_PARAMETERS[name]():
        raise RuntimeError(f"ViennaRNA could not load the {name} parameters")

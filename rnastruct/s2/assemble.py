"""Assembly: scored box proposals -> one valid secondary structure, exactly.

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map (row = 5' base ``i``, column = 3' base
``j``, ``i < j``) and covers rows ``bb_x .. bb_x + siz_x - 1``, columns ``bb_y - siz_y + 1 ..
bb_y``; sizes include the closing bases. A stem's pairs are ``(bb_x + k, bb_y - k)``; an
internal loop runs from the outer closing pair (its top-right corner) to the inner closing pair
(its bottom-left corner); a hairpin is the square on the diagonal closed by ``(bb_x, bb_y)``.

``assemble`` maximises the total score of the chosen boxes over every nested structure built
from the candidate stems, by dynamic programming (Zuker-style, with boxes instead of pairs):

* ``V[k]``: stem ``k`` and everything it encloses: its score plus the best of a hairpin (at
  least ``MIN_HAIRPIN`` unpaired bases; the hairpin box's score if proposed), an internal loop
  to one stem directly inside (the loop box's score if proposed), or a multiloop of two or
  more stems (no box);
* ``W[i, j]``: the best of ``i..j`` with any number of stems side by side (the exterior loop);
  ``M1``/``M2``: at least one / two stems (multiloop interiors).

Loops that the structure implies but nobody proposed score ``unproposed_loop``: a constant
(default 0) or a function of the loop boxes (e.g. their ViennaRNA energy, weighted);
unproposed internal loops are limited to ``MAX_LOOP`` unpaired bases, as in ViennaRNA. Two
stems stacked with no base between would be one longer stem, so that is not an internal loop.
Every result is a valid structure: each base in at most one pair, only AU/GC/GU pairs, hairpins
of at least ``MIN_HAIRPIN`` unpaired bases, each loop box with its stems, no pseudoknots.

Pure numpy, no I/O.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping, NamedTuple

import numpy as np

from ..boxes import Box
from ..structure import canonical_map

MIN_HAIRPIN = 3  # unpaired bases in a hairpin (ViennaRNA's TURN)
MAX_LOOP = 30  # unpaired bases in an unproposed internal loop (ViennaRNA's MAXLOOP)
_NEG = -1e18


def _best_per_group(group: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group ``0..n-1``: the largest value (``_NEG`` if none) and the index into
    ``values`` that holds it (first on ties)."""
    best = np.full(n, _NEG)
    arg = np.zeros(n, np.int64)
    if len(values):
        order = np.lexsort((-values, group))
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        best[group[first]], arg[group[first]] = values[first], first
    return best, arg


class Assembly(NamedTuple):
    boxes: list[Box]  # chosen stems and loops, box convention of the module docstring
    pairs: np.ndarray  # [P, 2] 0-based base pairs, i < j, sorted
    score: float  # total score of the chosen boxes


def assemble(boxes: Mapping[str, np.ndarray], scores: np.ndarray, seq: str,
             unproposed_loop: float | Callable[[str, np.ndarray], np.ndarray] = 0.0) -> Assembly:
    """The highest-scoring valid nested structure made of candidate stems (module docstring).

    ``boxes``: per-box table with ``type``, ``bb_x``, ``bb_y``, ``siz_x``, ``siz_y`` (box
    convention of the module docstring); ``scores[k]``: the score of box ``k`` (e.g. S2's
    log-odds: only boxes with a positive score, or enabling positive ones, are worth taking).
    Stems that are not square, leave the sequence, hold a non-canonical pair or enclose fewer
    than ``MIN_HAIRPIN`` bases are ignored, as are malformed loops. ``unproposed_loop(type,
    boxes [M, 4])`` -> scores ``[M]`` (boxes as ``bb_x, bb_y, siz_x, siz_y``) scores the loops
    the structure implies that are not among the candidates.
    """
    L = len(seq)
    types = np.asarray(boxes["type"])
    bx, by = np.asarray(boxes["bb_x"], np.int64), np.asarray(boxes["bb_y"], np.int64)
    sx, sy = np.asarray(boxes["siz_x"], np.int64), np.asarray(boxes["siz_y"], np.int64)
    scores = np.asarray(scores, np.float64)
    if len(scores) != len(types):
        raise ValueError(f"assemble: {len(scores)} scores for {len(types)} boxes")

    # candidate stems: (outer a, b), size s, inner (c, d); keep only possible ones
    stem = (types == "stem") & (sx == sy) & (sx >= 1) & (bx >= 0) & (by < L)
    stem &= (by - sx + 1) - (bx + sx - 1) - 1 >= MIN_HAIRPIN
    canon = canonical_map(seq)
    for k in np.flatnonzero(stem):
        ks = np.arange(sx[k])
        stem[k] = bool(canon[bx[k] + ks, by[k] - ks].all())
    idx = np.flatnonzero(stem)
    a, b, s = bx[idx], by[idx], sx[idx]
    c, d = a + s - 1, b - s + 1
    sigma = scores[idx]
    K = len(idx)

    # loop scores by closing pairs
    hairpin = {}
    for k in np.flatnonzero((types == "hloop") & (sx == sy) & (bx + sx - 1 == by) & (sx >= MIN_HAIRPIN + 2)):
        key = (int(bx[k]), int(by[k]))
        if scores[k] > hairpin.get(key, (_NEG,))[0]:
            hairpin[key] = (float(scores[k]), int(k))
    iloop = {}
    for k in np.flatnonzero((types == "iloop") & (sx >= 2) & (sy >= 2) & (sx + sy >= 5)):
        key = (int(bx[k]), int(by[k]), int(bx[k] + sx[k] - 1), int(by[k] - sy[k] + 1))
        if scores[k] > iloop.get(key, (_NEG,))[0]:
            iloop[key] = (float(scores[k]), int(k))

    # internal-loop pairs (A outside, B directly inside): unproposed ones within MAX_LOOP,
    # proposed ones at any size
    pa_, pb_, pscore, pbox = [], [], [], []
    order = np.argsort(a, kind="stable")
    a_sorted = a[order]
    by_outer: dict[tuple[int, int], list[int]] = {}
    for k in range(K):
        by_outer.setdefault((int(a[k]), int(b[k])), []).append(k)
    for A in range(K):
        lo, hi = np.searchsorted(a_sorted, [c[A] + 1, c[A] + 2 + MAX_LOOP])
        Bs = order[lo:hi]
        g1, g2 = a[Bs] - c[A] - 1, d[A] - b[Bs] - 1
        ok = (g2 >= 0) & (g1 + g2 >= 1) & (g1 + g2 <= MAX_LOOP) & (c[Bs] < d[Bs])
        for B in Bs[ok]:
            key = (int(c[A]), int(d[A]), int(a[B]), int(b[B]))
            sc, box = iloop.get(key, (0.0, -1))
            pa_.append(A), pb_.append(int(B)), pscore.append(sc), pbox.append(box)
    inner_of: dict[tuple[int, int], list[int]] = {}
    for A in range(K):
        inner_of.setdefault((int(c[A]), int(d[A])), []).append(A)
    for (c0, d0, a1, b1), (sc, box) in iloop.items():
        if (a1 - c0 - 1) + (d0 - b1 - 1) <= MAX_LOOP:
            continue  # already enumerated above
        for A in inner_of.get((c0, d0), []):
            for B in by_outer.get((a1, b1), []):
                pa_.append(A), pb_.append(B), pscore.append(sc), pbox.append(box)
    pa_, pb_ = np.array(pa_, np.int64), np.array(pb_, np.int64)
    pscore, pbox = np.array(pscore, np.float64), np.array(pbox, np.int64)
    score_of = unproposed_loop if callable(unproposed_loop) else \
        (lambda kind, loops, v=float(unproposed_loop): np.full(len(loops), v))
    free = np.flatnonzero(pbox < 0)
    if len(free):  # unproposed internal loops, outer closing pair to inner one
        A, B = pa_[free], pb_[free]
        pscore[free] = score_of("iloop", np.stack([c[A], d[A], a[B] - c[A] + 1, d[A] - b[B] + 1], axis=1))

    # DP tables over intervals [i, j] (j = i - 1 is empty), indices shifted by one so that
    # W[i, i - 1] lives at [i, i]
    n = L + 1
    W = np.zeros((n + 1, n + 1))
    M1 = np.full((n + 1, n + 1), _NEG)
    M2 = np.full((n + 1, n + 1), _NEG)
    # choices: -1 = skip base i, k >= 0 = stem k starts at i
    choice_w = np.full((n + 1, n + 1), -1, np.int64)
    choice_m1 = np.full((n + 1, n + 1), -1, np.int64)
    choice_m2 = np.full((n + 1, n + 1), -1, np.int64)
    V = np.full(K, _NEG)
    v_how = np.zeros(K, np.int64)  # 0 hairpin, 1 + p = internal-loop pair p, -1 multiloop
    span = b - a
    h_score = np.array([hairpin.get((int(c[k]), int(d[k])), (np.nan,))[0] for k in range(K)])
    free = np.flatnonzero(np.isnan(h_score))
    if len(free):  # unproposed hairpins, closed by each stem's inner pair
        h_score[free] = score_of("hloop", np.stack([c[free], d[free], d[free] - c[free] + 1,
                                                    d[free] - c[free] + 1], axis=1))
    pair_span = span[pa_] if len(pa_) else np.zeros(0, np.int64)

    for ell in range(0, L):
        # stems spanning exactly ell: their interiors are shorter, so all they need is known
        ks = np.flatnonzero(span == ell)
        if len(ks):
            best = h_score[ks].copy()
            how = np.zeros(len(ks), np.int64)
            multi = M2[c[ks] + 2, d[ks]]  # M2 over [c + 1, d - 1], shifted
            better = multi > best
            best[better], how[better] = multi[better], -1
            ps = np.flatnonzero(pair_span == ell)
            if len(ps):
                val, arg = _best_per_group(np.searchsorted(ks, pa_[ps]), pscore[ps] + V[pb_[ps]], len(ks))
                better = val > best
                best[better], how[better] = val[better], 1 + ps[arg[better]]
            V[ks] = sigma[ks] + best
            v_how[ks] = how
        # intervals [i, i + ell]: skip base i, or a stem starting at i and ending by i + ell
        i = np.arange(0, L - ell)
        j = i + ell
        w, m1, m2 = W[i + 2, j + 1].copy(), M1[i + 2, j + 1].copy(), M2[i + 2, j + 1].copy()
        cw, c1, c2 = np.full(len(i), -1), np.full(len(i), -1), np.full(len(i), -1)
        k = np.flatnonzero(span <= ell)
        k = k[a[k] + ell < L]
        if len(k):
            row = a[k]  # the interval [row, row + ell] starts where stem k does
            rest_w, rest_m1 = W[b[k] + 2, row + ell + 1], M1[b[k] + 2, row + ell + 1]
            # stem k then anything (W; also M1: at least one stem), or then >= 1 more (M2)
            for cand, tab, ch in ((V[k] + rest_w, w, cw), (V[k] + rest_w, m1, c1), (V[k] + rest_m1, m2, c2)):
                val, arg = _best_per_group(row, cand, len(i))
                better = val > tab
                tab[better], ch[better] = val[better], k[arg[better]]
        W[i + 1, j + 1], M1[i + 1, j + 1], M2[i + 1, j + 1] = w, m1, m2
        choice_w[i + 1, j + 1], choice_m1[i + 1, j + 1], choice_m2[i + 1, j + 1] = cw, c1, c2

    # traceback
    chosen_stems: list[int] = []
    chosen_loops: list[int] = []
    stack = [("W", 0, L - 1)]
    tables = {"W": (choice_w, None), "M1": (choice_m1, "W"), "M2": (choice_m2, "M1")}
    while stack:
        kind = stack.pop()
        if kind[0] == "V":
            k = kind[1]
            chosen_stems.append(k)
            how = v_how[k]
            if how == 0:
                hp = hairpin.get((int(c[k]), int(d[k])))
                if hp is not None:
                    chosen_loops.append(hp[1])
            elif how == -1:
                stack.append(("M2", int(c[k]) + 1, int(d[k]) - 1))
            else:
                p = how - 1
                if pbox[p] >= 0:
                    chosen_loops.append(int(pbox[p]))
                stack.append(("V", int(pb_[p])))
            continue
        name, i, j = kind
        if i > j:
            continue
        ch_table, after = tables[name]
        ch = int(ch_table[i + 1, j + 1])
        if ch < 0:
            stack.append((name, i + 1, j))
            continue
        stack.append(("V", ch))
        rest = {"W": "W", "M1": "W", "M2": "M1"}[name]
        stack.append((rest, int(b[ch]) + 1, j))

    out_boxes = [Box("stem", int(a[k]), int(b[k]), int(s[k]), int(s[k])) for k in chosen_stems]
    out_boxes += [Box(str(types[k]), int(bx[k]), int(by[k]), int(sx[k]), int(sy[k])) for k in chosen_loops]
    out_boxes.sort(key=lambda x: (x.bb_x, x.type, x.bb_y))
    pairs = [(int(a[k]) + t, int(b[k]) - t) for k in chosen_stems for t in range(int(s[k]))]
    pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return Assembly(out_boxes, pairs, float(W[1, L]) if L else 0.0)


def _stems_by_score(boxes: Mapping[str, np.ndarray], scores: np.ndarray, seq: str,
                    used: np.ndarray) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """The candidate stems that could join a structure, by decreasing score (stable):
    ``(k, a, b, s, steps)`` for box ``k`` with pairs ``(a + steps, b - steps)``, ``steps =
    arange(s)``, when it is square, inside the sequence, canonical, encloses at least
    ``MIN_HAIRPIN`` bases and shares no base marked in ``used`` (which the caller updates as it
    takes stems; checked when each stem comes up). Box convention of the module docstring."""
    L = len(seq)
    types = np.asarray(boxes["type"])
    bx, by = np.asarray(boxes["bb_x"], np.int64), np.asarray(boxes["bb_y"], np.int64)
    sx, sy = np.asarray(boxes["siz_x"], np.int64), np.asarray(boxes["siz_y"], np.int64)
    canon = canonical_map(seq)
    for k in np.argsort(-np.asarray(scores, np.float64), kind="stable"):
        if types[k] != "stem" or sx[k] != sy[k] or bx[k] < 0 or by[k] >= L:
            continue
        s, a, b = int(sx[k]), int(bx[k]), int(by[k])
        if (b - s + 1) - (a + s - 1) - 1 < MIN_HAIRPIN:
            continue
        steps = np.arange(s)
        if canon[a + steps, b - steps].all() and not used[a + steps].any() and not used[b - steps].any():
            yield int(k), a, b, s, steps


def add_pseudoknots(nested: Assembly, boxes: Mapping[str, np.ndarray], scores: np.ndarray,
                    seq: str) -> Assembly:
    """``--allow-pseudoknots``: the exact nested ``assemble`` result plus candidate stems that
    cross it, greedily by decreasing score: a stem is added when its score is positive, it
    crosses a stem already in the structure, shares no base with it, is square, canonical,
    inside the sequence and encloses at least ``MIN_HAIRPIN`` bases, and the structure still
    fits four bracket pages. Added stems are flagged ``pseudoknot=True``; the score adds theirs.

    Only crossing stems are candidates: a nested one the dynamic programming left out was left
    out because the loops it would make scored less, which adding it now would ignore. Box
    convention of the module docstring."""
    from ..structure import to_dot_bracket

    L = len(seq)
    scores = np.asarray(scores, np.float64)
    used = np.zeros(L, bool)
    used[nested.pairs.ravel()] = True
    stems = [(b.bb_x, b.bb_y) for b in nested.boxes if b.type == "stem"]
    pairs, out, total = nested.pairs, list(nested.boxes), nested.score
    for k, a, b, s, steps in _stems_by_score(boxes, scores, seq, used):
        if scores[k] <= 0:
            break
        if not any(a < c < b < d or c < a < d < b for c, d in stems):
            continue
        grown = np.concatenate([pairs, np.stack([a + steps, b - steps], axis=1)])
        try:
            to_dot_bracket(grown, L)
        except ValueError:  # a fifth bracket page: dot-bracket cannot write it
            continue
        pairs, total = grown, total + float(scores[k])
        used[a + steps] = used[b - steps] = True
        stems.append((a, b))
        out.append(Box("stem", a, b, s, s, pseudoknot=True))
    out.sort(key=lambda x: (x.bb_x, x.type, x.bb_y))
    return Assembly(out, pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))], total)


def assemble_greedy(boxes: Mapping[str, np.ndarray], scores: np.ndarray, seq: str) -> Assembly:
    """The original's assembly, for comparison: stems by decreasing score, each kept if it
    shares no base with, and does not cross, those kept before (no threshold on the score,
    as the original; then loop boxes whose closing stems were kept). Same box convention and
    validity rules as ``assemble``; not optimal."""
    L = len(seq)
    types = np.asarray(boxes["type"])
    bx, by = np.asarray(boxes["bb_x"], np.int64), np.asarray(boxes["bb_y"], np.int64)
    sx, sy = np.asarray(boxes["siz_x"], np.int64), np.asarray(boxes["siz_y"], np.int64)
    scores = np.asarray(scores, np.float64)
    used = np.zeros(L, bool)
    kept: list[int] = []
    for k, a, b, s, steps in _stems_by_score(boxes, scores, seq, used):
        if any(a < bx[m] < b < by[m] or bx[m] < a < by[m] < b for m in kept):
            continue
        kept.append(k)
        used[a + steps] = used[b - steps] = True
    pairs = np.array(sorted((int(bx[k]) + t, int(by[k]) - t) for k in kept for t in range(int(sx[k]))),
                     dtype=np.int64).reshape(-1, 2)
    from ..boxes import structure_to_boxes

    implied = {tuple(b)[:5] for b in structure_to_boxes(pairs, L)}
    chosen = [k for k in range(len(types)) if types[k] != "stem" and
              (str(types[k]), int(bx[k]), int(by[k]), int(sx[k]), int(sy[k])) in implied]
    chosen_stems = [k for k in kept if ("stem", int(bx[k]), int(by[k]), int(sx[k]), int(sy[k])) in implied]
    out = sorted((Box(str(types[k]), int(bx[k]), int(by[k]), int(sx[k]), int(sy[k])) for k in chosen_stems + chosen),
                 key=lambda x: (x.bb_x, x.type, x.bb_y))
    return Assembly(out, pairs, float(scores[chosen_stems + chosen].sum()) if chosen_stems or chosen else 0.0)

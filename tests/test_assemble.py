"""Assembly is exact: on small random candidate sets it matches a brute force over every
subset of stems (scored through boxes.structure_to_boxes, independent code), and its result is
always a valid structure; the true boxes of ViennaRNA folds come back when they score best."""

import itertools

import numpy as np
import pytest

from rnastruct.boxes import box_problems, structure_to_boxes
from rnastruct.s2.assemble import MAX_LOOP, MIN_HAIRPIN, assemble
from rnastruct.s1.prune import canonical_map
from rnastruct.structure import parse_dot_bracket


def table(boxes):
    cols = list(zip(*boxes)) if boxes else [()] * 5
    return {c: np.array(v) for c, v in zip(("type", "bb_x", "bb_y", "siz_x", "siz_y"), cols)}


def random_case(rng, L=26, n_stems=9):
    seq = "".join(rng.choice(list("ACGU"), L))
    canon = canonical_map(seq)
    stems = set()
    for _ in range(400):
        if len(stems) == n_stems:
            break
        i, j = sorted(rng.choice(L, 2, replace=False))
        s = int(rng.integers(1, 4))
        if j - i - 2 * (s - 1) - 1 < MIN_HAIRPIN:
            continue
        if all(canon[i + t, j - t] for t in range(s)):
            stems.add(("stem", int(i), int(j), s, s))
    stems = sorted(stems)
    loops = []
    # loops between random pairs of stems, and hairpins of some stems, as proposals
    for st in stems:
        c, d = st[1] + st[3] - 1, st[2] - st[3] + 1
        if rng.random() < 0.5:
            loops.append(("hloop", c, d, d - c + 1, d - c + 1))
        for other in stems:
            a, b = other[1], other[2]
            if c < a and b < d and (a - c - 1) + (d - b - 1) >= 1 and rng.random() < 0.5:
                loops.append(("iloop", c, d, a - c + 1, d - b + 1))
    boxes = stems + loops
    scores = rng.normal(0.3, 1.0, len(boxes))
    return seq, boxes, scores


def brute_force(seq, boxes, scores, unproposed=lambda box: 0.0):
    L = len(seq)
    score_of = {b: s for b, s in zip(boxes, scores)}
    stems = [b for b in boxes if b[0] == "stem"]
    best = 0.0  # the empty structure
    for r in range(1, len(stems) + 1):
        for subset in itertools.combinations(stems, r):
            pairs = [(b[1] + t, b[2] - t) for b in subset for t in range(b[3])]
            bases = [x for p in pairs for x in p]
            if len(set(bases)) != len(bases):
                continue
            pairs = np.array(sorted(pairs))
            got = structure_to_boxes(pairs, L)
            if any(b.pseudoknot for b in got):
                continue
            if sorted(tuple(b)[:5] for b in got if b.type == "stem") != sorted(subset):
                continue  # stems merged (stacked with no base between) or split
            total, ok = 0.0, True
            for b in got:
                key = tuple(b)[:5]
                if b.type == "stem":
                    total += score_of[key]
                elif key in score_of:
                    total += score_of[key]
                elif b.type == "iloop" and (b.siz_x + b.siz_y - 4) > MAX_LOOP:
                    ok = False
                else:
                    total += unproposed(key)
            if ok:
                best = max(best, total)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_assemble_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    seq, boxes, scores = random_case(rng)
    res = assemble(table(boxes), scores, seq)
    assert res.score == pytest.approx(brute_force(seq, boxes, scores), abs=1e-9)
    # the chosen boxes are a valid structure whose box score is the reported one
    assert box_problems(res.boxes, len(seq)) == []
    score_of = {b: s for b, s in zip(boxes, scores)}
    assert sum(score_of[tuple(b)[:5]] for b in res.boxes) == pytest.approx(res.score, abs=1e-9)
    implied = {tuple(b)[:5] for b in structure_to_boxes(res.pairs, len(seq))}
    assert {tuple(b)[:5] for b in res.boxes} <= implied


def test_true_boxes_come_back_from_decoys():
    import RNA

    rng = np.random.default_rng(3)
    for _ in range(20):
        seq = "".join(rng.choice(list("ACGU"), int(rng.integers(40, 120))))
        pairs = parse_dot_bracket(RNA.fold(seq)[0])
        true = [tuple(b)[:5] for b in structure_to_boxes(pairs, len(seq))]
        # decoys: every true stem shifted or resized, scored below the truth
        decoys = []
        for t in true:
            if t[0] == "stem":
                decoys += [("stem", t[1] + 1, t[2] - 1, t[3], t[3]), ("stem", t[1], t[2], max(1, t[3] - 1), max(1, t[3] - 1))]
        decoys = [d for d in dict.fromkeys(decoys) if d not in true]
        boxes = true + decoys
        scores = np.r_[np.full(len(true), 2.0), np.full(len(decoys), 1.0)]
        res = assemble(table(boxes), scores, seq)
        assert np.array_equal(res.pairs, pairs)
        assert sorted(tuple(b)[:5] for b in res.boxes) == sorted(true)


def test_impossible_candidates_are_ignored_and_empty_is_fine():
    seq = "GGGAAACCCA"
    boxes = [("stem", 0, 8, 3, 3),  # fine
             ("stem", 0, 9, 1, 1),  # G-A: non-canonical
             ("stem", 2, 6, 1, 1),  # encloses 3 bases: fine on its own
             ("stem", 3, 5, 1, 1)]  # encloses 1 base: too small
    res = assemble(table(boxes), np.array([1.0, 5.0, 0.5, 5.0]), seq)
    assert [tuple(b)[:5] for b in res.boxes] == [("stem", 0, 8, 3, 3)]
    assert res.score == 1.0
    empty = assemble(table([]), np.zeros(0), seq)
    assert empty.pairs.shape == (0, 2) and empty.score == 0.0
    with pytest.raises(ValueError, match="scores"):
        assemble(table(boxes), np.zeros(2), seq)


def loop_cost(kind, loops):
    """An unproposed loop's score as a function of its box (like a weighted loop energy)."""
    loops = np.asarray(loops)
    return np.where(kind == "hloop", 0.4 - 0.1 * loops[:, 2], 0.3 - 0.15 * (loops[:, 2] + loops[:, 3]))


@pytest.mark.parametrize("seed", range(8))
def test_assemble_scores_unproposed_loops_with_a_function(seed):
    rng = np.random.default_rng(50 + seed)
    seq, boxes, scores = random_case(rng)
    res = assemble(table(boxes), scores, seq, unproposed_loop=loop_cost)
    expected = brute_force(seq, boxes, scores, lambda box: float(loop_cost(box[0], [box[1:]])[0]))
    assert res.score == pytest.approx(expected, abs=1e-9)
    assert box_problems(res.boxes, len(seq)) == []


@pytest.mark.parametrize("seed", range(6))
def test_greedy_is_valid_and_never_beats_exact(seed):
    from rnastruct.s2.assemble import assemble_greedy

    rng = np.random.default_rng(100 + seed)
    seq, boxes, scores = random_case(rng, L=40, n_stems=14)
    exact, greedy = assemble(table(boxes), scores, seq), assemble_greedy(table(boxes), scores, seq)
    assert greedy.score <= exact.score + 1e-9
    assert len(set(greedy.pairs.ravel().tolist())) == greedy.pairs.size  # each base at most once
    assert box_problems([b for b in greedy.boxes if b.type == "stem"], len(seq)) == []


def test_pseudoknots_only_when_asked_and_only_crossing_positive_stems():
    """An H-type pseudoknot: stems A (0-3 with 14-17) and B (8-11 with 22-25) cross. The exact
    nested assembly takes the better one; add_pseudoknots then adds the crossing one when its
    score is positive, never one that shares a base or scores <= 0."""
    from rnastruct.boxes import Box
    from rnastruct.s2.assemble import add_pseudoknots
    from rnastruct.structure import to_dot_bracket

    seq = "GGGGAAAACCCCAACCCCAAAAGGGGAA"  # A: GGGG(0-3)/CCCC(14-17); B: CCCC(8-11)/GGGG(22-25)
    # C (2-3 with 14-15) crosses B too, but shares its bases with A
    table = {"type": np.array(["stem", "stem", "stem"]), "bb_x": np.array([0, 8, 2]),
             "bb_y": np.array([17, 25, 15]), "siz_x": np.array([4, 4, 2]), "siz_y": np.array([4, 4, 2])}
    scores = np.array([3.0, 2.0, 1.0])
    nested = assemble(table, scores, seq)
    assert [(b.bb_x, b.bb_y) for b in nested.boxes if b.type == "stem"] == [(0, 17)]
    assert "[" not in to_dot_bracket(nested.pairs, len(seq))

    knotted = add_pseudoknots(nested, table, scores, seq)
    db = to_dot_bracket(knotted.pairs, len(seq))
    assert db == "((((....[[[[..))))....]]]]..", db
    assert knotted.score == pytest.approx(nested.score + 2.0)
    assert [b for b in knotted.boxes if b.pseudoknot] == [Box("stem", 8, 25, 4, 4, pseudoknot=True)]
    assert box_problems(knotted.boxes, len(seq), allow_pseudoknots=True) == []
    assert box_problems(knotted.boxes, len(seq)) != []  # it is a real pseudoknot

    scores[1] = 0.0  # not worth taking
    assert add_pseudoknots(nested, table, scores, seq).pairs.tolist() == nested.pairs.tolist()


def test_allow_pseudoknots_needs_the_box_decoder():
    import RNA

    from rnastruct.errors import InputError
    from rnastruct.predictor import load_predictor

    with pytest.raises(InputError, match="--allow-pseudoknots needs --decoder boxes"):
        load_predictor(allow_pseudoknots=True)
    p = load_predictor(decoder="boxes", allow_pseudoknots=True)
    (_, r), = p.predict(["s"], ["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"])
    nested = "".join(c if c in "()" else "." for c in r.structure)
    assert len(r.structure) == 35 and r.energy == pytest.approx(RNA.fold_compound(r.seq).eval_structure(nested), abs=0.006)
    from .conftest import run_cli

    bad = run_cli("predict", "--allow-pseudoknots", r.seq)
    assert bad.returncode == 2 and "needs --decoder boxes" in bad.stderr and not bad.stdout
    ok = run_cli("predict", "--decoder", "boxes", "--allow-pseudoknots", r.seq)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[2].startswith(r.structure)

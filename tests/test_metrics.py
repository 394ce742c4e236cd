"""Base-pair metrics (``evaluate.pair_scores``) against hand-counted cases and a brute-force MCC."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnastruct.evaluate import count_pairs, pair_scores
from rnastruct.structure import parse_dot_bracket


def test_hand_counted_example():
    ref = parse_dot_bracket("((((...))))")
    pred = parse_dot_bracket("(((.....)))")  # 3 of 4 reference pairs, no false pair
    c = count_pairs(pred, ref, 11)
    assert (c.correct, c.n_pred - c.correct, c.n_ref - c.found) == (3, 0, 1)
    s = pair_scores(pred, ref, 11)
    assert s["precision"] == 1.0 and s["recall"] == 0.75
    assert s["f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_empty_set_conventions():
    empty = np.zeros((0, 2), dtype=int)
    some = parse_dot_bracket("((...))")
    assert pair_scores(empty, empty, 7) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}
    assert pair_scores(empty, some, 7)["f1"] == 0.0
    assert pair_scores(some, empty, 7)["f1"] == 0.0


def test_order_and_orientation_do_not_matter():
    ref = np.array([[0, 10], [1, 9]])
    pred = np.array([[9, 1], [10, 0]])
    assert pair_scores(pred, ref, 11)["f1"] == 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(5, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1])),
    st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1])))))
def test_against_brute_force(case):
    n, pred, ref = case
    s = pair_scores(np.array(sorted(pred)).reshape(-1, 2), np.array(sorted(ref)).reshape(-1, 2), n)
    cells = [(i, j) for i in range(n) for j in range(i + 1, n)]
    tp = sum(c in pred and c in ref for c in cells)
    fp = sum(c in pred and c not in ref for c in cells)
    fn = sum(c not in pred and c in ref for c in cells)
    tn = len(cells) - tp - fp - fn
    if not pred and not ref:
        assert s["f1"] == 1.0
        return
    if not pred or not ref:
        assert s["f1"] == 0.0
        return
    p, r = tp / len(pred), tp / len(ref)
    assert s["f1"] == pytest.approx(2 * p * r / (p + r) if tp else 0.0)
    d = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert s["mcc"] == pytest.approx((tp * tn - fp * fn) / d if d else 0.0)

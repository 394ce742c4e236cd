"""A limited base-pair span (``--max-bp-span W``, RNAfold's ``--maxBPspan``): S1's pair head on
the band only, ViennaRNA under the limit, every decoding, the probabilities and the constraints
with it; a span of the length or more changes nothing."""

import numpy as np
import pytest

from rnastruct.errors import InputError
from rnastruct.folding import fold_full
from rnastruct.learned import FoldEnergy
from rnastruct.predictor import load_predictor
from rnastruct.predictor.models import MODEL_SETS
from rnastruct.s1.infer import S1Predictor

from .conftest import run_cli


def _random_seqs(n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), int(rng.integers(lo, hi + 1)))) for _ in range(n)]


SEQS = _random_seqs(3, 80, 130, seed=28)


def _spans(pairs):
    pairs = np.asarray(pairs).reshape(-1, pairs.shape[-1] if np.ndim(pairs) == 2 else 2)
    return (pairs[:, 1] - pairs[:, 0]).astype(int) if len(pairs) else np.zeros(0, int)


def test_the_band_holds_the_whole_maps_values_tile_by_tile():
    # fp32 and small tiles: several tiles meet the band, some are skipped, and the band's values
    # must be the whole map's (the trunk's crops are exact)
    full = S1Predictor.from_checkpoint(MODEL_SETS["real"][0], tile=512)
    tiled = S1Predictor.from_checkpoint(MODEL_SETS["real"][0], tile=32)
    W = 24
    maps = dict(full.pair_logits(SEQS))
    bands = dict(tiled.pair_logits(SEQS, max_bp_span=W))
    for k, seq in enumerate(SEQS):
        L = len(seq)
        band, whole = bands[k], maps[k]
        assert band.shape == (L, W + 1)
        i, d = np.nonzero(np.add.outer(np.arange(L), np.arange(W + 1)) < L)
        assert np.abs(band[i, d] - whole[i, i + d]).max() < 1e-4
        assert (band[np.add.outer(np.arange(L), np.arange(W + 1)) >= L] == 0).all()


def test_sparse_band_energies_fold_as_the_full_map_under_the_same_span():
    W = 30
    for seq in SEQS:
        L = len(seq)
        rng = np.random.default_rng(L)
        logits = rng.normal(0, 3, (L, L)).astype(np.float32)
        band = np.zeros((L, W + 1), np.float32)
        for d in range(W + 1):
            band[: L - d, d] = logits[np.arange(L - d), np.arange(L - d) + d]
        energy = FoldEnergy(weight=0.4, offset=-2.0)
        dense = energy.pair_energies(logits, seq)
        sparse = energy.pair_energy_list(band, seq)
        decodings = [("mfe", 1, 0.3), ("centroid", 1, 0.3), ("mea", 1.0, 0.3), ("threshknot", 1, 0.2)]
        a = fold_full(seq, dense, decodings, probs=True, max_bp_span=W)
        b = fold_full(seq, sparse, decodings, probs=True, max_bp_span=W)
        for x, y in zip(a, b):
            assert np.array_equal(x.pairs, y.pairs) and x.energy == y.energy
            assert abs(x.ensemble_energy - y.ensemble_energy) < 1e-6
            assert np.abs(x.unpaired - y.unpaired).max() < 1e-9
            assert np.array_equal(x.bpp[:, :2], y.bpp[:, :2]) and np.abs(x.bpp[:, 2] - y.bpp[:, 2]).max() < 1e-9
            assert (_spans(y.pairs) <= W).all() and (_spans(y.bpp[:, :2]) <= W).all()
        # and the unlimited fold reports the whole map, whose rows the band's agree with
        whole = fold_full(seq, dense, decodings[:1], probs=True)[0]
        P = whole.probs
        assert np.abs(whole.unpaired - np.clip(1 - P.sum(0) - P.sum(1), 0, 1)).max() < 1e-9


def test_pairs_and_probabilities_never_exceed_the_span():
    W = 20
    for decoding in ("mfe", "centroid", "mea", "threshknot"):
        p = load_predictor(max_bp_span=W, probs=True, decoding=decoding)
        for _, r in p.predict([f"s{k}" for k in range(len(SEQS))], SEQS):
            assert (_spans(r.pairs) <= W).all()
            assert len(r.bpp) and (_spans(r.bpp[:, :2]) <= W).all() and (r.bpp[:, 2] >= 1e-3).all()
            assert r.unpaired.shape == (len(r.seq),) and (r.unpaired >= 0).all() and (r.unpaired <= 1).all()
    # the limit binds: without it these sequences form longer pairs
    free = load_predictor()
    assert max(_spans(r.pairs).max() for _, r in free.predict(["a"] * len(SEQS), SEQS)) > W


def test_a_span_of_the_length_or_more_changes_nothing():
    L = max(len(s) for s in SEQS)
    base = dict(load_predictor(probs=True).predict(["a"] * len(SEQS), SEQS))
    for W in (L - 1, L, L + 100):
        got = dict(load_predictor(probs=True, max_bp_span=W).predict(["a"] * len(SEQS), SEQS))
        for k in base:
            x, y = base[k], got[k]
            assert x.structure == y.structure and x.energy == y.energy
            assert np.array_equal(x.bpp, y.bpp) and np.array_equal(x.unpaired, y.unpaired)


def test_constraints_and_shape_work_within_the_span():
    seq = SEQS[0]
    W = 25
    con = "." * len(seq)
    # force the first formable pair of span 10, then one of span > W
    i = next(k for k in range(len(seq) - 10) if seq[k] + seq[k + 10] in ("AU", "UA", "GC", "CG", "GU", "UG"))
    inside = con[:i] + "(" + con[i + 1 : i + 10] + ")" + con[i + 11 :]
    shape = np.full(len(seq), np.nan)
    shape[:10] = 2.0
    r = load_predictor(max_bp_span=W).predict(["c"], [seq], constraints=[inside], shapes=[shape])
    r = next(r)[1]
    assert [i, i + 10] in r.pairs.tolist() and (_spans(r.pairs) <= W).all()
    j = next(k for k in range(i + W + 1, len(seq)) if seq[i] + seq[k] in ("AU", "UA", "GC", "CG", "GU", "UG"))
    outside = con[:i] + "(" + con[i + 1 : j] + ")" + con[j + 1 :]
    with pytest.raises(InputError, match=f"forced pair {i + 1}-{j + 1} spans .* maximum base-pair span {W}"):
        next(load_predictor(max_bp_span=W).predict(["c"], [seq], constraints=[outside]))


def test_bad_spans_are_refused_with_a_clear_message():
    r = run_cli("predict", "GGGAAACCC", "--max-bp-span", "3")
    assert r.returncode == 2 and "--max-bp-span must be a whole number >= 4" in r.stderr
    r = run_cli("predict", "GGGAAACCC", "--max-bp-span", "30", "--decoder", "boxes")
    assert r.returncode == 2 and "--max-bp-span is an option of the fold decoder" in r.stderr
    r = run_cli("predict", SEQS[1], "--max-bp-span", "20", "--format", "json", "--quiet")
    assert r.returncode == 0, r.stderr
    import json

    pairs = np.array(json.loads(r.stdout)[0]["pairs"]).reshape(-1, 2)
    assert (_spans(pairs) <= 20).all()


def test_threshknot_from_the_likely_pairs_equals_the_whole_maps():
    from rnastruct.learned import threshknot, threshknot_rows

    rng = np.random.default_rng(5)
    for L in (10, 40, 90):
        P = np.triu(rng.random((L, L)) ** 6, 1)  # mostly small, some large
        P[3, 7] = P[2, 7] = 0.5  # a tie for base 7: the lower partner wins in both
        for threshold in (0.05, 0.3, 0.6):
            i, j = np.nonzero(P >= 1e-3)
            rows = np.stack([i, j, P[i, j]], axis=1)
            assert np.array_equal(threshknot(P, threshold), threshknot_rows(rows, L, threshold))

"""The fold decoder's two shortcuts, each checked against ViennaRNA computed directly:

- the partition function without an MFE pass (ViennaRNA's own scaling, the MFE's only on
  overflow) gives RNAfold's probabilities and decodings;
- the pairs the learned term rules out (``FoldEnergy.prune``) are forbidden, exactly as hard
  constraints set by hand, unless a constraint forces one."""

import numpy as np
import pytest
import RNA

from rnastruct.folding import INFEASIBLE, UNSCALED_MAX_LENGTH, _partition, fold_full
from rnastruct.learned import FoldEnergy
from rnastruct.predictor import load_predictor
from rnastruct.structure import canonical_map, parse_dot_bracket, to_dot_bracket

from .conftest import run_cli


def _random_seqs(n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), int(rng.integers(lo, hi + 1)))) for _ in range(n)]


def _random_energies(seq, rng):
    """Pseudo-energies of every formable pair, as ``FoldEnergy.pair_energy_list`` gives them."""
    pairs = np.argwhere(np.triu(canonical_map(seq), 4))
    return pairs, rng.normal(0.5, 1.5, len(pairs))


def _vienna(seq, pairs=None, energy=None, forbid=(), constraint=None):
    """RNAfold's way: MFE first, Boltzmann factors rescaled around it, then the partition function."""
    fc = RNA.fold_compound(seq, RNA.md())
    for (i, j), e in zip([] if pairs is None else (pairs + 1).tolist(), [] if energy is None else energy.tolist()):
        fc.sc_add_bp(i, j, e)
    for i, j in (np.asarray(forbid, np.int64).reshape(-1, 2) + 1).tolist():
        fc.hc_add_bp(i, j, RNA.CONSTRAINT_CONTEXT_NONE | RNA.CONSTRAINT_CONTEXT_NO_REMOVE)
    if constraint is not None:
        fc.hc_add_from_db(constraint, RNA.CONSTRAINT_DB_DEFAULT | RNA.CONSTRAINT_DB_ENFORCE_BP)
    fc.exp_params_rescale(fc.mfe()[1])
    g = fc.pf()[1]
    return fc, g


def _band_to_map(f, L):
    P = np.zeros((L, L))
    for i, j, p in f.bpp:
        P[int(i), int(j)] = p
    return P


def test_no_mfe_pass_gives_rnafolds_probabilities_and_decodings():
    rng = np.random.default_rng(3)
    for seq in _random_seqs(40, 30, 300, seed=5):
        pairs, energy = _random_energies(seq, rng)
        fc, g = _vienna(seq, pairs, energy)
        got = fold_full(seq, (pairs, energy), [("centroid", 1, 0), ("mea", 1.0, 0)], probs=True)
        assert [to_dot_bracket(f.pairs, len(seq)) for f in got] == [fc.centroid()[0], fc.MEA(1.0)[0]]
        assert np.abs(got[0].probs - np.triu(np.asarray(fc.bpp())[1:, 1:], 1)).max() < 1e-9
        assert got[0].ensemble_energy == pytest.approx(g, abs=1e-4)


def test_an_overflow_without_the_mfe_falls_back_to_rnafolds_scaling():
    # 500 nt of GGGCCC: -776 kcal/mol, hundreds below ViennaRNA's estimate of -0.2 per nucleotide
    seq = ("GGGCCC" * 100)[:500]
    assert len(seq) <= UNSCALED_MAX_LENGTH
    unscaled = RNA.fold_compound(seq, RNA.md())
    assert unscaled.pf()[1] >= INFEASIBLE  # the overflow the fallback is for
    fc, g = _vienna(seq)
    compound = RNA.fold_compound(seq, RNA.md())
    got_g, mfe = _partition(compound)
    assert mfe == pytest.approx(fc.mfe()[1]) and got_g == pytest.approx(g, abs=1e-3)
    got = fold_full(seq, None, [("centroid", 1, 0)], probs=True)[0]
    assert to_dot_bracket(got.pairs, len(seq)) == fc.centroid()[0]
    assert np.isfinite(got.probs).all() and got.ensemble_energy == pytest.approx(g, abs=1e-3)


def test_no_structure_is_still_an_error_without_the_mfe_pass():
    # base 1 must pair, and an A has no U to pair with
    with pytest.raises(ValueError, match="the constraints leave no structure"):
        fold_full("AAAAAAAAAACCCCCCC", None, [("centroid", 1, 0)], constraint="|................")


def test_pruned_lists_the_pairs_at_or_above_the_threshold_in_both_forms():
    seq = "GGGGAAAACCCCAUAU"
    pairs = np.array([[0, 11], [1, 10], [2, 9], [12, 15]])
    energy = np.array([-1.0, 0.5, 0.5001, 3.0])
    rule = FoldEnergy(weight=0.4, offset=-2.0, prune=0.5)
    assert rule.pruned((pairs, energy), seq).tolist() == [[1, 10], [2, 9], [12, 15]]
    assert FoldEnergy(weight=0.4).pruned((pairs, energy), seq) is None
    assert rule.pruned(None, seq) is None
    # the map form: formable pairs only (i + 4 <= j, canonical), whatever the map holds elsewhere
    m = np.full((len(seq), len(seq)), 9.0)
    m[pairs[:, 0], pairs[:, 1]] = energy
    forbidden = {tuple(p) for p in rule.pruned(m, seq).tolist()}
    formable = {tuple(p) for p in np.argwhere(np.triu(canonical_map(seq), 4)).tolist()}
    assert forbidden == formable - {(0, 11)}
    with pytest.raises(Exception, match="prune"):
        FoldEnergy(prune=-1.0).validate()


def test_forbidden_pairs_fold_as_viennarna_with_hard_constraints_set_by_hand():
    rng = np.random.default_rng(7)
    for seq in _random_seqs(25, 40, 200, seed=9):
        pairs, energy = _random_energies(seq, rng)
        forbid = FoldEnergy(weight=1.0, prune=1.0).pruned((pairs, energy), seq)
        assert 0 < len(forbid) < len(pairs)
        fc, g = _vienna(seq, pairs, energy, forbid)
        got = fold_full(seq, (pairs, energy), [("mfe", 1, 0), ("centroid", 1, 0)], probs=True, forbid=forbid)
        assert [to_dot_bracket(f.pairs, len(seq)) for f in got] == [fc.mfe()[0], fc.centroid()[0]]
        assert np.abs(got[0].probs - np.triu(np.asarray(fc.bpp())[1:, 1:], 1)).max() < 1e-9
        assert got[0].probs[forbid[:, 0], forbid[:, 1]].max() == 0.0
        assert got[0].ensemble_energy == pytest.approx(g, abs=1e-4)
        # the same under a span limit, where the probabilities come as rows
        band = fold_full(seq, (pairs, energy), [("centroid", 1, 0)], probs=True, forbid=forbid, max_bp_span=30)[0]
        P = _band_to_map(band, len(seq))
        assert P[forbid[:, 0], forbid[:, 1]].max(initial=0.0) == 0.0


def test_a_constraint_may_force_a_forbidden_pair_and_its_energy_counts():
    seq = "GGGGAAAACCCCAAAAAAAAGGGAAAACCC"
    mfe_pairs = parse_dot_bracket(RNA.fold(seq)[0])
    i, j = (int(x) for x in mfe_pairs[0])
    pairs = np.argwhere(np.triu(canonical_map(seq), 4))
    energy = np.full(len(pairs), 5.0)  # every pair ruled out
    forbid = FoldEnergy(weight=1.0, prune=1.0).pruned((pairs, energy), seq)
    constraint = "".join("(" if k == i else ")" if k == j else "." for k in range(len(seq)))
    got = fold_full(seq, (pairs, energy), [("mfe", 1, 0), ("centroid", 1, 0)], constraint=constraint,
                    forbid=forbid)
    for f in got:
        assert f.pairs.tolist() == [[i, j]]  # the forced pair, and nothing the rule forbids
    fc, _ = _vienna(seq, pairs, energy, constraint=constraint)
    # the forced pair is priced: the MFE under the pseudo-energies is its Turner energy + 5
    assert fc.eval_structure(constraint) == pytest.approx(RNA.fold_compound(seq).eval_structure(constraint) + 5.0)


def test_the_default_model_prunes_and_no_prune_keeps_every_pair(tmp_path):
    seq = "GGGAGCUCAACUCUCCCUUGCGGCUUUGGAGACGUCAGAGCCGCAAGGUACGCUUAGCGUUCCAAAGCUGAGGAUGC"
    pruning = load_predictor()
    energy = pruning.decoder.settings.energy
    assert energy.prune is not None  # chosen on VL0 and shipped in the checkpoint
    exact = load_predictor(no_prune=True)
    assert exact.decoder.settings.energy.prune is None
    (k, logits), = pruning.s1.pair_logits([seq])
    pairs, e = energy.pair_energy_list(logits, seq)
    ruled_out = {tuple(p) for p in pairs[e >= energy.prune].tolist()}
    assert ruled_out
    pruned = next(pruning.predict(["s"], [seq]))[1]
    assert not {tuple(p) for p in pruned.pairs.tolist()} & ruled_out
    fa = tmp_path / "s.fa"
    fa.write_text(f">s\n{seq}\n")
    r = run_cli("predict", fa, "--no-prune", "--quiet")
    assert r.returncode == 0, r.stderr
    f = fold_full(seq, (pairs, e), [(energy.decoding, energy.gamma, energy.threshold)])[0]
    assert r.stdout.splitlines()[2].split()[0] == to_dot_bracket(f.pairs, len(seq))
    r = run_cli("predict", fa, "--no-prune", "--decoder", "boxes")
    assert r.returncode == 2 and "--no-prune is an option of the fold decoder" in r.stderr, r.stderr

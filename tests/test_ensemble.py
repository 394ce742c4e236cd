"""Training through ViennaRNA's partition function (SPEC section 9.1): the loss against
ViennaRNA's own structure probability, its gradient against finite differences of ViennaRNA's
ensemble free energy, and the chain rule into the network's logits and the learned scale."""

import math

import numpy as np
import pytest
import RNA
import torch

from rnastruct.folding import ensemble_nll, thermal_energy
from rnastruct.s1.ensemble import EnsembleLoss
from rnastruct.structure import canonical_map, parse_dot_bracket, to_dot_bracket

# small RNAs with hairpins, an internal loop and a multiloop, and their reference structures
CASES = [
    ("GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "(((...(((((((....)))...))))..)))..."),
    ("GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAA", "((.......))((((((.((......)).))))))."),  # the MFE
    ("ACGUAGCUAGCUAGGAUCCGAUCGAUUAGCGGCAA", "......((.((((..(((.....)))))))))..."),  # the MFE less its outer pair
]


def random_energies(seq, seed):
    """Pseudo-energies on the canonical pairs, in 0.01 kcal/mol (ViennaRNA's resolution)."""
    L = len(seq)
    e = np.random.default_rng(seed).normal(0.0, 1.0, (L, L)).round(2)
    return np.where(np.triu(canonical_map(seq), 1), e, 0.0)


@pytest.mark.parametrize("seq,db", CASES)
def test_loss_is_minus_log_probability_of_the_structure(seq, db):
    """Independent truth: ViennaRNA's own probability of the structure under the same soft
    constraints."""
    e = random_energies(seq, 1)
    nll, _ = ensemble_nll(seq, e, parse_dot_bracket(db))
    fc = RNA.fold_compound(seq)
    m = np.zeros((len(seq) + 1, len(seq) + 1))
    m[1:, 1:] = e
    fc.sc_add_bp(m.tolist())
    fc.exp_params_rescale(fc.mfe()[1])
    fc.pf()
    assert nll == pytest.approx(-math.log(fc.pr_structure(db)), rel=1e-6)
    assert nll > 0


@pytest.mark.parametrize("seq,db", CASES)
def test_gradient_matches_finite_differences(seq, db):
    """d(-log P)/d e_ij = (y_ij - p_ij)/kT against central differences of ViennaRNA's loss,
    with a step of 0.05 kcal/mol (a multiple of ViennaRNA's 0.01 resolution: 1e-3 would give 0),
    on reference pairs, competing pairs and pairs the ensemble barely forms."""
    ref = parse_dot_bracket(db)
    e = random_energies(seq, 2)
    _, grad = ensemble_nll(seq, e, ref)
    canon = np.argwhere(np.triu(canonical_map(seq), 4))
    in_ref = [tuple(p) for p in ref[:3]]
    strongest = [tuple(canon[k]) for k in np.argsort(-np.abs(grad[canon[:, 0], canon[:, 1]]))[:4]]
    h = 0.05
    checked = 0
    for i, j in dict.fromkeys(in_ref + strongest):
        up, down = e.copy(), e.copy()
        up[i, j] += h
        down[i, j] -= h
        fd = (ensemble_nll(seq, up, ref)[0] - ensemble_nll(seq, down, ref)[0]) / (2 * h)
        assert fd == pytest.approx(grad[i, j], rel=2e-3, abs=1e-4), (i, j)
        checked += abs(grad[i, j]) > 0.01
    assert checked >= 3  # the check saw real gradients, not zeros
    # a pair no structure can form (non-canonical) has no gradient
    assert np.all(grad[~np.triu(canonical_map(seq), 1)] == 0)


def test_gradient_is_reference_minus_probability_over_kt():
    seq, db = CASES[0]
    ref = parse_dot_bracket(db)
    _, grad = ensemble_nll(seq, np.zeros((len(seq), len(seq))), ref)
    kT = thermal_energy()
    assert kT == pytest.approx(0.61632, abs=1e-4)
    # every pair's gradient lies in [-1/kT, 1/kT], positive only on reference pairs
    assert grad.max() <= 1 / kT and grad.min() >= -1 / kT
    y = np.zeros_like(grad)
    y[ref[:, 0], ref[:, 1]] = 1
    assert np.all(grad[y == 1] >= 0) and np.all(grad[y == 0] <= 0)


def test_unrepresentable_reference_is_an_error():
    seq = "GGGAAAUCCC"
    with pytest.raises(ValueError, match="not in the ensemble: pair 1-4"):
        ensemble_nll(seq, np.zeros((10, 10)), np.array([[0, 3]]))  # a hairpin of 2
    with pytest.raises(ValueError, match="pair 4-10 is non-canonical"):
        ensemble_nll(seq, np.zeros((10, 10)), np.array([[3, 9]]))  # A-C
    with pytest.raises(ValueError, match="crossing"):
        ensemble_nll(seq, np.zeros((10, 10)), np.array([[0, 6], [2, 9]]))


def test_loss_backpropagates_into_logits_and_scale():
    """The chain rule: d loss / d logit_ij = -w (y - p)_ij / (kT L) on canonical pairs, 0 elsewhere
    and on padding; the scale and offset get theirs; two examples of different lengths in one
    padded batch give what each gives alone."""
    torch.manual_seed(0)
    seqs, dbs = [CASES[0][0], CASES[1][0]], [CASES[0][1], CASES[1][1]]
    pairs = [parse_dot_bracket(d) for d in dbs]
    L = max(map(len, seqs))
    logits = torch.randn(2, L, L, dtype=torch.float64, requires_grad=True)
    crit = EnsembleLoss(weight=0.5, offset=-1.0)
    out = crit(logits, seqs, pairs)
    out["ensemble"].backward()
    w = crit.weight
    for b, (s, p) in enumerate(zip(seqs, pairs)):
        n = len(s)
        canon = np.triu(canonical_map(s), 1)
        e = np.where(canon, -w * (logits.detach()[b, :n, :n].numpy() - (-1.0)), 0.0)
        nll, grad = ensemble_nll(s, e, p)
        expected = np.where(canon, -w * grad / n, 0.0) / 2  # batch mean
        np.testing.assert_allclose(logits.grad[b, :n, :n].numpy(), expected, atol=1e-6)
        assert torch.all(logits.grad[b, n:, :] == 0) and torch.all(logits.grad[b, :, n:] == 0)
        alone = EnsembleLoss(weight=0.5, offset=-1.0)(logits.detach()[b:b + 1, :n, :n], [s], [p])
        assert float(alone["ensemble"].detach()) == pytest.approx(nll / n, rel=1e-5)
    assert crit.log_weight.grad is not None and crit.offset.grad is not None
    assert float(crit.log_weight.grad) != 0 and float(crit.offset.grad) != 0


def test_offset_gradient_matches_finite_differences():
    """Through the learned offset, a step of 0.1 moves every pseudo-energy by 0.05 kcal/mol (w =
    0.5): a whole-model finite-difference check of the autograd path."""
    seq, db = CASES[1]
    pairs = [parse_dot_bracket(db)]
    L = len(seq)
    logits = torch.from_numpy(np.random.default_rng(3).normal(-3, 2, (1, L, L)).round(1))
    crit = EnsembleLoss(weight=0.5, offset=-1.0)
    crit(logits, [seq], pairs)["ensemble"].backward()
    analytic = float(crit.offset.grad)
    vals = []
    for b in (-0.9, -1.1):
        with torch.no_grad():
            crit.offset.fill_(b)
        vals.append(float(crit(logits, [seq], pairs)["ensemble"].detach()))
    assert (vals[0] - vals[1]) / 0.2 == pytest.approx(analytic, rel=1e-2)


def test_worker_processes_give_the_same_loss():
    seqs = [c[0] for c in CASES]
    pairs = [parse_dot_bracket(c[1]) for c in CASES]
    logits = torch.randn(3, 36, 36)
    one = EnsembleLoss(workers=1)(logits, seqs, pairs)
    pooled = EnsembleLoss(workers=2)
    two = pooled(logits, seqs, pairs)
    pooled.close()
    assert float(one["ensemble"].detach()) == pytest.approx(float(two["ensemble"].detach()), rel=1e-9)
    assert float(one["energy_reg"].detach()) == 0.0  # reg defaults to 0


def test_regulariser_is_mean_squared_energy_on_canonical_pairs():
    seq = CASES[0][0]
    L = len(seq)
    logits = torch.zeros(1, L, L)
    crit = EnsembleLoss(weight=0.5, offset=-2.0, reg=0.1)
    out = crit(logits, [seq], [parse_dot_bracket(CASES[0][1])])
    # every canonical pair: e = -0.5 * (0 + 2) = -1 -> mean square 1
    assert float(out["energy_reg"].detach()) == pytest.approx(0.1)
    assert to_dot_bracket(parse_dot_bracket(CASES[0][1]), L) == CASES[0][1]

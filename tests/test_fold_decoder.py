"""The fold decoder: the pairs box proposals put forward, and ViennaRNA's MFE restricted to them.

Checked against independent truth: ViennaRNA's own unconstrained MFE, its energy evaluation of
the returned structure, and an exhaustive enumeration of every structure of short sequences.
"""

from __future__ import annotations

import numpy as np
import pytest
import RNA

from rnastruct.boxes import boxes_to_pairs, candidate_pairs, structure_to_boxes
from rnastruct.errors import InputError
from rnastruct.folding import fold_within
from rnastruct.s1.prune import canonical_map
from rnastruct.structure import parse_dot_bracket



def columns(boxes):
    return ([b.type for b in boxes], [b.bb_x for b in boxes], [b.bb_y for b in boxes],
            [b.siz_x for b in boxes], [b.siz_y for b in boxes])


def canonical_pairs(seq: str) -> np.ndarray:
    """Every pair ViennaRNA may form: canonical, at least 3 bases apart."""
    return np.argwhere(np.triu(canonical_map(seq), 4)).astype(np.int64)


def test_candidate_pairs_of_hand_made_boxes():
    # stem (0,20) x3, internal loop from (2,18) to (5,16), hairpin closed by (5,12), a stem
    # overlapping the first, and boxes reaching outside a 21-nt sequence
    pairs = candidate_pairs(["stem", "iloop", "hloop", "stem", "stem", "hloop"],
                            [0, 2, 5, 2, 19, -1], [20, 18, 12, 18, 25, 3],
                            [3, 4, 8, 2, 3, 5], [3, 3, 8, 2, 3, 5], 21)
    assert pairs.tolist() == [[0, 20], [1, 19], [2, 18], [3, 17], [5, 12], [5, 16]]
    assert candidate_pairs([], [], [], [], [], 10).shape == (0, 2)


def test_candidate_pairs_of_true_boxes_are_the_structure():
    """On real folds, the true boxes put forward exactly the structure's pairs: a loop's closing
    pairs are pairs of its stems."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        seq = "".join(rng.choice(list("ACGU"), int(rng.integers(20, 150))))
        pairs = parse_dot_bracket(RNA.fold(seq)[0])
        boxes = structure_to_boxes(pairs, len(seq))
        got = candidate_pairs(*columns(boxes), len(seq))
        assert np.array_equal(got, pairs)
        assert np.array_equal(got, boxes_to_pairs(boxes))


def test_fold_within_every_canonical_pair_is_rnafold():
    rng = np.random.default_rng(4)
    for n in (12, 60, 200):
        seq = "".join(rng.choice(list("ACGU"), n))
        structure, energy = fold_within(seq, canonical_pairs(seq))
        mfe_structure, mfe = RNA.fold(seq)
        assert structure == mfe_structure and energy == pytest.approx(mfe, abs=0.006)
        # allowing only the MFE's own pairs gives the MFE back
        assert fold_within(seq, parse_dot_bracket(mfe_structure))[0] == mfe_structure


def test_fold_within_is_the_exact_minimum_over_allowed_structures():
    """Exhaustive truth: every secondary structure of a short sequence (ViennaRNA's suboptimals
    over the whole energy range), filtered to those using only allowed pairs."""
    rng = np.random.default_rng(5)
    for trial in range(12):
        seq = "".join(rng.choice(list("GCAU"), 18, p=[0.3, 0.3, 0.2, 0.2]))
        canon = canonical_pairs(seq)
        allowed = canon[rng.random(len(canon)) < 0.5]
        structure, energy = fold_within(seq, allowed)
        as_map = np.zeros((len(seq), len(seq)), dtype=bool)
        as_map[allowed[:, 0], allowed[:, 1]] = True
        assert fold_within(seq, as_map) == (structure, energy)  # the same pairs as a map
        got = parse_dot_bracket(structure)
        allowed_set = set(map(tuple, allowed.tolist()))
        assert all(tuple(p) in allowed_set for p in got.tolist())
        fc = RNA.fold_compound(seq)
        assert energy == pytest.approx(fc.eval_structure(structure), abs=0.006)
        fc.subopt_cb(10000, lambda s, e, data: data.append((s, e)) if s else None, everything := [])
        assert len(everything) > 1
        best = min(fc.eval_structure(s) for s, _ in everything
                   if all(tuple(p) in allowed_set for p in parse_dot_bracket(s).tolist()))
        assert energy == pytest.approx(min(best, 0.0), abs=0.006)


def test_fold_within_pseudo_energy_is_added_to_allowed_pairs():
    seq = "GGGGAAACCCCAUAGCAAAAGCUAUGG"
    allowed = canonical_pairs(seq)
    plain_structure, plain = fold_within(seq, allowed)
    bonus = np.zeros(len(allowed))
    k = next(n for n, (i, j) in enumerate(allowed.tolist()) if plain_structure[i] == ".")
    bonus[k] = -100.0  # a pair the MFE leaves open, made irresistible
    structure, energy = fold_within(seq, allowed, bonus)
    i, j = allowed[k]
    assert structure[i] == "(" and structure[j] == ")"
    assert energy == pytest.approx(RNA.fold_compound(seq).eval_structure(structure) - 100.0, abs=0.006)
    assert energy < plain


def test_fold_within_rejects_impossible_pairs():
    for bad in ([[3, 2]], [[0, 12]], [[-1, 5]]):
        with pytest.raises(ValueError, match="0 <= i < j < 12"):
            fold_within("GGGGAAACCCCA", bad)
    assert fold_within("GGGGAAACCCCA", np.zeros((0, 2))) == ("." * 12, 0.0)
    with pytest.raises(ValueError, match=r"\[P, 2\]"):
        fold_within("GGGGAAACCCCA", np.ones((12, 12), dtype=bool), np.zeros(3))


def test_predictor_fold_decoder_uses_only_proposed_pairs():
    """The bundled S1 with the default decoder: the structure uses only pairs its pruned
    proposals put forward, its energy is ViennaRNA's for it, and it is at least as stable as any
    other structure over those pairs would be (the MFE over the full pair set is a lower bound);
    ``predict``, which takes the allowed pairs straight from pixel proposals, gives the same."""
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.decoders import ProposalFold

    rng = np.random.default_rng(6)
    seqs = ["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"] + ["".join(rng.choice(list("ACGU"), n)) for n in (40, 120)]
    predictor = load_predictor(model="mfe")
    assert isinstance(predictor.decoder, ProposalFold)
    fast = dict(predictor.predict([f"s{k}" for k in range(len(seqs))], seqs))  # s1.allowed's path
    for k, proposals in predictor.s1.propose(seqs):
        seq = seqs[k]
        allowed = predictor.decoder.box_pairs(proposals, seq)
        r = predictor.decoder.fold_over(f"s{k}", seq, allowed)
        assert (fast[k].structure, fast[k].energy) == (r.structure, r.energy)
        allowed_set = set(map(tuple, allowed.tolist()))
        assert all(tuple(p) in allowed_set for p in r.pairs.tolist())
        assert r.energy == pytest.approx(RNA.fold_compound(seq).eval_structure(r.structure), abs=0.006)
        assert r.energy >= RNA.fold(seq)[1] - 0.006
        assert np.isnan(r.score) and structure_to_boxes(r.pairs, len(seq)) == r.boxes
    with pytest.raises(InputError, match="unknown decoder"):
        load_predictor(decoder="greedy")


def test_fold_proposal_thresholds_travel_in_the_s1_checkpoint(tmp_path):
    from rnastruct.checkpoints import load_checkpoint, save_checkpoint
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.models import MODEL_SETS

    state = load_checkpoint(MODEL_SETS["mfe"][0])
    state["fold_proposal"] = {"threshold": 0.03, "p_on": 0.04, "hloop_factor": 0.5, "method": "union"}
    save_checkpoint(tmp_path / "s1.pt", state)
    p = load_predictor(s1=tmp_path / "s1.pt")
    assert (p.decoder.proposal.threshold, p.decoder.proposal.p_on) == (0.03, 0.04)
    # the box decoder keeps the original's defaults, and an explicit config wins
    assert load_predictor(s1=tmp_path / "s1.pt", decoder="boxes").decoder.scorer.proposal.threshold == 0.2
    state["fold_proposal"] = {"threshold": 0.03, "pon": 0.04}
    save_checkpoint(tmp_path / "bad.pt", state)
    with pytest.raises(InputError, match="bad.pt: fold_proposal.*pon"):
        load_predictor(s1=tmp_path / "bad.pt")


def test_predict_cli_default_decoder_prints_rnafold_layout():
    from .conftest import run_cli

    seq = "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"
    r = run_cli("predict", seq)  # the default set: its structure in RNAfold's layout
    assert r.returncode == 0, r.stderr
    name, got_seq, line = r.stdout.splitlines()
    structure, energy = line[:len(seq)], line[len(seq):].strip()
    assert (name.split()[0], got_seq) == (">seq1", seq)
    assert float(energy.strip("()")) == pytest.approx(RNA.fold_compound(seq).eval_structure(structure), abs=0.006)
    r = run_cli("predict", seq, "--model", "mfe")
    assert r.returncode == 0, r.stderr
    name, got_seq, line = r.stdout.splitlines()
    structure, energy = line[:len(seq)], line[len(seq):].strip()
    assert (name.split()[0], got_seq) == (">seq1", seq)
    assert float(energy.strip("()")) == pytest.approx(RNA.fold_compound(seq).eval_structure(structure), abs=0.006)
    # this hairpin-rich sequence's MFE pairs are all proposed: the default gives RNAfold's answer
    assert structure == RNA.fold(seq)[0]


def test_worker_processes_give_the_single_process_results(monkeypatch):
    """Many sequences on several cores run in forked workers; each sequence is computed alone
    the same way, so the results (order included) equal one process's, whatever the count."""
    import rnastruct.hardware as hardware
    import rnastruct.predictor.core as core

    rng = np.random.default_rng(7)
    seqs = ["".join(rng.choice(list("ACGU"), int(n))) for n in rng.integers(20, 160, 24)]
    names = [f"r{k}" for k in range(len(seqs))]
    one = dict(core.load_predictor(threads=1).predict(names, seqs))
    monkeypatch.setattr(hardware, "PARALLEL_MIN_PIXELS", 0)  # parallel even for this small job
    seen = []
    monkeypatch.setattr(core.Predictor, "_predict_parallel",
                        lambda self, *a, _f=core.Predictor._predict_parallel: seen.append(1) or _f(self, *a))
    two = list(core.load_predictor(threads=2).predict(names, seqs))
    assert seen, "the parallel path was not taken"
    assert sorted(k for k, _ in two) == list(range(len(seqs)))
    for k, r in two:
        assert (r.name, r.structure, r.energy) == (one[k].name, one[k].structure, one[k].energy)
    assert sum("(" in r.structure for r in one.values()) > len(seqs) / 2


def test_thousands_of_short_sequences_on_two_workers_finish(tmp_path):
    """More tasks and results than a pipe holds (64 KB each way): the parent once blocked writing
    tasks while both workers blocked writing results it had not read yet, for ever."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    fa = tmp_path / "many.fa"
    fa.write_text("".join(f">sequence_{k}\n{''.join(rng.choice(list('ACGU'), 40))}\n" for k in range(3000)))
    cmd = [sys.executable, "-m", "rnastruct", "predict", str(fa), "--model", "turner", "--quiet"]
    two = subprocess.run(cmd + ["--threads", "2"], capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr
    one = subprocess.run(cmd + ["--threads", "1"], capture_output=True, text=True, timeout=120)
    assert two.stdout == one.stdout and two.stdout.count(">") == 3000


def test_precision_and_threads_are_checked_and_resolved():
    from rnastruct.hardware import native_bf16
    from rnastruct.predictor import load_predictor

    assert load_predictor(precision="fp32").s1.bf16 is False
    assert load_predictor(precision="bf16").s1.bf16 is True
    assert load_predictor().s1.bf16 == native_bf16()
    with pytest.raises(InputError, match="unknown precision 'fp16'"):
        load_predictor(precision="fp16")
    with pytest.raises(InputError, match="threads must be >= 1"):
        load_predictor(threads=0)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_both_precisions_give_rnafold_on_a_clear_hairpin(precision):
    """Either precision proposes every MFE pair of a sequence whose MFE dominates its ensemble."""
    from rnastruct.predictor import load_predictor

    seq = "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"
    (_, r), = load_predictor(precision=precision, model="mfe").predict(["s"], [seq])
    assert r.structure == RNA.fold(seq)[0]

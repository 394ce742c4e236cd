"""What RNAfold users rely on, through the fold decoder: pair probabilities and dot plots, ensemble
decodings, hard constraints and SHAPE data, each checked against ViennaRNA computed directly
(with the learned pseudo-energies off) and for consistency with them on."""

import json

import numpy as np
import pytest
import RNA

from rnastruct.constraints import check_constraint, constraint_violation, forced_pairs
from rnastruct.errors import InputError
from rnastruct.folding import fold_full
from rnastruct.predictor import load_predictor
from rnastruct.seqio import read_shape
from rnastruct.structure import to_dot_bracket

from .conftest import run_cli


def _random_seqs(n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), int(rng.integers(lo, hi + 1)))) for _ in range(n)]


SEQS = _random_seqs(200, 20, 120, seed=11)


def _vienna(seq, constraint=None, shape=None):
    fc = RNA.fold_compound(seq)
    if constraint is not None:
        fc.hc_add_from_db(constraint, RNA.CONSTRAINT_DB_DEFAULT | RNA.CONSTRAINT_DB_ENFORCE_BP)
    if shape is not None:
        fc.sc_add_SHAPE_deigan([-999.0] + [(-999.0 if np.isnan(x) else x) for x in shape], 1.8, -0.6,
                               RNA.OPTION_DEFAULT)
    s, mfe = fc.mfe()
    fc.exp_params_rescale(mfe)
    _, g = fc.pf()
    return fc, s, g


def test_probabilities_and_decodings_equal_viennarnas_on_200_sequences():
    for seq in SEQS:
        fc, mfe_s, g = _vienna(seq)
        got = fold_full(seq, None, [("mfe", 1, 0), ("mea", 1.0, 0), ("centroid", 1, 0)], probs=True)
        assert [to_dot_bracket(f.pairs, len(seq)) for f in got] == [mfe_s, fc.MEA(1.0)[0], fc.centroid()[0]]
        assert np.abs(got[0].probs - np.triu(np.asarray(fc.bpp())[1:, 1:], 1)).max() < 1e-6
        assert got[0].ensemble_energy == pytest.approx(g, abs=1e-4)


def _some_constraint(seq, rng):
    """A satisfiable constraint: one pair of the MFE structure forced, a few bases kept unpaired."""
    s, _ = RNA.fold(seq)
    c = ["."] * len(seq)
    pt = list(RNA.ptable(s))
    paired = [i - 1 for i in range(1, len(seq) + 1) if pt[i] > i]
    if paired:
        i = int(rng.choice(paired))
        c[i], c[pt[i + 1] - 1] = "(", ")"
    for k in rng.choice(len(seq), 3, replace=False):
        if c[k] == "." and pt[int(k) + 1] == 0:
            c[k] = "x"
    return "".join(c)


def test_constraints_equal_viennarnas_and_hold_with_learned_energies():
    rng = np.random.default_rng(0)
    for seq in SEQS:
        con = _some_constraint(seq, rng)
        assert check_constraint(seq, con) == []
        fc, s, _ = _vienna(seq, constraint=con)
        f = fold_full(seq, None, [("mfe", 1, 0), ("mea", 1.0, 0)], constraint=con)
        assert to_dot_bracket(f[0].pairs, len(seq)) == s
        assert to_dot_bracket(f[1].pairs, len(seq)) == fc.MEA(1.0)[0]
        # random pseudo-energies on: the structure still obeys the constraint
        E = np.triu(rng.normal(0, 2.0, (len(seq), len(seq))), 1)
        g = fold_full(seq, E, [("mfe", 1, 0)], constraint=con, probs=True)[0]
        assert constraint_violation(con, g.pairs) == ""
        P = g.probs
        assert ((P + P.T).sum(axis=1) <= 1 + 1e-6).all()
        for i, j in forced_pairs(con).tolist():
            assert P[i, j] == pytest.approx(1.0, abs=1e-6)


def test_shape_equals_viennarnas_and_adds_to_learned_energies(tmp_path):
    rng = np.random.default_rng(1)
    for seq in SEQS:
        shape = rng.gamma(0.8, 0.6, len(seq))
        shape[rng.random(len(seq)) < 0.2] = np.nan  # no data there
        fc, s, g = _vienna(seq, shape=shape)
        f = fold_full(seq, None, [("mfe", 1, 0), ("centroid", 1, 0)], shape=shape, probs=True)
        assert to_dot_bracket(f[0].pairs, len(seq)) == s
        assert to_dot_bracket(f[1].pairs, len(seq)) == fc.centroid()[0]
        assert f[0].ensemble_energy == pytest.approx(g, abs=1e-4)
    # with both: a structure's energy is Turner + its pairs' pseudo-energies + the SHAPE term
    seq = SEQS[0]
    E = np.triu(rng.normal(0, 1.0, (len(seq), len(seq))), 1)
    shape = rng.gamma(0.8, 0.6, len(seq))
    both = fold_full(seq, E, [("mfe", 1, 0)], shape=shape)[0]
    s = to_dot_bracket(both.pairs, len(seq))
    plain = RNA.fold_compound(seq).eval_structure(s)
    fc_shape, _, _ = _vienna(seq, shape=shape)
    total = plain + sum(E[i, j] for i, j in both.pairs.tolist()) + (fc_shape.eval_structure(s) - plain)
    for sub in RNA.fold_compound(seq).subopt(200)[:100]:
        p = np.array([(i - 1, RNA.ptable(sub.structure)[i] - 1) for i in range(1, len(seq) + 1)
                      if RNA.ptable(sub.structure)[i] > i]).reshape(-1, 2)
        other = (RNA.fold_compound(seq).eval_structure(sub.structure) + sum(E[i, j] for i, j in p.tolist())
                 + fc_shape.eval_structure(sub.structure) - RNA.fold_compound(seq).eval_structure(sub.structure))
        assert total <= other + 0.02 * (len(p) + len(both.pairs) + 1)


def test_read_shape_and_its_errors(tmp_path):
    f = tmp_path / "r.shape"
    f.write_text("1 G 0.5\n2 0.1\n3\n4 NA\n5 -999\n")
    got = read_shape(f, "GGGAAACCC", "r")
    assert got[0] == 0.5 and got[1] == 0.1 and np.isnan(got[2:]).all()
    for text, msg in (("10 0.3\n", "outside the sequence"), ("1 0.2\n1 0.3\n", "given twice"),
                      ("1 A 0.2\n", "sequence has 'G'"), ("x 0.2\n", "expected 'position"),
                      ("1 0.2x\n", "not a number")):
        f.write_text(text)
        with pytest.raises(InputError, match=msg):
            read_shape(f, "GGGAAACCC", "r")


def test_check_constraint_names_the_position():
    assert "position 3" in check_constraint("GGGAAACCC", "..a......")[0]
    assert "4-6" in check_constraint("GGGAAACCC", "...(.)...")[0]  # A-C, and a 1-base hairpin
    assert "unbalanced ')' at position 9" in check_constraint("GGGAAACCC", "........)")[0]
    assert "length" in check_constraint("GGGAAACCC", "...")[0]


def test_cli_bpp_constraint_and_shape(tmp_path):
    seq = SEQS[5]
    rng = np.random.default_rng(2)
    con = _some_constraint(seq, rng)
    fa = tmp_path / "in.fa"
    fa.write_text(f">r1\n{seq}\n{con}\n")
    out, bpp = tmp_path / "out.json", tmp_path / "bpp"
    r = run_cli("predict", fa, "--model", "turner", "--constraint", "--bpp", bpp, "--format", "json", "--out", out,
                "--decoding", "mea")
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())[0]
    fc, _, g = _vienna(seq, constraint=con)
    assert constraint_violation(con, np.array(rec["pairs"])) == ""
    # Turner alone: the model's ensemble is Turner's
    assert rec["ensemble_energy_model"] == pytest.approx(g, abs=1e-3)
    assert rec["ensemble_energy_turner"] == pytest.approx(g, abs=1e-3)
    assert rec["turner_energy"] == pytest.approx(fc.eval_structure(rec["structure"]), abs=0.006)
    assert rec["learned_energy"] is None and rec["s2_score"] is None
    assert rec["structure"] == fc.MEA(1.0)[0]
    P = np.triu(np.asarray(fc.bpp())[1:, 1:], 1)
    assert rec["unpaired_probability"] == pytest.approx(1 - P.sum(0) - P.sum(1), abs=1e-5)
    assert len(rec["unpaired_probability"]) == len(seq)
    rows = np.loadtxt(bpp / "r1.bpp.csv", delimiter=",", skiprows=1, ndmin=2)
    assert rows.shape[1] == 3 and (rows[:, 2] >= 1e-3).all() and (rows[:, 0] < rows[:, 1]).all()
    assert (bpp / "r1.dp.png").stat().st_size > 0 and (bpp / "r1.dp.svg").stat().st_size > 0
    # the same constraint from a file
    cf = tmp_path / "c.txt"
    cf.write_text(f">r1\n{con}\n")
    plain = tmp_path / "plain.fa"
    plain.write_text(f">r1\n{seq}\n")
    r = run_cli("predict", plain, "--model", "turner", "--constraint-file", cf, "--format", "json", "--decoding", "mea")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["pairs"] == rec["pairs"]
    cf.write_text(f">other\n{con}\n")
    r = run_cli("predict", plain, "--constraint-file", cf)
    assert r.returncode == 2 and "'other', which is not in the input" in r.stderr
    # an unsatisfiable constraint names the record and the position; nothing is written
    fa.write_text(f">r1\n{seq}\n{'x' * len(seq)}\n")
    bad = tmp_path / "bad.fa"
    bad.write_text(f">r1\n{seq}\n" + "(" + "." * (len(seq) - 2) + "a\n")
    r = run_cli("predict", bad, "--constraint", "--out", tmp_path / "o2.fa")
    assert r.returncode == 2 and "record r1" in r.stderr and not (tmp_path / "o2.fa").exists()
    # SHAPE from a file: the structure is ViennaRNA's own with that data
    shape = tmp_path / "r1.shape"
    vals = rng.gamma(0.8, 0.6, len(seq))
    shape.write_text("".join(f"{k + 1} {v:.4f}\n" for k, v in enumerate(vals)))
    fa.write_text(f">r1\n{seq}\n")
    r = run_cli("predict", fa, "--model", "turner", "--shape", shape, "--format", "dot-bracket")
    assert r.returncode == 0, r.stderr
    _, s, _ = _vienna(seq, shape=np.round(vals, 4))
    assert r.stdout.splitlines()[1] == s
    shape.write_text("999 0.3\n")
    r = run_cli("predict", fa, "--shape", shape)
    assert r.returncode == 2 and "r1.shape, line 1" in r.stderr


def test_the_mfe_set_with_options_folds_over_its_proposals_and_the_forced_pairs():
    """The mfe set restricts ViennaRNA to S1's proposed pairs (plus a constraint's forced
    ones): a sub-ensemble of ViennaRNA's, so its ensemble free energy is never lower."""
    rng = np.random.default_rng(4)
    seqs = SEQS[:20]
    cons = [_some_constraint(s, rng) for s in seqs]
    p = load_predictor(model="mfe", threads=1, probs=True, decoding="centroid")
    for k, r in p.predict([f"r{k}" for k in range(len(seqs))], seqs, constraints=cons):
        _, _, g = _vienna(seqs[k], constraint=cons[k])
        assert r.ensemble_energy >= g - 1e-3 and constraint_violation(cons[k], r.pairs) == ""


def test_options_need_the_fold_decoder():
    with pytest.raises(InputError, match="fold decoder"):
        load_predictor(model="mfe", decoder="boxes", probs=True)
    p = load_predictor(model="mfe", decoder="boxes", threads=1)
    with pytest.raises(InputError, match="fold decoder"):
        list(p.predict(["a"], ["GGGGAAAACCCC"], constraints=["((((....))))"]))


def test_sharded_predict_merges_to_the_single_run(tmp_path):
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">r{k}\n{s}\n" for k, s in enumerate(SEQS[:7])))
    for fmt in ("rnafold", "json"):
        whole = tmp_path / f"whole.{fmt}"
        r = run_cli("predict", fa, "--model", "mfe", "--format", fmt, "--out", whole)
        assert r.returncode == 0, r.stderr
        parts = []
        for k in range(3):
            part = tmp_path / f"part{k}.{fmt}"
            r = run_cli("predict", fa, "--model", "mfe", "--format", fmt, "--shard", k, "--num-shards", 3,
                        "--out", part)
            assert r.returncode == 0, r.stderr
            parts.append(part)
        merged = tmp_path / f"merged.{fmt}"
        r = run_cli("merge", parts[2], parts[0], parts[1], "--out", merged)  # any order in
        assert r.returncode == 0, r.stderr
        assert merged.read_text() == whole.read_text()
        r = run_cli("merge", parts[0], parts[2], "--out", tmp_path / f"m2.{fmt}")
        assert r.returncode == 2 and "missing" in r.stderr and not (tmp_path / f"m2.{fmt}").exists()
    r = run_cli("predict", fa, "--shard", 3, "--num-shards", 3, "--out", tmp_path / "x.fa")
    assert r.returncode == 2 and "0 <= K < N" in r.stderr


def test_a_calibration_temperature_scales_the_reported_probabilities_only():
    for seq in SEQS[:10]:
        md = RNA.md()
        md.betaScale = 2.0
        fc = RNA.fold_compound(seq, md)
        fc.exp_params_rescale(fc.mfe()[1])
        fc.pf()
        hot = np.triu(np.asarray(fc.bpp())[1:, 1:], 1)
        plain, scaled = (fold_full(seq, None, [("mea", 0.5, 0)], probs=True, prob_scale=x)[0] for x in (1.0, 2.0))
        assert np.abs(scaled.probs - hot).max() < 1e-6
        assert plain.pairs.tolist() == scaled.pairs.tolist()  # decoded from the unscaled ensemble

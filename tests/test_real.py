"""Learning from real structures: the real-structure datasets and their leakage filter, S1's
pair head fine-tuned on them, and the learned pseudo-energies inside ViennaRNA's folding (checked
against ViennaRNA computed directly)."""

import dataclasses

import numpy as np
import pytest
import RNA
import torch

from rnastruct.checkpoints import save_checkpoint
from rnastruct.errors import InputError
from rnastruct.folding import fold_soft, fold_soft_many, pair_probabilities
from rnastruct.learned import FoldEnergy, stem_pair_scores, threshknot
from rnastruct.realdata import (build_rows, clean_sequence, kmers, nhmmer_homologs, read_real_csv, reduce_structure,
                                resolve_multiplets)
from rnastruct.s1.data import load_examples
from rnastruct.s1.model import S1ModelConfig, build_model
from rnastruct.s1.training import CHECKPOINT_KIND, S1Config, init_weights, with_reference_pairs
from rnastruct.seqio import Record, read_table
from rnastruct.structure import parse_dot_bracket, to_dot_bracket

from .conftest import SHARED_DATA, need_shared_data, run_cli

TINY = S1ModelConfig(seq_channels=8, seq_layers=2, pair_channels=8, dilations=[1, 2], head_channels=8,
                     pair_prob_head=True)


def _random_seqs(n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), int(rng.integers(lo, hi + 1)))) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# real structures -> training structures


def test_clean_sequence_turns_other_letters_into_n():
    assert clean_sequence("acgtnRYP") == ("ACGUNNNN", 3)
    with pytest.raises(ValueError, match="position 3"):
        clean_sequence("AC-GU")


def test_reduce_structure_by_hand():
    #        0         1         2
    #        0123456789012345678901234567
    seq = "GGGAAACCCAAGGGGAAAACCCCAAAUU"
    ref = parse_dot_bracket("(((...)))..((((....)))).....")
    # (9, 24) A-A is non-canonical; (4, 26) A-U crosses the first stem, (16, 27) A-U the second
    extra = np.array([[9, 24], [4, 26], [16, 27]])
    nested, knotted, counts = reduce_structure(seq, np.concatenate([ref, extra]))
    assert to_dot_bracket(nested, len(seq)) == "(((...)))..((((....)))).....", "the nested canonical part"
    assert counts["non_canonical_pairs"] == 1  # (9, 24) A-A
    # (4, 26) and (16, 27) share no base but each crosses a stem: both are pseudoknotted
    assert sorted(map(tuple, knotted.tolist())) == [(4, 26), (16, 27)]
    assert counts["pseudoknot_pairs"] == 2 and counts["multiplet_pairs"] == 0
    # a hairpin of 2 bases cannot form
    nested, _, counts = reduce_structure("GAAC", np.array([[0, 3]]))
    assert len(nested) == 0 and counts["sharp_hairpin_pairs"] == 1


def test_multiplets_keep_canonical_then_stacked():
    seq = "GGGAAAACCCA"
    # base 0 in two pairs: (0, 9) G-C canonical and stacked on (1, 8); (0, 10) G-A not
    pairs = np.array([[0, 9], [0, 10], [1, 8], [2, 7]])
    kept, dropped = resolve_multiplets(seq, pairs)
    assert kept.tolist() == [[0, 9], [1, 8], [2, 7]] and dropped == 1
    # both canonical: the stacked one wins
    seq = "GGGAAAACCCC"
    kept, dropped = resolve_multiplets(seq, np.array([[0, 10], [0, 9], [1, 8]]))
    assert kept.tolist() == [[0, 9], [1, 8]] and dropped == 1


def test_leakage_filter_identity_and_kmer():
    recs = [Record("a", "GGGGAAAACCCC", np.array([[0, 11]])), Record("b", "ACGUACGUACGUAAAA", np.zeros((0, 2))),
            Record("c", "UUUUGGGCCCAAAAAA", np.zeros((0, 2)))]
    cols, counts = build_rows(recs, "train", exclude=["ggggaaaacccc"])  # cleaned the same way
    assert cols["id"] == ["b", "c"] and counts["dropped_identical_to_evaluation"] == 1
    # "c" shares the 6-mer GGGCCC with an evaluation sequence (on the reverse strand too)
    cols, counts = build_rows(recs, "train", exclude=["AAGGGCCCAA"], kmer=6)
    assert cols["id"] == ["a", "b"] and counts["dropped_kmer_shared_with_evaluation"] == 1
    cols, counts = build_rows(recs, "train", max_length=12)
    assert cols["id"] == ["a"] and counts["dropped_too_long"] == 2


# tRNA-Phe of yeast and of E. coli: homologs (same family, same cloverleaf) that share no 12-mer
TRNA_PHE_YEAST = "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA"
TRNA_PHE_ECOLI = "GCCCGGAUAGCUCAGUCGGUAGAGCAGGGGAUUGAAAAUCCCCGUGUCCUUGGUUCGAUUCCGAGUCCGGGCACCA"


def test_homology_filter_finds_a_homolog_that_kmers_miss():
    assert not kmers(TRNA_PHE_YEAST, 12) & kmers(TRNA_PHE_ECOLI, 12)
    rng = np.random.default_rng(0)
    shuffled = "".join(rng.permutation(list(TRNA_PHE_ECOLI)))  # same composition, no homology
    unrelated = "".join(rng.choice(list("ACGU"), 300))
    targets = {"ecoli": TRNA_PHE_ECOLI, "shuffled": shuffled, "unrelated": unrelated,
               "ecoli_in_a_longer_rna": unrelated[:100] + TRNA_PHE_ECOLI.replace("U", "T") + unrelated[100:160]}
    assert nhmmer_homologs([TRNA_PHE_YEAST], targets, 1e-3) == {"ecoli", "ecoli_in_a_longer_rna"}
    assert nhmmer_homologs([TRNA_PHE_YEAST], targets, 1e-30) == set()  # the E-value threshold is honoured
    assert nhmmer_homologs([TRNA_PHE_YEAST], {"ecoli": TRNA_PHE_ECOLI}, 0.5) == {"ecoli"}  # above 0.01 too
    assert nhmmer_homologs([], targets) == set()
    recs = [Record(n, s, np.zeros((0, 2))) for n, s in targets.items()]
    cols, counts = build_rows(recs, "train", exclude=[TRNA_PHE_YEAST],
                              homologs=nhmmer_homologs([TRNA_PHE_YEAST], targets))
    assert cols["id"] == ["shuffled", "unrelated"] and counts["dropped_homolog_of_evaluation"] == 2


def _write_csv(path, rows):
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "sequence", "base_pairs", "family"])
        for r in rows:
            w.writerow(r)


def test_real_data_command_writes_a_dataset_s1_reads(tmp_path):
    train, valid, held = tmp_path / "tr.csv", tmp_path / "vl.csv", tmp_path / "ev.csv"
    _write_csv(train, [("t1", "GGGGAAAACCCC", "[[1, 12], [2, 11], [3, 10], [4, 9]]", "x"),
                       ("t2", "GGGAAAPCCCAA", "[[1, 10], [2, 9], [3, 8], [3, 11]]", "y"),
                       ("t3", "ACGUACGUAC", "[]", "x")])
    _write_csv(valid, [("v1", "GCGCAAAAGCGC", "[[1, 12], [2, 11]]", "x")])
    _write_csv(held, [("e1", "ACGUACGUAC", "[]", "x")])
    out = tmp_path / "ds"
    r = run_cli("real-data", "--train", train, "--valid", valid, "--exclude", held, "--out", out)
    assert r.returncode == 0, r.stderr
    table, manifest = read_table(out)
    assert table.column("id").to_pylist() == ["t1", "t2", "v1"]
    assert table.column("split").to_pylist() == ["train", "train", "valid"]
    assert table.column("seq").to_pylist()[1] == "GGGAAANCCCAA"  # P -> N
    assert table.column("structure").to_pylist()[:2] == ["((((....))))", "(((....)))..", ]
    c = manifest["counts"][str(train)]
    assert c["dropped_identical_to_evaluation"] == 1 and c["multiplet_pairs"] == 1
    assert c["records_with_other_letters"] == 1 and c["kept"] == 2
    ex, split = load_examples(out)
    assert len(ex) == 3 and list(split) == ["train", "train", "valid"]
    r = run_cli("inspect", out)  # a real dataset has no MFE columns
    assert r.returncode == 0, r.stderr
    assert f"{train}: train, kept 2 of 3" in r.stdout and "t2" in r.stdout
    # the homology filter, on the training rows and (--filter-valid) on the validation rows
    _write_csv(train, [("t1", "GGGGAAAACCCC", "[[1, 12]]", ""), ("phe", TRNA_PHE_ECOLI, "[[1, 72]]", "")])
    _write_csv(valid, [("v1", "GCGCAAAAGCGC", "[[1, 12]]", ""), ("phe2", TRNA_PHE_ECOLI[1:], "[]", "")])
    _write_csv(held, [("e1", TRNA_PHE_YEAST, "[]", "")])
    for extra, valid_ids in (([], ["v1", "phe2"]), (["--filter-valid"], ["v1"])):
        r = run_cli("real-data", "--train", train, "--valid", valid, "--exclude", held, "--homology-evalue", "1e-3",
                    *extra, "--out", out, "--overwrite")
        assert r.returncode == 0, r.stderr
        table, manifest = read_table(out)
        assert table.column("id").to_pylist() == ["t1", *valid_ids]
        assert manifest["counts"][str(train)]["dropped_homolog_of_evaluation"] == 1
        assert manifest["params"]["homology_evalue"] == 1e-3
    r = run_cli("real-data", "--train", train, "--homology-evalue", "1e-3", "--out", tmp_path / "ds3")
    assert r.returncode == 2 and "--exclude" in r.stderr and not (tmp_path / "ds3").exists()
    # a bad file: a clear error naming it, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text("id,seq\nx,ACGU\n")
    r = run_cli("real-data", "--train", bad, "--out", tmp_path / "ds2")
    assert r.returncode == 2 and "bad.csv, line 1" in r.stderr and not (tmp_path / "ds2").exists()
    _write_csv(bad, [("x", "ACGUAC", "[[1, 9]]", "")])
    r = run_cli("real-data", "--train", bad, "--out", tmp_path / "ds2")
    assert r.returncode == 2 and "line 2, record x" in r.stderr and not (tmp_path / "ds2").exists()


def test_real_csvs_read_and_overlap_archiveii_as_documented():
    need_shared_data()
    real, bench = SHARED_DATA / "real", SHARED_DATA / "benchmarks"
    archive = {clean_sequence(r.seq)[0] for r in read_real_csv(bench / "ArchiveII.csv")[0]}
    for name, n, overlap in (("bpRNA_VL0.csv", 1300, 62), ("PDB_TR1.csv", 120, 6), ("PDB_VL1.csv", 30, 2)):
        records, _ = read_real_csv(real / name)
        assert len(records) == n
        assert sum(clean_sequence(r.seq)[0] in archive for r in records) == overlap, name
        cols, counts = build_rows(records, "train", exclude=archive)
        assert counts["dropped_identical_to_evaluation"] == overlap
        for seq, pairs in zip(cols["seq"], cols["pairs"]):  # what S1 and ViennaRNA accept
            assert to_dot_bracket(pairs, len(seq)).count("(") == len(pairs)
            assert all(seq[i] + seq[j] in ("AU", "UA", "GC", "CG", "GU", "UG") for i, j in pairs.tolist())


# ---------------------------------------------------------------------------------------------
# pseudo-energies and decoding, against ViennaRNA directly


def test_pseudo_energies_only_on_canonical_pairs():
    seq = "GAUCA"
    logits = np.full((5, 5), 2.0, dtype=np.float32)
    e = FoldEnergy(weight=0.5, offset=1.0).pair_energies(logits, seq)
    assert e[0, 2] == pytest.approx(-0.5) and e[1, 2] == pytest.approx(-0.5)  # G-U, A-U
    assert e[0, 1] == 0 and e[2, 0] == 0 and e[3, 4] == 0  # G-A, below the diagonal, C-A


def test_stem_scores_by_hand():
    # two overlapping stems and a hairpin box: a pair held by both stems takes the better score
    boxes = {"type": np.array(["stem", "stem", "hloop"]), "bb_x": np.array([0, 1, 2]),
             "bb_y": np.array([9, 8, 7]), "siz_x": np.array([3, 2, 6]), "siz_y": np.array([3, 2, 6])}
    best = stem_pair_scores(boxes, np.array([1.0, 3.0, 9.0]), 10)
    held = {tuple(p): best[tuple(p)] for p in np.argwhere(np.isfinite(best)).tolist()}
    assert held == {(0, 9): 1.0, (1, 8): 3.0, (2, 7): 3.0}  # the hairpin holds no pair
    e = FoldEnergy(s2_weight=0.5, s2_offset=2.0).stem_energies(best)
    assert e[0, 9] == pytest.approx(0.5) and e[1, 8] == pytest.approx(-0.5) and e[3, 6] == 0
    assert FoldEnergy(s2_weight=1.0).stem_energies(np.full((2, 2), 40.0))[0, 1] == -10  # clipped


def test_threshknot_by_hand():
    P = np.zeros((6, 6))
    P[0, 5], P[0, 4], P[1, 4], P[2, 3] = 0.6, 0.35, 0.5, 0.2
    assert threshknot(P, 0.3).tolist() == [[0, 5], [1, 4]]  # (0, 4) is not 4's best
    assert threshknot(P, 0.55).tolist() == [[0, 5]]


def test_without_pseudo_energies_every_decoding_is_viennarnas():
    for seq in _random_seqs(40, 30, 160, seed=1):
        fc = RNA.fold_compound(seq)
        mfe_s, mfe = fc.mfe()
        fc.exp_params_rescale(mfe)
        fc.pf()
        want = {"mfe": mfe_s, "mea": fc.MEA(1.0)[0], "centroid": fc.centroid()[0]}
        got = fold_soft_many(seq, None, [("mfe", 1, 0), ("mea", 1.0, 0), ("centroid", 1, 0)])
        for (name, s), (pairs, energy) in zip(want.items(), got):
            assert to_dot_bracket(pairs, len(seq)) == s, name
            assert energy == pytest.approx(fc.eval_structure(s), abs=0.011)
        P, g = pair_probabilities(seq)
        assert np.allclose(P, np.triu(np.asarray(fc.bpp())[1:, 1:], 1), atol=1e-6)


def test_pseudo_energies_enter_the_recursions_exactly():
    rng = np.random.default_rng(3)
    for seq in _random_seqs(15, 40, 120, seed=2):
        L = len(seq)
        E = np.triu(rng.normal(0, 1.0, (L, L)), 1)
        pairs, turner = fold_soft(seq, E)
        s = to_dot_bracket(pairs, L)
        # its Turner energy plus its pairs' pseudo-energies is the least over structures: no
        # lower one among 200 suboptimal structures of the same soft-constrained compound
        total = RNA.fold_compound(seq).eval_structure(s) + sum(E[i, j] for i, j in pairs.tolist())
        assert turner == pytest.approx(RNA.fold_compound(seq).eval_structure(s), abs=0.011)
        fc = RNA.fold_compound(seq)
        for sub in fc.subopt(100)[:200]:  # plain Turner suboptimals, priced with E by hand
            p = parse_dot_bracket(sub.structure)
            other = RNA.fold_compound(seq).eval_structure(sub.structure) + sum(E[i, j] for i, j in p.tolist())
            assert total <= other + 0.02 * (len(p) + len(pairs) + 1)  # ViennaRNA rounds to 0.01
        # probabilities under the same energies: each base in at most one pair
        P, _ = pair_probabilities(seq, E)
        assert ((P + P.T).sum(axis=1) <= 1 + 1e-6).all()


def test_a_strong_bonus_forces_its_pairs():
    seq = "GGGGCCCCAUAGCAAACUAUUUGGGGCCCC"
    want = parse_dot_bracket("........((((....))))..........")  # A-U, U-A, A-U, G-C
    assert not {tuple(p) for p in want.tolist()} <= {tuple(p) for p in fold_soft(seq)[0].tolist()}
    E = np.zeros((len(seq), len(seq)))
    E[want[:, 0], want[:, 1]] = -20.0
    for decoding in ("mfe", "mea", "centroid", "threshknot"):
        pairs, _ = fold_soft(seq, E, decoding)
        assert {tuple(p) for p in want.tolist()} <= {tuple(p) for p in pairs.tolist()}, decoding


# ---------------------------------------------------------------------------------------------
# S1's pair head: training target, fine-tuning, inference


def test_reference_pairs_are_the_pair_target():
    from rnastruct.s1.data import S1Examples

    pairs = parse_dot_bracket("((((....))))")
    ex = with_reference_pairs(S1Examples(["GGGGAAAACCCC"], [pairs]))
    batch = ex.batch(np.array([0]))
    target = batch["targets"]["pair_prob"][0].numpy()
    assert set(zip(*np.nonzero(target))) == {tuple(p) for p in pairs.tolist()}
    assert batch["masks"]["pair"][0].sum() == 12 * 11 // 2


def test_init_weights_copies_what_fits_and_starts_the_head_at_the_prior(tmp_path):
    torch.manual_seed(0)
    base = build_model(dataclasses.replace(TINY, pair_prob_head=False))
    cfg = S1Config(model=dataclasses.replace(TINY, pair_prob_head=False))
    save_checkpoint(tmp_path / "a.pt", {"kind": CHECKPOINT_KIND, "config": dataclasses.asdict(cfg),
                                        "model": base.state_dict()})
    torch.manual_seed(1)
    model = build_model(TINY)
    init_weights(model, tmp_path / "a.pt")
    for name, v in base.state_dict().items():
        assert torch.equal(model.state_dict()[name], v), name
    assert (model.pair_prob.weight == 0).all() and model.pair_prob.bias.item() == pytest.approx(-4.6)
    with pytest.raises(InputError, match="no weight fits"):
        init_weights(build_model(S1ModelConfig(arch="original", filters=[4], filter_width=[3],
                                               head_channels=4)), tmp_path / "a.pt")


def _tiny_checkpoint(path, fold_energy=None, seed=0):
    torch.manual_seed(seed)
    model = build_model(TINY)
    with torch.no_grad():
        model.pair_prob.weight.normal_(0, 0.5)
    state = {"kind": CHECKPOINT_KIND, "config": dataclasses.asdict(S1Config(model=TINY, pair_prob_weight=1.0)),
             "model": model.state_dict()}
    if fold_energy is not None:
        state["fold_energy"] = dataclasses.asdict(fold_energy)
    save_checkpoint(path, state)
    return model.eval()


def test_pair_logits_are_the_heads_output_tiled_or_not(tmp_path):
    from rnastruct.s1.infer import S1Predictor

    model = _tiny_checkpoint(tmp_path / "s1.pt")
    seqs = _random_seqs(5, 20, 70, seed=4)
    whole = dict(S1Predictor(model).pair_logits(seqs))
    tiled = dict(S1Predictor(model, tile=16).pair_logits(seqs))
    for k, s in enumerate(seqs):
        tokens = torch.from_numpy(__import__("rnastruct.s1.data", fromlist=["tokenize"]).tokenize(s))[None]
        with torch.no_grad():
            want = model(tokens, torch.tensor([len(s)]))["pair_prob"][0].numpy()
        iu = np.triu_indices(len(s), 1)
        assert np.allclose(whole[k][iu], want[iu], atol=1e-5)
        assert np.allclose(tiled[k][iu], want[iu], atol=1e-5)


def test_predictor_with_learned_energies(tmp_path):
    from rnastruct.predictor import load_predictor

    seqs = _random_seqs(6, 30, 90, seed=5)
    names = [f"s{k}" for k in range(len(seqs))]
    # weight 0: RNAfold's own MFE and MEA, whatever the network says
    _tiny_checkpoint(tmp_path / "zero.pt", FoldEnergy(weight=0.0, decoding="mea", gamma=1.0))
    p = load_predictor(s1=tmp_path / "zero.pt", threads=1)
    got = dict(p.predict(names, seqs))
    for k, s in enumerate(seqs):
        fc = RNA.fold_compound(s)
        fc.exp_params_rescale(fc.mfe()[1])
        fc.pf()
        assert got[k].structure == fc.MEA(1.0)[0]
    got = dict(load_predictor(s1=tmp_path / "zero.pt", threads=1, decoding="mfe").predict(names, seqs))
    assert [got[k].structure for k in range(len(seqs))] == [RNA.fold(s)[0] for s in seqs]
    # a real weight: the structure is ViennaRNA's under the head's pseudo-energies
    model = _tiny_checkpoint(tmp_path / "w.pt", FoldEnergy(weight=0.8, offset=0.5, decoding="mfe"))
    from rnastruct.s1.infer import S1Predictor

    logits = dict(S1Predictor(model).pair_logits(seqs))
    got = dict(load_predictor(s1=tmp_path / "w.pt", threads=1).predict(names, seqs))
    for k, s in enumerate(seqs):
        want, _ = fold_soft(s, FoldEnergy(weight=0.8, offset=0.5).pair_energies(logits[k], s))
        assert got[k].pairs.tolist() == want.tolist()
    # a model-set folder, and decoder options that do not fit
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "s1.pt").write_bytes((tmp_path / "w.pt").read_bytes())
    got = dict(load_predictor(model=str(tmp_path / "set"), threads=1).predict(names, seqs))
    want = fold_soft(seqs[0], FoldEnergy(weight=0.8, offset=0.5).pair_energies(logits[0], seqs[0]))[0]
    assert got[0].pairs.tolist() == want.tolist()
    with pytest.raises(InputError, match="neither a bundled set"):
        load_predictor(model=str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="option of the fold decoder"):
        load_predictor(model=str(tmp_path / "set"), decoder="boxes", decoding="mea")


def test_predictor_with_s2_stem_term(tmp_path):
    """A set whose fold_energy gives S2 a weight: the structure is ViennaRNA's under the pair
    head's pseudo-energies plus S2's stem term on the boxes the box decoder would score."""
    import shutil

    from rnastruct.checkpoints import load_checkpoint
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.models import MODEL_SETS
    from rnastruct.s1.infer import proposal_table

    s1, s2 = MODEL_SETS["real"]
    state = load_checkpoint(s1)
    state["fold_energy"] = {**state["fold_energy"], "decoding": "mfe", "s2_weight": 0.5, "s2_offset": 1.0,
                            "s2_max_boxes": 40}  # fewer than the box decoder's default: the set's own count is used
    (tmp_path / "set").mkdir()
    save_checkpoint(tmp_path / "set" / "s1.pt", state)
    shutil.copy(s2, tmp_path / "set" / "s2.pt")
    seqs = _random_seqs(4, 40, 110, seed=6)
    names = [f"s{k}" for k in range(len(seqs))]
    got = dict(load_predictor(model=str(tmp_path / "set"), threads=1, precision="fp32").predict(names, seqs))
    boxes = load_predictor(model=str(tmp_path / "set"), decoder="boxes", threads=1, precision="fp32",
                           max_boxes=state["fold_energy"]["s2_max_boxes"])
    logits = dict(boxes.s1.pair_logits(seqs))
    held = 0
    for k, tiles in boxes.s1.pixel_tiles(seqs):
        # S2's raw log-odds of the boxes the box decoder scores, its stems' pairs by hand
        found, _ = boxes.decoder.candidates(proposal_table(tiles), seqs[k])
        box_logits, _ = boxes.decoder.scorer.logits(found, seqs[k])
        stems = np.full((len(seqs[k]),) * 2, -np.inf)
        for t, x, y, sx, sy, lg in zip(found["type"], found["bb_x"], found["bb_y"], found["siz_x"],
                                       found["siz_y"], box_logits):
            for step in range(min(sx, sy) if t == "stem" else 0):
                stems[x + step, y - step] = max(stems[x + step, y - step], lg)
        held += int(np.isfinite(stems).sum())
        energy = (FoldEnergy(weight=state["fold_energy"]["weight"], offset=state["fold_energy"]["offset"])
                  .pair_energies(logits[k], seqs[k]) + FoldEnergy(s2_weight=0.5, s2_offset=1.0).stem_energies(stems))
        assert got[k].pairs.tolist() == fold_soft(seqs[k], energy)[0].tolist()
    assert held > 0  # S2 did score stems


def test_bundled_sets_and_the_cli_choice():
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.decoders import LearnedFold, ProposalFold
    from rnastruct.predictor.models import MODEL_SETS

    for name, (s1, s2) in MODEL_SETS.items():
        assert (s1 is None and s2 is None) if name == "turner" else (s1.is_file() and s2.is_file()), name
    real = load_predictor(model="real", threads=1)
    assert isinstance(real.decoder, LearnedFold) and real.decoder.settings.energy.weight > 0
    assert isinstance(load_predictor(model="mfe", threads=1).decoder, ProposalFold)
    r = run_cli("predict", "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "--model", "mfe", "--decoding", "centroid")
    assert r.returncode == 0, r.stderr
    r = run_cli("predict", "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "--decoding", "nonsense")
    assert r.returncode == 2

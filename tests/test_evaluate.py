"""rnastruct evaluate: known scores of hand-made pairs, each option's effect, every file format,
clean errors; and the resume / report helpers of bench/compare_peers.py."""

import argparse
import csv
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnastruct import evaluate as ev
from rnastruct.cli import evaluate as ev_cli
from rnastruct.errors import InputError
from rnastruct.seqio import Record, format_bpseq, format_ct, format_fasta
from rnastruct.structure import parse_dot_bracket

from .conftest import run_cli

REPO = Path(__file__).resolve().parents[1]


def parse(argv):
    p = argparse.ArgumentParser()
    ev_cli.add_args(p)
    return p.parse_args([str(a) for a in argv])


def score(pred, ref, length, seq=None, **opts):
    """Scores of one sequence with ScoringOptions(**opts)."""
    seq = seq or "A" * length
    o = ev.ScoringOptions(**opts)
    prep = ev.prepare_pairs(seq, np.array(pred).reshape(-1, 2), np.array(ref).reshape(-1, 2), o)
    return ev.scores(ev.count_pairs(prep.pred, prep.ref, length, o.slip))


HAIRPIN = [(0, 11), (1, 10), (2, 9), (3, 8)]  # ((((....)))), L = 12


# --- known scores ------------------------------------------------------------------------------


def test_missing_pair_known_scores():
    s = score([(0, 11), (1, 10), (2, 9)], HAIRPIN, 12)  # tp 3, fp 0, fn 1, tn 66 - 4 = 62
    assert s["precision"] == 1.0 and s["recall"] == 0.75
    assert s["f1"] == pytest.approx(6 / 7)
    assert s["mcc"] == pytest.approx(3 * 62 / math.sqrt(3 * 4 * 62 * 63))


def test_wrong_pair_known_scores():
    s = score([(0, 11), (1, 10), (4, 9)], HAIRPIN, 12)  # tp 2, fp 1, fn 2, tn 61
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 0.5
    assert s["f1"] == pytest.approx(4 / 7)
    assert s["mcc"] == pytest.approx((2 * 61 - 1 * 2) / math.sqrt(3 * 4 * 62 * 63))


def test_empty_conventions():
    assert score([], [], 10) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}
    assert score([], HAIRPIN, 12)["f1"] == 0.0
    assert score(HAIRPIN, [], 12)["f1"] == 0.0
    assert score(HAIRPIN, HAIRPIN, 12) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}


def test_without_slips_every_correct_pair_is_a_found_one():
    rng = np.random.default_rng(0)
    for _ in range(200):
        length = int(rng.integers(5, 60))
        def rand_pairs():
            ij = rng.integers(0, length, size=(int(rng.integers(0, 12)), 2))
            return ij[ij[:, 0] != ij[:, 1]]
        pred, ref = rand_pairs(), rand_pairs()
        c = ev.count_pairs(pred, ref, length)
        assert c.correct == c.found


def test_mean_and_micro_averages():
    ref = {"a": Record("a", "A" * 12, np.array(HAIRPIN)),
           "b": Record("b", "A" * 12, np.array([(0, 5), (6, 11)]))}
    pred = {"a": Record("a", "A" * 12, np.array([(0, 11), (1, 10), (2, 9)])),  # tp 3 fp 0 fn 1
            "b": Record("b", "A" * 12, np.array([(0, 4), (6, 10)]))}  # tp 0 fp 2 fn 2
    df = ev.score_records(pred, ref)
    agg = ev.aggregate(df).iloc[0]
    assert agg["f1"] == pytest.approx((6 / 7 + 0) / 2)
    assert agg["micro_precision"] == pytest.approx(3 / 5) and agg["micro_recall"] == pytest.approx(3 / 6)
    assert agg["micro_f1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    assert agg["n"] == 2


def test_families():
    assert ev.family_of("5s_Acholeplasma-laidlawii-1") == "5s"
    assert ev.family_of("tRNA_tdbR00000055-Schizo") == "tRNA"
    assert ev.family_of("seq7") == "other"
    recs = {k: Record(k, "A" * 12, np.array(HAIRPIN)) for k in ("5s_a", "5s_b", "tRNA_c", "x")}
    fam = ev.aggregate(ev.score_records(recs, recs), "family")
    assert list(fam.index) == ["5s", "other", "tRNA"] and list(fam["n"]) == [2, 1, 1]


# --- options -----------------------------------------------------------------------------------

# ((..[[..))..]]: the () stem is nested, the [] stem is the pseudoknot (ties: leftmost stem first)
PK_REF = [(0, 9), (1, 8), (4, 13), (5, 12)]


def test_pseudoknots_keep_drop_ref_drop_both():
    nested_only = [(0, 9), (1, 8)]
    assert score(nested_only, PK_REF, 14)["recall"] == 0.5
    assert score(nested_only, PK_REF, 14, pseudoknots="drop-ref")["f1"] == 1.0
    # a predicted pair identical to a dropped reference pair is neither tp nor fp
    assert score(PK_REF, PK_REF, 14, pseudoknots="drop-ref")["f1"] == 1.0
    # a wrong pseudoknot pair of the prediction: fp unless the prediction's pseudoknots go too
    wrong_pk = nested_only + [(3, 11)]
    s = score(wrong_pk, PK_REF, 14, pseudoknots="drop-ref")
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 1.0
    assert score(wrong_pk, PK_REF, 14, pseudoknots="drop-both")["f1"] == 1.0
    prep = ev.prepare_pairs("A" * 14, np.array(wrong_pk), np.array(PK_REF), ev.ScoringOptions(pseudoknots="drop-both"))
    assert (prep.ref_pseudoknot, prep.dropped_ref, prep.dropped_pred) == (2, 2, 1)


def test_non_canonical_drop():
    seq = "GGAAAAACA"  # (0, 8) G-A is non-canonical, (1, 7) G-C canonical
    ref = [(0, 8), (1, 7)]
    assert score([(1, 7)], ref, 9, seq)["f1"] == pytest.approx(2 / 3)
    assert score([(1, 7)], ref, 9, seq, non_canonical="drop")["f1"] == 1.0
    assert score(ref, ref, 9, seq, non_canonical="drop")["f1"] == 1.0
    prep = ev.prepare_pairs(seq, np.array(ref), np.array(ref), ev.ScoringOptions(non_canonical="drop"))
    assert (prep.ref_non_canonical, prep.dropped_ref, prep.dropped_pred) == (1, 1, 1)


def test_multiplets_keep_drop():
    ref = [(0, 9), (0, 8), (2, 6)]  # base 0 is in two pairs
    pred = [(0, 9), (2, 6)]
    s = score(pred, ref, 10)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(2 / 3)
    assert score(pred, ref, 10, multiplets="drop") == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}
    prep = ev.prepare_pairs("A" * 10, np.array(pred), np.array(ref), ev.ScoringOptions(multiplets="drop"))
    assert (prep.ref_multiplet, prep.dropped_ref, prep.dropped_pred) == (2, 2, 1)


def test_slips_one_end_only():
    shifted = [(0, 10), (1, 9), (2, 8)]  # each pair is a reference pair with j - 1
    assert score(shifted, HAIRPIN, 12)["f1"] == 0.0
    s = score(shifted, HAIRPIN, 12, slip=1)
    assert s["precision"] == 1.0 and s["recall"] == 1.0  # every reference pair has a neighbour
    c = ev.count_pairs(np.array(shifted), np.array(HAIRPIN), 12, slip=1)
    assert (c.correct, c.found, c.n_pred, c.n_ref) == (3, 4, 3, 4)
    assert ev.count_pairs(np.array([(1, 10)]), np.array([(0, 11)]), 12, slip=1).correct == 0  # both ends
    assert ev.count_pairs(np.array([(1, 11)]), np.array([(0, 11)]), 12, slip=1).correct == 1
    assert ev.count_pairs(np.array([(0, 11)]), np.array([(0, 10)]), 12, slip=1).found == 1  # j + 1 edge
    with pytest.raises(ValueError, match="slip"):
        ev.ScoringOptions(slip=2)


# --- formats -----------------------------------------------------------------------------------

RECORDS = [
    Record("5s_one", "GGGGAAAACCCCAUUUAGCGCAAAGCGCUA", parse_dot_bracket("((((....))))...((((((...))))))")),
    Record("tRNA_pk", "GGAAACCAAGGAAUCC", parse_dot_bracket("((..[[..))..]]..")),
    Record("tRNA_empty", "ACGUACGU", parse_dot_bracket("........")),
]
PRED = [
    Record("5s_one", "GGGGAAAACCCCAUUUAGCGCAAAGCGCUA", parse_dot_bracket("(((......)))...((((((...))))))")),
    Record("tRNA_pk", "GGAAACCAAGGAAUCC", parse_dot_bracket("((......)).....")),
    Record("tRNA_empty", "ACGUACGU", parse_dot_bracket("(......)")),
]


def write_all_formats(records, folder: Path) -> dict[str, Path]:
    folder.mkdir()
    paths = {"fasta": folder / "s.fa", "ct": folder / "s.ct", "csv_pairs": folder / "pairs.csv",
             "csv_db": folder / "db.csv", "bpseq_dir": folder / "bpseq"}
    paths["fasta"].write_text(format_fasta(records))
    paths["ct"].write_text("".join(format_ct(r) for r in records))
    with open(paths["csv_pairs"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "sequence", "base_pairs", "len"])
        for r in records:
            w.writerow([r.name, r.seq, json.dumps((r.pairs + 1).tolist()), len(r.seq)])
    with open(paths["csv_db"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "sequence", "structure"])
        for r in records:
            w.writerow([r.name, r.seq.lower().replace("u", "t"), format_fasta([r]).split("\n")[2]])
    paths["bpseq_dir"].mkdir()
    for r in records:
        (paths["bpseq_dir"] / f"{r.name}.bpseq").write_text(format_bpseq(r))
    return paths


def test_every_format_reads_the_same_structures(tmp_path):
    paths = write_all_formats(RECORDS, tmp_path / "ref")
    single = tmp_path / "one.bpseq"
    single.write_text(format_bpseq(RECORDS[1]))
    assert list(ev.read_structures(single)) == ["tRNA_pk"]
    want = {r.name: (r.seq, r.pairs.tolist()) for r in RECORDS}
    for fmt, path in paths.items():
        got = ev.read_structures(path)
        assert {k: (r.seq, r.pairs.tolist()) for k, r in got.items()} == want, fmt


def test_every_format_pair_gives_the_same_scores(tmp_path):
    refs = write_all_formats(RECORDS, tmp_path / "ref")
    preds = write_all_formats(PRED, tmp_path / "pred")
    tables = []
    for pf in preds.values():
        for rf in refs.values():
            df = ev.score_records(ev.read_structures(pf, "prediction"), ev.read_structures(rf))
            tables.append(df.sort_values("id").reset_index(drop=True))
    for t in tables[1:]:
        assert t.equals(tables[0])
    f1 = dict(zip(tables[0]["id"], tables[0]["f1"]))
    assert f1["5s_one"] == pytest.approx(2 * 9 / 10 / (1 + 9 / 10))  # tp 9 of 9 predicted, 10 ref
    assert f1["tRNA_pk"] == pytest.approx(2 / 3) and f1["tRNA_empty"] == 0.0


def test_run_writes_csv_markdown_and_plots(tmp_path, capsys):
    refs = write_all_formats(RECORDS, tmp_path / "ref")
    preds = write_all_formats(PRED, tmp_path / "pred")
    out = tmp_path / "out"
    assert ev_cli.run(parse(["--pred", preds["fasta"], "--ref", refs["csv_pairs"], "--out", out])) == 0
    md = capsys.readouterr().out
    assert "| mean over sequences |" in md and "| micro (summed counts) |" in md and "| tRNA | 2 |" in md
    assert (out / "summary.md").read_text() == md
    rows = list(csv.DictReader(open(out / "per_sequence.csv")))
    assert [r["id"] for r in rows] == ["5s_one", "tRNA_pk", "tRNA_empty"]
    assert float(rows[1]["recall"]) == 0.5 and int(rows[1]["ref_pseudoknot"]) == 2
    for png in ("f1_by_length.png", "f1_by_family.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the option reaches the scores: dropping the reference pseudoknot makes tRNA_pk perfect
    assert ev_cli.run(parse(["--pred", preds["ct"], "--ref", refs["bpseq_dir"], "--out", out,
                         "--pseudoknots", "drop-ref", "--overwrite"])) == 0
    rows = {r["id"]: r for r in csv.DictReader(open(out / "per_sequence.csv"))}
    assert float(rows["tRNA_pk"]["f1"]) == 1.0 and int(rows["tRNA_pk"]["dropped_ref"]) == 2


def test_reference_csv_tolerates_multiplets_predictions_do_not(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text('id,sequence,base_pairs\nx,GGAAAAACCC,"[[1, 10], [1, 9], [3, 7]]"\n')
    ref = ev.read_structures(f, "reference")
    assert ref["x"].pairs.tolist() == [[0, 8], [0, 9], [2, 6]]
    with pytest.raises(InputError, match=r"m.csv, line 2, record x: base 1 is in more than one pair"):
        ev.read_structures(f, "prediction")
    pred = tmp_path / "p.fa"
    pred.write_text(">x\nGGAAAAACCC\n(.(...).).\n")
    out = tmp_path / "o"
    ev_cli.run(parse(["--pred", pred, "--ref", f, "--multiplets", "drop", "--out", out]))
    row = next(csv.DictReader(open(out / "per_sequence.csv")))
    assert (int(row["n_ref"]), int(row["dropped_ref"]), int(row["dropped_pred"]), float(row["f1"])) == (1, 2, 1, 1.0)


# --- errors ------------------------------------------------------------------------------------


def errors_for(tmp_path, pred_text: str, ref_text: str = None, *extra, pred_name="p.fa"):
    ref = tmp_path / "r.fa"
    ref.write_text(ref_text or ">a\nGGGAAACCC\n(((...)))\n>b\nGGGAAAACCC\n(((....)))\n")
    pred = tmp_path / pred_name
    pred.write_text(pred_text)
    with pytest.raises(InputError) as e:
        ev_cli.run(parse(["--pred", pred, "--ref", ref, *extra]))
    return str(e.value)


def test_missing_and_extra_ids_are_errors(tmp_path):
    msg = errors_for(tmp_path, ">a\nGGGAAACCC\n(((...)))\n")
    assert "1 of 2 reference id(s) have no prediction: b" in msg and "--only-predicted" in msg
    ok = tmp_path / "ok.fa"
    ok.write_text(">a\nGGGAAACCC\n(((...)))\n")
    assert ev_cli.run(parse(["--pred", ok, "--ref", tmp_path / "r.fa", "--only-predicted"])) == 0
    msg = errors_for(tmp_path, ">a\nGGGAAACCC\n(((...)))\n>b\nGGGAAAACCC\n(((....)))\n>zz\nACGU\n....\n")
    assert "1 predicted id(s) are not in" in msg and "zz" in msg


def test_different_sequence_under_one_id_is_an_error(tmp_path):
    # case and T -> U are normalised away; a real difference is not
    same = _write(tmp_path / "same.fa", ">a\ngggaaaccc\n(((...)))\n>b\nGGGAAAACCC\n(((....)))\n")
    ref = _write(tmp_path / "r.csv", "id,sequence,structure\na,GGGAAACCC,(((...)))\nb,GGGAAAACCC,(((....)))\n")
    assert ev_cli.run(parse(["--pred", same, "--ref", ref])) == 0
    msg = errors_for(tmp_path, ">a\nGGGAAACCC\n(((...)))\n>b\nGGGAAAACCA\n(((....)))\n")
    assert "1 id(s) have a different sequence" in msg and ": b (first: b" in msg


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_malformed_files_are_errors_naming_the_place(tmp_path):
    assert "no dot-bracket line" in errors_for(tmp_path, ">a\nGGGAAACCC\n>b\nGGGAAAACCC\n(((....)))\n")
    assert "unmatched" in errors_for(tmp_path, ">a\nGGGAAACCC\n((....)))\n")
    msg = errors_for(tmp_path, 'id,sequence,base_pairs\na,GGGAAACCC,"[[1, 9], [2"\n', None, pred_name="p.csv")
    assert "p.csv, line 2, record a: base_pairs is not JSON" in msg
    msg = errors_for(tmp_path, 'id,sequence,base_pairs\na,GGGAAACCC,"[[1, 12]]"\n', None, pred_name="p.csv")
    assert "pair [1, 12] is not a pair in a sequence of length 9" in msg
    msg = errors_for(tmp_path, "id,sequence\na,GGGAAACCC\n", None, pred_name="p.csv")
    assert "needs columns id, sequence and base_pairs or structure" in msg
    msg = errors_for(tmp_path, "1 G 9\n2 G 0\n", None, pred_name="p.bpseq")
    assert "base 1 pairs with 9, but base 9 pairs with" in msg or "invalid partner" in msg
    msg = errors_for(tmp_path, "9 a\n1 G 0 2 9 1\n", None, pred_name="p.ct")
    assert "declares 9 bases" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="folder has no .bpseq or .ct files"):
        ev.read_structures(empty)
    with pytest.raises(InputError, match="no such file"):
        ev.read_structures(tmp_path / "nope.fa")


def test_cli_evaluate(tmp_path):
    refs = write_all_formats(RECORDS, tmp_path / "ref")
    preds = write_all_formats(PRED, tmp_path / "pred")
    r = run_cli("evaluate", "--pred", preds["fasta"], "--ref", refs["csv_pairs"], "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert "| mean over sequences |" in r.stdout and (tmp_path / "o" / "per_sequence.csv").exists()
    bad = tmp_path / "bad.fa"
    bad.write_text(">5s_one\nGGGG\n(())\n")
    r = run_cli("evaluate", "--pred", bad, "--ref", refs["csv_pairs"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "reference id(s) have no prediction" in r.stderr and "tRNA_pk" in r.stderr


# --- bench/compare_peers.py helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def compare_peers():
    spec = importlib.util.spec_from_file_location("compare_peers", REPO / "bench" / "compare_peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_resume_drops_a_cut_off_record(tmp_path, compare_peers):
    f = tmp_path / "T.fa"
    f.write_text(">a seconds=0.5\nGGGAAACCC\n(((...))) (-1.20)\n>b seconds=0.25\nGGGAAAACCC\n(((..")
    assert compare_peers.load_predictions(f) == {"a": 0.5}
    assert f.read_text() == ">a seconds=0.5\nGGGAAACCC\n(((...))) (-1.20)\n"
    assert list(ev.read_structures(f, "prediction")) == ["a"]


def test_stratified_subset_keeps_every_family(compare_peers):
    import pandas as pd

    df = pd.DataFrame({"id": [f"{f}_{k}" for f, n in (("a", 60), ("b", 30), ("c", 10)) for k in range(n)]})
    df["family"] = df["id"].map(ev.family_of)
    df["len"] = 50
    sub = compare_peers.stratified_subset(df, 20, seed=1, max_len=None)
    assert len(sub) == 20 and sub["family"].value_counts().to_dict() == {"a": 11, "b": 6, "c": 3}
    assert sub.equals(compare_peers.stratified_subset(df, 20, seed=1, max_len=None))


def test_docs_section_is_replaced_in_place(tmp_path, compare_peers):
    doc = tmp_path / "b.md"
    doc.write_text(f"# Benchmarks\n\n## Data generator\nkeep me\n\n{compare_peers.DOC_HEADING}\nold\n\n## Later\nkeep too\n")
    compare_peers.write_docs(doc, f"{compare_peers.DOC_HEADING}\n\nnew table\n", compare_peers.DOC_HEADING)
    text = doc.read_text()
    assert "old" not in text and "new table" in text
    assert text.index("keep me") < text.index("new table") < text.index("## Later\nkeep too")


def test_predictions_of_another_tool_version_are_dropped(tmp_path, compare_peers):
    (tmp_path / "predictions").mkdir()
    fa = tmp_path / "predictions" / "T.fa"
    fa.write_text(">a seconds=0.5\nGGGAAACCC\n(((...))) (-1.20)\n")
    (tmp_path / "runs.jsonl").write_text('{"tool": "T", "wall_s": 1}\n{"tool": "U", "wall_s": 2}\n')
    compare_peers.drop_stale("T", "1.0", tmp_path)  # unrecorded version: refold
    assert not fa.exists() and (tmp_path / "predictions" / "T.version").read_text() == "1.0\n"
    assert (tmp_path / "runs.jsonl").read_text() == '{"tool": "U", "wall_s": 2}\n'
    fa.write_text(">a seconds=0.5\nGGGAAACCC\n(((...))) (-1.20)\n")
    compare_peers.drop_stale("T", "1.0", tmp_path)  # same version: kept
    assert compare_peers.load_predictions(fa) == {"a": 0.5}
    compare_peers.drop_stale("T", "2.0", tmp_path)
    assert not fa.exists()

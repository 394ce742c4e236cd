"""S2: features and labels against hand-made truth and ViennaRNA energies, the NPZ dataset, a
real tiny training run with resume, and `rnastruct predict` end to end (valid structures, every
output format, bad input)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import RNA
import torch

from rnastruct.boxes import Box, box_problems, structure_to_boxes
from rnastruct.errors import InputError
from rnastruct.s1.infer import BOX_COLUMNS
from rnastruct.s2.data import load_npz
from rnastruct.s2.features import FEATURES, box_features, box_labels
from rnastruct.s2.model import S2ModelConfig, build_model
from rnastruct.s2.training import model_from_checkpoint
from rnastruct.seqio import read_fasta
from rnastruct.structure import parse_dot_bracket

from .conftest import run_cli

REPO = Path(__file__).resolve().parents[1]


def box_table(boxes):
    cols = {c: [] for c in BOX_COLUMNS}
    for b in boxes:
        row = dict(zip(("type", "bb_x", "bb_y", "siz_x", "siz_y"), b))
        for c in BOX_COLUMNS:
            cols[c].append(row.get(c, 0.5))
    return {c: np.array(v) for c, v in cols.items()}


def test_features_and_labels():
    seq = "GGGGAAACCCCAUAGCAAAAGCUAUGG"
    boxes = [("stem", 0, 10, 4, 4), ("hloop", 3, 7, 5, 5), ("stem", 11, 25, 4, 4), ("iloop", 2, 8, 3, 2)]
    f = box_features(box_table(boxes), seq)
    assert f.shape == (4, len(FEATURES)) and f.dtype == np.float32 and np.isfinite(f).all()
    col = {name: f[:, k] for k, name in enumerate(FEATURES)}
    assert col["type_stem"].tolist() == [1, 0, 1, 0] and col["type_hloop"].tolist() == [0, 1, 0, 0]
    # energies from ViennaRNA itself: the stem's three stacks and the hairpin
    fc = RNA.fold_compound(seq)
    stack = sum(fc.eval_int_loop(1 + k, 11 - k, 2 + k, 10 - k) for k in range(3)) / 100
    assert col["energy"][0] == pytest.approx(stack / 10, abs=1e-6)
    assert col["energy"][1] == pytest.approx(fc.eval_hp_loop(4, 8) / 1000, abs=1e-6)
    true = structure_to_boxes(parse_dot_bracket("((((...))))................"), len(seq))
    assert box_labels(box_table(boxes), true).tolist() == [1, 1, 0, 0]
    empty = box_features(box_table([]), seq)
    assert empty.shape == (0, len(FEATURES))


def test_transformer_is_order_free_and_ignores_padding():
    torch.manual_seed(0)
    model = build_model(S2ModelConfig(width=16, layers=2, heads=2, dropout=0.0)).eval()
    x = torch.randn(1, 7, len(FEATURES))
    mask = torch.ones(1, 7, dtype=torch.bool)
    perm = torch.randperm(7)
    with torch.no_grad():
        a = model(x, mask)[0]
        b = model(x[:, perm], mask)[0]
        padded = torch.cat([x, torch.randn(1, 3, len(FEATURES))], 1)
        c = model(padded, torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], 1))[0, :7]
    torch.testing.assert_close(a[perm], b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)
    # a sequence with no box at all in a padded batch: finite outputs and loss
    from rnastruct.s2.criterion import S2Criterion

    empty = torch.zeros(1, 10, dtype=torch.bool)
    masks = torch.cat([empty, torch.cat([mask, empty[:, :3]], 1)])
    with torch.no_grad():
        both = model(torch.cat([padded, padded]), masks)
    assert torch.isfinite(both).all()
    torch.testing.assert_close(both[1, :7], a, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(S2Criterion()(both, torch.ones(2, 10), masks)["loss"])
    lstm = build_model(S2ModelConfig(arch="lstm", width=16, layers=1)).eval()
    with torch.no_grad():
        assert lstm(padded, torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], 1)).shape == (1, 10)


@pytest.fixture(scope="module")
def s2_run(tmp_path_factory):
    """S1 proposals of 40 ViennaRNA folds -> s2-data -> a tiny s2-train run (real commands)."""
    tmp = tmp_path_factory.mktemp("s2")
    rng = np.random.default_rng(0)
    with open(tmp / "folds.fa", "w") as fh:
        for k in range(40):
            s = "".join(rng.choice(list("ACGU"), int(rng.integers(30, 70))))
            fh.write(f">r{k}\n{s}\n{RNA.fold(s)[0]}\n")
    for args in (("s1-infer", "--fasta", tmp / "folds.fa", "--out", tmp / "p", "--quiet"),
                 ("prune", "--in", tmp / "p", "--out", tmp / "pp"),
                 ("s2-data", "--in", tmp / "pp", "--out", tmp / "s2.npz", "--max-boxes", "200"),
                 ("s2-train", "--data", tmp / "s2.npz", "--out", tmp / "run", "--quiet", "--set", "epochs=2",
                  "--set", "split=random", "--set", "valid_frac=0.25", "--set", "model.width=16",
                  "--set", "model.layers=1", "--set", "model.heads=2")):
        r = run_cli(*args)
        assert r.returncode == 0, (args[0], r.stderr)
    return tmp


def test_s2_data_and_training_outputs(s2_run):
    data = load_npz(s2_run / "s2.npz")
    off = data["offsets"]
    assert len(off) == 41 and off[-1] == len(data["labels"]) == len(data["features"])
    assert (np.diff(off) <= 200).all() and 0 < data["labels"].sum() < len(data["labels"])
    for arr in data.values():
        assert arr.dtype != object
    # labels are exact matches with the true boxes of each record
    recs = {r.name: r for r in read_fasta(s2_run / "folds.fa")}
    k = 3
    rec = recs[str(data["ids"][k])]
    true = {tuple(b)[:5] for b in structure_to_boxes(rec.pairs, len(rec.seq))}
    rows = data["boxes"][off[k]:off[k + 1]]
    types = ("stem", "iloop", "hloop")
    got = [(types[t], x, y, a, b) in true for t, x, y, a, b in rows.tolist()]
    assert got == data["labels"][off[k]:off[k + 1]].astype(bool).tolist()
    lines = (s2_run / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["loss", "auroc", "auprc"] and len(lines) == 5
    model, cfg, state = model_from_checkpoint(s2_run / "run" / "best.pt")
    assert cfg.model.width == 16 and state["epoch"] in (1, 2)


def test_s2_resume_continues(s2_run, tmp_path):
    import shutil

    shutil.copytree(s2_run / "run", tmp_path / "run")
    r = run_cli("s2-train", "--data", s2_run / "s2.npz", "--out", tmp_path / "run", "--resume", "--quiet",
                "--set", "epochs=3")
    assert r.returncode == 0, r.stderr
    # the saved config wins (epochs=2): nothing left to do, history kept
    assert model_from_checkpoint(tmp_path / "run" / "last.pt")[2]["epoch"] == 2
    r = run_cli("s2-train", "--data", s2_run / "s2.npz", "--out", tmp_path / "run", "--quiet")
    assert r.returncode == 2 and "not empty" in r.stderr
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    r = run_cli("s2-train", "--data", bad, "--out", tmp_path / "new", "--quiet")
    assert r.returncode == 2 and "bad.npz" in r.stderr


def test_predict_cli_formats_and_validity(s2_run, tmp_path):
    s2 = s2_run / "run" / "best.pt"
    seqs = ["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "ACGUAGCUAGCUAGCUAGGCUAGCUAGCUAGCUGAUCGAUCG"]
    r = run_cli("predict", *seqs, "--s2", s2, "--decoder", "boxes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[0] == ">seq1" and lines[1] == seqs[0] and len(lines) == 6
    # the header names each number: the Turner 2004 energy and the S2 score (log-odds)
    assert lines[0].split()[1].startswith("turner_energy=") and lines[0].split()[2].startswith("s2_score=")
    for k, seq in enumerate(seqs):
        line = lines[3 * k + 2]  # RNAfold's layout: the structure, then "( -1.20)"
        db, energy = line[:len(seq)], line[len(seq):].strip()
        assert set(db) <= set("().") and energy.startswith("(") and energy.endswith(")")
        assert float(energy[1:-1]) == pytest.approx(RNA.fold_compound(seq).eval_structure(db), abs=0.006)
        pairs = parse_dot_bracket(db)
        assert all(seq[i] + seq[j] in {"AU", "UA", "GC", "CG", "GU", "UG"} for i, j in pairs)
        assert all(j - i > 3 for i, j in pairs)
    fasta = tmp_path / "in.fa"
    fasta.write_text(f">a\n{seqs[0]}\n>b\n{seqs[1]}\n")
    r = run_cli("predict", fasta, "--decoder", "boxes", "--s2", s2, "--format", "json", "--out", tmp_path / "out.json",
                "--plot", tmp_path / "plots")
    assert r.returncode == 0, r.stderr
    js = json.loads((tmp_path / "out.json").read_text())
    assert [x["name"] for x in js] == ["a", "b"]
    for x in js:
        boxes = [Box(**b) for b in x["boxes"]]
        assert box_problems(boxes, len(x["sequence"])) == []
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"a.svg", "a.png", "b.svg", "b.png"}
    r = run_cli("predict", fasta, "--decoder", "boxes", "--s2", s2, "--format", "ct", "--out", tmp_path / "ct")
    assert r.returncode == 0 and sorted(p.name for p in (tmp_path / "ct").iterdir()) == ["a.ct", "b.ct"]
    p = subprocess.run([sys.executable, "-m", "rnastruct", "predict", "--decoder", "boxes", "--s2", str(s2), "--format", "bpseq"],
                       input=f">s\n{seqs[0]}\n", capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("# s\n1 G ")
    # bare sequences on stdin, one per line, as RNAfold reads them; a bad one is named
    p = subprocess.run([sys.executable, "-m", "rnastruct", "predict", "--decoder", "boxes", "--s2", str(s2)],
                       input=f"{seqs[0]}\n\n{seqs[1]}\n", capture_output=True, text=True)
    names = [line.split()[0] for line in p.stdout.splitlines() if line.startswith(">")]  # then the energies
    assert p.returncode == 0 and names == [">seq1", ">seq2"] and p.stdout.splitlines()[1] == seqs[0]
    assert p.stdout.splitlines()[4] == seqs[1]
    p = subprocess.run([sys.executable, "-m", "rnastruct", "predict", "--decoder", "boxes", "--s2", str(s2)],
                       input=f"{seqs[0]}\nACG-U\n", capture_output=True, text=True)
    assert p.returncode == 2 and "seq2" in p.stderr and p.stdout == ""
    # a letter other than ACGUN is folded as N, with a warning that names the record
    p = subprocess.run([sys.executable, "-m", "rnastruct", "predict", "--decoder", "boxes", "--s2", str(s2)],
                       input=f"{seqs[0]}\nACGXUAGCUAGC\n", capture_output=True, text=True)
    assert p.returncode == 0 and "record seq2: 'X' at 4 folded as N" in p.stderr
    for bad, msg in ((["ACGZ"], "neither a file nor a sequence"), ([tmp_path / "none.fa"], "neither a file"),
                     ([fasta, fasta], "more than once")):
        r = run_cli("predict", *bad, "--decoder", "boxes", "--s2", s2, "--out", tmp_path / "x.txt")
        assert r.returncode == 2 and msg in r.stderr and not (tmp_path / "x.txt").exists()
    r = run_cli("predict", seqs[0], "--decoder", "boxes", "--s2", tmp_path / "none.pt")
    assert r.returncode == 2 and "none.pt" in r.stderr


def test_bundled_models_predict_valid_structures_from_the_api():
    """`rnastruct.predict` with the shipped S1 + S2 (no arguments, no data): one valid
    structure per sequence, in order, also for a sequence long enough to be tiled."""
    import rnastruct

    rng = np.random.default_rng(7)
    seqs = ["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "acgu" * 10] + \
        ["".join(rng.choice(list("ACGU"), n)) for n in (5, 80, 700)]
    results = rnastruct.predict(seqs)
    assert [r.name for r in results] == [f"seq{k + 1}" for k in range(len(seqs))]
    for r, s in zip(results, seqs):
        assert r.seq == s.upper().replace("T", "U") and len(r.structure) == len(s)
        assert np.array_equal(parse_dot_bracket(r.structure), r.pairs)
        assert box_problems(r.boxes, len(s)) == []
        assert all(r.seq[i] + r.seq[j] in {"AU", "UA", "GC", "CG", "GU", "UG"} for i, j in r.pairs)
    with pytest.raises(InputError, match="invalid base"):
        rnastruct.predict(["ACGX"], strict=True)
    assert rnastruct.predict(["ACGX"])[0].seq == "ACGN"  # the CLI's policy: folded as N
    bundled = REPO / "rnastruct" / "models"
    assert sum(f.stat().st_size for f in bundled.rglob("*") if f.is_file()) < 25e6  # every set, cards too


@pytest.mark.skipif(not (Path(sys.executable).parent / "torchrun").exists(), reason="torchrun not installed")
def test_s2_torchrun_two_processes_gloo(s2_run, tmp_path):
    import os

    torchrun = str(Path(sys.executable).parent / "torchrun")
    base = ["s2-train", "--data", str(s2_run / "s2.npz"), "--quiet", "--set", "epochs=2", "--set", "split=random",
            "--set", "valid_frac=0.25", "--set", "model.width=16", "--set", "model.layers=1", "--set", "model.heads=2"]
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "rnastruct", *base, "--out",
                        str(tmp_path / "ddp")], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    single = (s2_run / "run" / "metrics.csv").read_text().splitlines()
    ddp = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert ddp[0] == single[0] and len(ddp) == len(single)
    assert [line.split(",")[-2:] for line in ddp[1:]] == [line.split(",")[-2:] for line in single[1:]]
    model, cfg, state = model_from_checkpoint(tmp_path / "ddp" / "last.pt")
    assert state["epoch"] == 2 and not any(k.startswith("module.") for k in state["model"])


def test_box_energies_never_crash_on_impossible_boxes():
    """Unpruned proposals reach outside the sequence; ViennaRNA would segfault on them."""
    from rnastruct.folding import IMPOSSIBLE_ENERGY, box_energies

    seq = "GGGGAAACCCCAUAGCAAAAGCUAUGG"
    e = box_energies(seq, ["stem", "stem", "hloop", "iloop", "iloop", "stem"], [-2, 20, 25, 3, 3, 0],
                     [26, 30, 26, 7, 7, 10], [1, 2, 2, 1, 9, 4], [1, 2, 2, 1, 2, 4])
    assert e[:5] == [IMPOSSIBLE_ENERGY] * 5 and e[5] < 0

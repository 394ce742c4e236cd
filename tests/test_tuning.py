"""The shipping steps as commands, on tiny data: each chooses among its grid on validation data
and writes a copy of the checkpoint holding the choice, its weights untouched."""

import json

import numpy as np
import pytest
import RNA
import torch

from rnastruct.checkpoints import load_checkpoint
from rnastruct.predictor.models import MODEL_SETS

from .conftest import run_cli


def _valid_csv(path, n=4, seed=0):
    """``n`` random sequences with their MFE structures as a real-structure CSV."""
    rng = np.random.default_rng(seed)
    rows = ["id,sequence,base_pairs"]
    for k in range(n):
        s = "".join(rng.choice(list("ACGU"), int(rng.integers(30, 60))))
        stack, pairs = [], []
        for i, c in enumerate(RNA.fold(s)[0]):
            if c == "(":
                stack.append(i)
            elif c == ")":
                pairs.append([stack.pop() + 1, i + 1])
        rows.append(f'v{k},{s},"{json.dumps(sorted(pairs))}"')
    path.write_text("\n".join(rows) + "\n")
    return path


def _same_weights(a, b) -> bool:
    return all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_tune_energy_writes_the_best_grid_point(tmp_path):
    valid = _valid_csv(tmp_path / "tiny_vl.csv")
    s1 = MODEL_SETS["real"][0]
    r = run_cli("tune-energy", "--s1", s1, "--valid", valid, "--weights", "0", "0.4", "--offsets", "-2",
                "--workers", "1", "--out", tmp_path / "s1.pt", "--table", tmp_path / "grid.tsv")
    assert r.returncode == 0, r.stderr
    state, before = load_checkpoint(tmp_path / "s1.pt"), load_checkpoint(s1)
    chosen = state["fold_energy"]
    assert (chosen["weight"], chosen["offset"]) in {(0.0, 0.0), (0.4, -2.0)}
    rows = (tmp_path / "grid.tsv").read_text().splitlines()
    from rnastruct.tuning import DECODINGS

    assert len(rows) == 1 + 2 * len(DECODINGS)  # (weight 0, 0.4 at offset -2) x every decoding
    best = rows[1].split("\t")
    assert (float(best[0]), float(best[1]), best[2]) == (chosen["weight"], chosen["offset"], chosen["decoding"])
    assert state["fold_energy_tuning"]["n"] == 4 and _same_weights(state, before)
    (tmp_path / "ArchiveII.csv").write_text("id,sequence,base_pairs\n")  # refused by its name, not its content
    r = run_cli("tune-energy", "--s1", s1, "--valid", tmp_path / "ArchiveII.csv")
    assert r.returncode == 2 and "validation sets only" in r.stderr


def test_calibrate_writes_the_temperature_with_the_lowest_ece(tmp_path):
    valid = _valid_csv(tmp_path / "tiny_vl.csv", seed=1)
    s1 = tmp_path / "s1.pt"
    s1.write_bytes(MODEL_SETS["real"][0].read_bytes())
    r = run_cli("calibrate", "--valid", valid, "--scales", "1", "4", "--workers", "1", "--write", s1,
                "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    eces = {x: summary["tiny_vl"][f"rnastruct x{x}"]["ece"] for x in (1, 4)}
    assert load_checkpoint(s1)["fold_energy"]["prob_scale"] == float(min(eces, key=eces.get))
    assert (tmp_path / "report" / "reliability.png").stat().st_size > 0
    assert _same_weights(load_checkpoint(s1), load_checkpoint(MODEL_SETS["real"][0]))


def test_tune_prune_writes_the_lowest_threshold_that_holds_on_every_set(tmp_path):
    sets = [_valid_csv(tmp_path / "tiny_vl0.csv", seed=2), _valid_csv(tmp_path / "tiny_vl1.csv", n=3, seed=3)]
    s1 = tmp_path / "s1.pt"
    s1.write_bytes(MODEL_SETS["real"][0].read_bytes())
    r = run_cli("tune-prune", "--s1", s1, "--valid", *sets, "--prunes", "0.5", "100", "--workers", "1", "--write", s1)
    assert r.returncode == 0, r.stderr
    tables = [line.split("\t") for line in r.stdout.splitlines() if line.split("\t")[0] in ("none", "0.5", "100.0")]
    assert len(tables) == 6  # none, 100, 0.5 for each set
    f1 = [{row[0]: float(row[1]) for row in tables[k:k + 3]} for k in (0, 3)]
    for per_set in f1:  # a threshold no pseudo-energy reaches forbids nothing
        assert per_set["100.0"] == per_set["none"]
    want = 0.5 if all(t["0.5"] >= t["none"] for t in f1) else 100.0
    state = load_checkpoint(s1)
    assert state["fold_energy"]["prune"] == want
    assert set(state["fold_energy_prune_tuning"]["valid"]) == {"tiny_vl0.csv", "tiny_vl1.csv"}
    assert _same_weights(state, load_checkpoint(MODEL_SETS["real"][0]))
    (tmp_path / "PDB_TS1.csv").write_text("id,sequence,base_pairs\n")
    r = run_cli("tune-prune", "--s1", s1, "--valid", tmp_path / "PDB_TS1.csv")
    assert r.returncode == 2 and "validation sets only" in r.stderr


def test_tune_assembly_and_tune_proposals_write_their_choices(tmp_path):
    import pyarrow as pa

    from rnastruct.s2.data import load_npz, save_npz
    from rnastruct.seqio import pairs_column, write_dataset
    from rnastruct.structure import parse_dot_bracket

    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGU"), int(rng.integers(30, 60)))) for _ in range(8)]
    with open(tmp_path / "folds.fa", "w") as fh:
        fh.write("".join(f">r{k}\n{s}\n{RNA.fold(s)[0]}\n" for k, s in enumerate(seqs)))
    for args in (("s1-infer", "--fasta", tmp_path / "folds.fa", "--out", tmp_path / "p", "--quiet"),
                 ("prune", "--in", tmp_path / "p", "--out", tmp_path / "pp"),
                 ("s2-data", "--in", tmp_path / "pp", "--out", tmp_path / "s2.npz", "--max-boxes", "200")):
        r = run_cli(*args)
        assert r.returncode == 0, (args[0], r.stderr)
    data = load_npz(tmp_path / "s2.npz")
    data["split"] = np.array(["valid"] * len(data["split"]))
    save_npz(tmp_path / "s2.npz", data)
    s2 = MODEL_SETS["mfe"][1]
    r = run_cli("tune-assembly", "--data", tmp_path / "s2.npz", "--s2", s2, "--out", tmp_path / "s2.pt",
                "--thresholds", "0.02", "0.5", "--energy-weights", "0", "1")
    assert r.returncode == 0, r.stderr
    state = load_checkpoint(tmp_path / "s2.pt")
    assert state["box_threshold"] in (0.02, 0.5) and state["energy_weight"] in (0, 1)
    assert f"chose box threshold {state['box_threshold']}, energy weight {state['energy_weight']}" in r.stdout
    assert r.stdout.count("mean F1") == 4 and _same_weights(state, load_checkpoint(s2))

    table = pa.table({"seq": seqs, "pairs": pairs_column([parse_dot_bracket(RNA.fold(s)[0]) for s in seqs]),
                      "split": ["valid"] * len(seqs)})
    write_dataset(table, tmp_path / "ds", {"kind": "test"})
    s1 = MODEL_SETS["mfe"][0]
    r = run_cli("tune-proposals", "--data", tmp_path / "ds", "--s1", s1, "--out", tmp_path / "s1.pt",
                "--thresholds", "0.02", "0.2", "--p-on", "0.1")
    assert r.returncode == 0, r.stderr
    state = load_checkpoint(tmp_path / "s1.pt")
    assert state["fold_proposal"]["threshold"] in (0.02, 0.2) and state["fold_proposal"]["p_on"] == 0.1
    assert _same_weights(state, load_checkpoint(s1))


@pytest.mark.parametrize("command", ["tune-energy", "tune-prune", "tune-assembly", "tune-proposals", "calibrate"])
def test_the_steps_are_commands(command):
    r = run_cli(command, "--help")
    assert r.returncode == 0 and "usage: rnastruct " + command in r.stdout


def test_subset_keeps_a_seeded_sample_of_training_rows_and_every_validation_row(tmp_path):
    import pandas as pd
    import pyarrow as pa

    from rnastruct.seqio import write_dataset

    split = ["train"] * 20 + ["valid"] * 5
    write_dataset(pa.table({"seq": [f"GGGAAAC{k}" for k in range(25)], "split": split}), tmp_path / "ds",
                  {"kind": "test"})
    for out in ("a", "b"):
        r = run_cli("subset", "--in", tmp_path / "ds", "--out", tmp_path / out, "--train", "6", "--seed", "3")
        assert r.returncode == 0, r.stderr
    a, b = (pd.read_parquet(tmp_path / d / "segments.parquet") for d in ("a", "b"))
    assert a.equals(b) and (a.split == "train").sum() == 6 and (a.split == "valid").sum() == 5
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert man["kind"] == "test" and man["subset"]["train_rows"] == 6 and man["subset"]["seed"] == 3
    r = run_cli("subset", "--in", tmp_path / "ds", "--out", tmp_path / "c", "--train", "60")
    assert r.returncode == 2 and "fewer than 60" in r.stderr and not (tmp_path / "c").exists()


def test_the_base_parameters_are_recorded_and_others_refused(tmp_path):
    from rnastruct.checkpoints import save_checkpoint

    shipped = load_checkpoint(MODEL_SETS["real"][0])
    record = shipped["energy_parameters"]  # bench/base_parameters.py --write, chosen on VL0
    assert record["chosen"] == "turner2004" and record["by"].endswith("on VL0")
    assert record["chosen"] == max(record["measured"]["VL0"], key=lambda p: record["measured"]["VL0"][p]["learned_centroid"])
    other = dict(shipped, energy_parameters=dict(record, chosen="andronescu2007"))
    save_checkpoint(tmp_path / "s1.pt", other)
    r = run_cli("predict", "GGGGAAAACCCC", "--s1", tmp_path / "s1.pt")
    assert r.returncode == 2 and "chosen on the andronescu2007 energy parameters" in r.stderr, r.stderr

"""bench/family_folds.py, one fold end to end on a few RNAs with the bundled model (no training):
its scores are those of ``rnastruct evaluate`` on the FASTA it commits, its RNAfold agrees with
the published RNAfold scores of the same RNAs, a rerun gives the same numbers, and on Slurm the
array job does the same."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import SHARED_DATA, need_shared_data, run_cli

REPO = Path(__file__).resolve().parents[1]
TINY = ["--s1", str(REPO / "rnastruct" / "models" / "real" / "s1.pt"), "--tune-limit", "6", "--test-limit", "4",
        "--weights", "0.15", "--offsets", "-2", "--workers", "1"]


def _paths(tmp_path) -> list[str]:
    return ["--out", str(tmp_path / "run"), "--results", str(tmp_path / "res"), "--docs", str(tmp_path / "bench.md")]


def _bench(*args) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(REPO / "bench" / "family_folds.py"), *map(str, args)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return r


def test_one_fold_rescored_by_evaluate_and_rerun_identically(tmp_path):
    need_shared_data()
    _bench("--fold", "telomerase", *TINY, *_paths(tmp_path))
    _bench("--report", *_paths(tmp_path))
    fold = tmp_path / "run" / "folds" / "telomerase"
    scores = pd.read_csv(fold / "scores.csv")
    ours = scores[scores["tool"] == "rnastruct"].set_index("id")["f1"]
    assert len(ours) == 4
    # the committed predictions, rescored by the command line against ArchiveII, give the same F1
    r = run_cli("evaluate", "--pred", tmp_path / "res" / "predictions" / "telomerase.fa",
                "--ref", SHARED_DATA / "benchmarks" / "ArchiveII.csv", "--only-predicted", "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    per_seq = pd.read_csv(tmp_path / "ev" / "per_sequence.csv").set_index("id")["f1"]
    assert per_seq.reindex(ours.index).round(6).tolist() == ours.round(6).tolist()
    # RNAfold run here against RNAfold's published per-sequence scores of the same RNAs
    table = pd.read_csv(tmp_path / "res" / "scores.csv")
    here = table[table["tool"] == "RNAfold MFE (here)"].set_index("id")["f1"]
    published = table[table["tool"] == "RNAfold"].set_index("id")["f1"].reindex(here.index)
    assert abs(here.mean() - published.mean()) < 0.02
    settings = json.loads((fold / "settings.json").read_text())
    assert settings["n_test"] == 4 and settings["n_valid"] == 6
    # the settings were chosen on other families only, and are the best row of the grid
    assert not any(i.startswith("telomerase") for i in settings["valid_ids"])
    assert not set(settings["valid_ids"]) & set(ours.index)
    tuning = pd.read_csv(fold / "tuning.tsv", sep="\t")
    assert settings["validation_f1"] == pytest.approx(tuning["mean_f1"].max(), abs=1e-4)
    assert settings["fold_energy"]["weight"] == tuning.iloc[0]["weight"]
    doc = (tmp_path / "bench.md").read_text()
    assert "## Unseen families: ArchiveII family folds" in doc and "| telomerase | 4 |" in doc
    assert (tmp_path / "res" / "f1_by_family.png").stat().st_size > 1000
    # a fold already done is kept; --force recomputes it: the same numbers
    first = (fold / "scores.csv").read_text()
    _bench("--fold", "telomerase", *TINY, *_paths(tmp_path), "--force")
    assert (fold / "scores.csv").read_text() == first
    # other inputs (a different validation subset) recompute the fold without --force
    r = _bench("--fold", "telomerase", *TINY, *_paths(tmp_path), "--seed", "1")
    assert "its inputs changed" in r.stderr
    assert json.loads((fold / "settings.json").read_text())["inputs"]["seed"] == 1


def test_unknown_fold_and_missing_s1_are_clear_errors(tmp_path):
    need_shared_data()
    r = subprocess.run([sys.executable, str(REPO / "bench" / "family_folds.py"), "--fold", "tRNA", *_paths(tmp_path)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode != 0 and "the shared S1 is not trained yet" in r.stderr
    r = subprocess.run([sys.executable, str(REPO / "bench" / "family_folds.py"), "--fold", "mRNA"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "invalid choice: 'mRNA'" in r.stderr


@pytest.mark.slurm
@pytest.mark.skipif(shutil.which("sbatch") is None, reason="no sbatch (CI sets Slurm up with .ci/slurm_setup.sh)")
def test_slurm_array_runs_the_folds_then_the_report(tmp_path):
    need_shared_data()
    from .test_slurm import _env, _wait

    env = {**_env(), "FOLDS": "7", "LOG_DIR": str(tmp_path), "PYTHON": sys.executable}
    sub = subprocess.run([str(REPO / "bench" / "family_folds.sbatch"), *TINY, *_paths(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    state = _wait(sub.stdout.split()[-1], timeout=600)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("family-folds-*.log")))
    assert state == "COMPLETED", logs
    scores = pd.read_csv(tmp_path / "res" / "scores.csv")
    assert set(scores.loc[scores["tool"] == "rnastruct", "id"].str.split("_").str[0]) == {"telomerase"}
    assert "| telomerase | 4 |" in (tmp_path / "bench.md").read_text()


def test_cloverleaf_detector_by_hand():
    sys.path.insert(0, str(REPO / "bench"))
    from family_folds import cloverleaf

    # yeast tRNA-Phe: acceptor, D, anticodon and T stems
    phe = "(((((((..((((........)))).(((((.......))))).....(((((.......))))))))))))...."
    assert cloverleaf(phe)
    assert cloverleaf("." + phe[:-1])  # a 5' tail
    # class II (tRNA-Ser/Leu): a variable arm as a fourth branch
    ser = "(((((((..(((.........))).(((((.......)))))..((((.....))))..(((((.......))))))))))))...."
    assert cloverleaf(ser)
    # an interior loop in the acceptor stem is still a cloverleaf; a branched branch is not
    assert cloverleaf("((((.(((..((((........)))).(((((.......))))).....(((((.......)))))))).))))....")
    assert not cloverleaf("(((((((..((((..((...))..((...))..)))).(((((.......))))).....(((((.......))))))))))))")
    assert not cloverleaf("((((((((((((((((((((((((((((.......))))))))))))))))))))))))))))..........")  # a hairpin
    assert not cloverleaf("(((((((..((((........)))).....(((((.......))))))))))))......................")  # 2 branches
    assert not cloverleaf("((((........))))" + phe)  # two outer stems
    assert not cloverleaf(phe * 2)  # too long

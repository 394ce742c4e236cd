"""The Slurm job scripts on a real (one-node) Slurm cluster: shards as an array job, then the merge.

CI sets the cluster up with .ci/slurm_setup.sh; without ``sbatch`` these tests are skipped.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnastruct.datagen import GenerateConfig, generate
from rnastruct.seqio import read_dataset

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("sbatch") is None,
                       reason="no sbatch: Slurm is not installed (CI sets it up with .ci/slurm_setup.sh)"),
]


def _env() -> dict:
    # Jobs inherit the submitter's environment: put this Python's rnastruct first on PATH.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def _wait(job_id: str, timeout: float = 300) -> str:
    """Poll the controller until the job reaches a final state -> that state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                              text=True).stdout
        state = next((w.split("=", 1)[1] for w in info.split() if w.startswith("JobState=")), "")
        if state in TERMINAL:
            return state
        time.sleep(1)
    subprocess.run(["scancel", job_id])
    pytest.fail(f"job {job_id} not finished after {timeout} s (state {state or 'unknown'})")


def test_array_job_and_merge(human, tmp_path):
    out = tmp_path / "run"
    opts = ["--fasta", str(human / "mrna_20_records.fa"), "--length", "40", "--num-seq", "6",
            "--seed", "13", "--min-mfe-freq", "0.05"]
    sub = subprocess.run([str(REPO / "data_gen" / "submit.sh"), str(out), "3", *opts],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    merge_job = sub.stdout.strip().splitlines()[-1]
    state = _wait(merge_job)
    logs = "\n".join(p.read_text() for p in sorted(out.glob("*.log")))
    assert (out / "merged" / "segments.parquet").exists(), f"merge job {state}; logs:\n{logs}"
    df, manifest = read_dataset(out / "merged")
    assert manifest["merged_shards"] == [0, 1, 2] and manifest["missing_shards"] == []
    assert len(df) == 18
    # The cluster's shards are the same rows as the same shards made here, in shard order.
    here = [generate(GenerateConfig(fasta=opts[1], length="40", num_seq=6, seed=13, min_mfe_freq=0.05,
                                    workers=1, shard=k, num_shards=3), progress=False)[0]
            for k in range(3)]
    assert df["id"].tolist() == sum((t.column("id").to_pylist() for t in here), [])
    assert (df["mfe_freq"] >= 0.05).all()
    c = manifest["counts"]
    assert c["sampled"] == c["kept"] + sum(c["rejected"].values())


def test_failed_shard_cancels_the_merge(tmp_path):
    out = tmp_path / "bad"
    sub = subprocess.run([str(REPO / "data_gen" / "submit.sh"), str(out), "2", "--fasta",
                          str(tmp_path / "missing.fa"), "--length", "40"],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    state = _wait(sub.stdout.strip().splitlines()[-1])
    assert state != "COMPLETED"
    assert not (out / "merged").exists()
    logs = "\n".join(p.read_text() for p in out.glob("generate-*.log"))
    assert "missing.fa: no such file" in logs


def test_s1_training_job(human, tmp_path):
    """The Slurm script trains, and resubmitting it into the same run folder resumes."""
    from rnastruct.s1.training import model_from_checkpoint
    from rnastruct.seqio import write_dataset

    table, manifest = generate(GenerateConfig(fasta=str(human / "mrna_20_records.fa"), length="30-40",
                                              num_seq=40, seed=3, workers=1, split_by="none",
                                              ens_div=False), progress=False)
    write_dataset(table, tmp_path / "data", manifest)
    run_dir = tmp_path / "run"

    def submit(k):
        # max_minutes=0 stops after each epoch, as a job hitting its time limit would
        sub = subprocess.run(["sbatch", "--parsable", "--cpus-per-task=1", f"--output={tmp_path}/train{k}.log",
                              str(REPO / "s1_training" / "train.sbatch"), str(REPO / "configs/s1/debug.yaml"),
                              str(tmp_path / "data"), str(run_dir), "--set", "epochs=2",
                              "--set", "max_minutes=0"],
                             capture_output=True, text=True, env=_env(), cwd=tmp_path)
        assert sub.returncode == 0, sub.stderr
        state = _wait(sub.stdout.strip())
        assert state == "COMPLETED", (tmp_path / f"train{k}.log").read_text()

    submit(1)
    assert model_from_checkpoint(run_dir / "last.pt")[2]["epoch"] == 1
    submit(2)
    assert model_from_checkpoint(run_dir / "last.pt")[2]["epoch"] == 2
    epochs = [line.split(",")[-1] for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "1", "2", "2"]


def test_s1_inference_array_and_merge(tmp_path):
    """Sharded S1 inference on the cluster, merged: the same rows, in the same order, as one
    s1-infer run over the whole input."""
    import numpy as np

    from rnastruct.s1.stage import read_proposals

    from .conftest import run_cli

    rng = np.random.default_rng(8)
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">r{k}\n{''.join(rng.choice(list('ACGU'), 30 + k))}\n" for k in range(7)))
    out = tmp_path / "inf"
    sub = subprocess.run([str(REPO / "s1_inference" / "submit.sh"), str(out), "3", "--fasta", str(fasta)],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    state = _wait(sub.stdout.strip().splitlines()[-1])
    logs = "\n".join(p.read_text() for p in sorted(out.glob("*.log")))
    assert state == "COMPLETED", logs
    r = run_cli("s1-infer", "--fasta", fasta, "--out", tmp_path / "whole", "--quiet")
    assert r.returncode == 0, r.stderr
    ids, _, merged, _, manifest = read_proposals(out / "merged")
    ids_whole, _, whole, _, _ = read_proposals(tmp_path / "whole")
    assert ids == ids_whole == [f"r{k}" for k in range(7)]
    assert manifest["merged_shards"] == [0, 1, 2]
    for a, b in zip(merged, whole):  # other batches, other threads: float noise only
        for c in a:
            if a[c].dtype.kind == "f":
                np.testing.assert_allclose(a[c], b[c], atol=1e-5, err_msg=c)
            else:
                assert np.array_equal(a[c], b[c]), c


def test_s2_training_job(tmp_path):
    """s2_training/train.sbatch trains S2 on the cluster from an S2 dataset made here."""
    import numpy as np
    import RNA

    from rnastruct.s2.training import model_from_checkpoint

    from .conftest import run_cli

    rng = np.random.default_rng(4)
    with open(tmp_path / "folds.fa", "w") as fh:
        for k in range(16):
            s = "".join(rng.choice(list("ACGU"), 40))
            fh.write(f">r{k}\n{s}\n{RNA.fold(s)[0]}\n")
    for args in (("s1-infer", "--fasta", tmp_path / "folds.fa", "--out", tmp_path / "p", "--quiet"),
                 ("s2-data", "--in", tmp_path / "p", "--out", tmp_path / "s2.npz", "--max-boxes", "100")):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
    sub = subprocess.run(["sbatch", "--parsable", "--cpus-per-task=1", f"--output={tmp_path}/train.log",
                          str(REPO / "s2_training" / "train.sbatch"), str(REPO / "configs/s2/default.yaml"),
                          str(tmp_path / "s2.npz"), str(tmp_path / "run"), "--set", "epochs=1",
                          "--set", "split=random", "--set", "valid_frac=0.25", "--set", "model.width=16",
                          "--set", "model.layers=1", "--set", "model.heads=2"],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    assert _wait(sub.stdout.strip()) == "COMPLETED", (tmp_path / "train.log").read_text()
    assert model_from_checkpoint(tmp_path / "run" / "last.pt")[2]["epoch"] == 1


def test_sharded_predict_array_gives_the_single_runs_rows(tmp_path):
    """predict/submit.sh: 3 array tasks over parts of a FASTA, then the merge: exactly the rows
    of one rnastruct predict over the whole file."""
    import numpy as np

    rng = np.random.default_rng(7)
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">r{k}\n{''.join(rng.choice(list('ACGU'), int(rng.integers(20, 90))))}\n"
                          for k in range(8)))
    single = tmp_path / "single.fa"
    r = subprocess.run(["rnastruct", "predict", str(fa), "--model", "mfe", "--out", str(single)],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run"
    sub = subprocess.run([str(REPO / "predict" / "submit.sh"), str(out), "3", str(fa), "--model", "mfe"],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    state = _wait(sub.stdout.strip().splitlines()[-1])
    logs = "\n".join(p.read_text() for p in sorted(out.glob("*.log")))
    assert state == "COMPLETED", f"merge job {state}; logs:\n{logs}"
    assert (out / "merged").read_text() == single.read_text()

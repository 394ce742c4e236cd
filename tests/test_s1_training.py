"""S1 network, criterion and training: a real tiny end-to-end run, resume after a kill, and a
two-process torchrun (gloo) run."""

import csv
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnastruct.datagen import GenerateConfig, generate
from rnastruct.s1.criterion import S1Criterion, auprc, auroc, metric_names, selection_score
from rnastruct.folding import fold, pair_probs
from rnastruct.s1.data import (S1Examples, iterate, length_batches, load_datasets, load_examples,
                               load_pair_probs, pair_probs_of, save_pair_probs, sequence_digest)
from rnastruct.checkpoints import load_checkpoint
from rnastruct.errors import InputError
from rnastruct.s1.model import PAD, S1ModelConfig, build_model, receptive_field
from rnastruct.s1.targets import OUTPUTS
from rnastruct.s1.training import S1Config, columns, model_from_checkpoint
from rnastruct.seqio import write_dataset
from rnastruct.structure import parse_dot_bracket

from .conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
TINY = S1ModelConfig(seq_channels=8, seq_layers=2, pair_channels=8, dilations=[1, 2], head_channels=8)
ORIGINAL_TINY = S1ModelConfig(arch="original", filters=[4, 4], filter_width=[5, 3], head_channels=6)
LSTM_TINY = S1ModelConfig(seq_channels=8, seq_layers=1, seq_lstm=6, pair_product=True, pair_channels=8,
                          dilations=[1, 2], head_channels=8)
HELIX_TINY = S1ModelConfig(seq_channels=8, seq_layers=1, pair_channels=8, dilations=[1, 2], head_channels=8,
                           helix_features=5)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """~120 real segments of varied length with a gene split, made by the real generator."""
    from .conftest import HUMAN, need_shared_data

    need_shared_data()
    out = tmp_path_factory.mktemp("s1data") / "ds"
    table, manifest = generate(GenerateConfig(fasta=str(HUMAN / "mrna_20_records.fa"), length="24-48",
                                              num_seq=120, min_mfe_freq=0.05, seed=4, workers=1,
                                              split_by="none", ens_div=False), progress=False)
    write_dataset(table, out, manifest)
    return out


@pytest.mark.parametrize("cfg", [TINY, ORIGINAL_TINY, S1ModelConfig(), LSTM_TINY, HELIX_TINY],
                         ids=["dilated", "original", "default", "lstm", "helix"])
def test_batched_equals_one_at_a_time(cfg):
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():  # trained-like parameters: a zero norm bias would hide padding leaks
        for m in model.modules():
            if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1, 1)
    lengths = torch.tensor([37, 25, 12])
    tokens = torch.randint(0, 5, (3, 37))
    for b, n in enumerate(lengths.tolist()):
        tokens[b, n:] = PAD
    with torch.no_grad():
        batched = model(tokens, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = model(tokens[b:b + 1, :n], lengths[b:b + 1])
            for name, (kind, k) in OUTPUTS.items():
                shape = (1, n, n) if kind != "class" else (1, n, n, k)
                assert alone[name].shape == shape
                torch.testing.assert_close(batched[name][b, :n, :n], alone[name][0], atol=1e-3, rtol=1e-3)


def test_default_receptive_field_covers_64():
    assert receptive_field(S1ModelConfig()) >= 64
    assert receptive_field(S1ModelConfig(arch="original")) == 57
    with pytest.raises(ValueError, match="unbounded"):
        receptive_field(LSTM_TINY)


def test_lstm_encoder_sees_the_whole_sequence():
    """With the BiLSTM, a change at position 0 reaches the far corner of the map, which the
    convolutions alone cannot."""
    torch.manual_seed(0)
    model = build_model(LSTM_TINY).eval().double()  # a random LSTM forgets fast: keep the trace
    L = 30  # the convolutions alone reach 5 positions
    tokens = torch.randint(0, 4, (1, L))
    other = tokens.clone()
    other[0, 0] = (tokens[0, 0] + 1) % 4
    with torch.no_grad():
        a, b = model(tokens, torch.tensor([L])), model(other, torch.tensor([L]))
    assert (a["stem_on"][0, L - 1, L - 1] - b["stem_on"][0, L - 1, L - 1]).abs() > 0


@pytest.mark.parametrize("cfg", [TINY, HELIX_TINY], ids=["dilated", "helix"])
def test_receptive_field_is_real(cfg):
    """A change at position 0 reaches pixel (k, k) exactly up to the computed reach (with
    helix features, their runs reach further than the 1D encoder)."""
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    reach = (receptive_field(cfg) - 1) // 2
    L = reach + 6
    tokens = torch.randint(0, 4, (1, L))
    other = tokens.clone()
    other[0, 0] = (tokens[0, 0] + 1) % 4
    with torch.no_grad():
        a, b = model(tokens, torch.tensor([L])), model(other, torch.tensor([L]))
    changed = (a["stem_on"][0] - b["stem_on"][0]).abs() > 0
    diag = changed.diagonal()
    assert diag[: reach + 1].any() and not diag[reach + 1:].any()


def test_helix_indices_against_a_pair_by_pair_count():
    """The stacks and canonical runs of every pixel, checked against a plain loop over the
    sequence, on a whole map and on a crop, with padding."""
    from rnastruct.s1.model import helix_indices

    canonical = {"AU", "UA", "GC", "CG", "GU", "UG"}
    rng = np.random.default_rng(3)
    L, K = 30, 4
    seqs = ["".join(rng.choice(list("ACGU"), n, p=[0.2, 0.3, 0.3, 0.2])) for n in (30, 23)]
    tokens = torch.full((2, L), PAD)
    for b, s in enumerate(seqs):
        tokens[b, : len(s)] = torch.tensor(["ACGU".index(c) for c in s])

    def tok(b, p):
        return int(tokens[b, p]) if 0 <= p < L else PAD

    def pair_ok(b, i, j):
        return 0 <= i < len(seqs[b]) and 0 <= j < len(seqs[b]) and seqs[b][i] + seqs[b][j] in canonical

    for a0, a1, b0, b1 in ((0, L, 0, L), (5, 17, 9, 30)):
        stack_in, stack_out, n_in, n_out = helix_indices(tokens, a0, a1, b0, b1, K)
        assert stack_in.shape == (2, a1 - a0, b1 - b0)
        found = 0
        for b in range(2):
            for i in range(a0, a1):
                for j in range(b0, b1):
                    here = 36 * (6 * tok(b, i) + tok(b, j))
                    assert stack_in[b, i - a0, j - b0] == here + 6 * tok(b, i + 1) + tok(b, j - 1)
                    assert stack_out[b, i - a0, j - b0] == here + 6 * tok(b, i - 1) + tok(b, j + 1)
                    for n, step in ((n_in, 1), (n_out, -1)):
                        k = 0
                        while k < K and pair_ok(b, i + step * (k + 1), j - step * (k + 1)):
                            k += 1
                        assert n[b, i - a0, j - b0] == k, (b, i, j, step)
                        found += k >= 2
        assert found > 20  # long runs occur, so the count is tested past one step


def test_criterion_counts_only_masked_pixels():
    ex = S1Examples(["GGGGAAACCCC", "GGGAAAUCCC"], [parse_dot_bracket("((((...))))"),
                                                    parse_dot_bracket("(((....)))")])
    batch = ex.batch(np.array([0, 1]))
    model = build_model(TINY)
    out = model(batch["tokens"], batch["lengths"])
    crit = S1Criterion()
    base = crit(out, batch["targets"], batch["masks"])
    assert set(base) == set(OUTPUTS) | {"loss"}
    # garbage outside the masks (padding row 10 of example 1, lower triangle) changes nothing
    poked = {k: v.clone() for k, v in out.items()}
    for name in OUTPUTS:
        poked[name][1, 10] = 1e4
        poked[name][0, 5, 2] = -1e4
    after = crit(poked, batch["targets"], batch["masks"])
    for k in base:
        assert torch.isclose(base[k], after[k]), k
    assert not batch["masks"]["on"][1, 10].any() and not batch["masks"]["on"][1, :, 10].any()
    # perfect predictions drive the classification losses to ~0
    perfect = {}
    for name, (kind, k) in OUTPUTS.items():
        t = batch["targets"][name]
        if kind == "on":
            perfect[name] = (t * 2 - 1) * 50
        elif kind == "class":
            perfect[name] = torch.nn.functional.one_hot(t, k).float() * 50
        else:
            perfect[name] = t.float()
    zero = crit(perfect, batch["targets"], batch["masks"])
    assert zero["loss"] < 1e-6


def test_ranking_metrics_against_hand_counts():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 0])
    assert auroc(scores, labels) == pytest.approx(5 / 6)  # 5 of 6 pos/neg pairs ordered right
    assert auprc(scores, labels) == pytest.approx(0.5 * (1 / 1) + 0.5 * (2 / 3))
    assert np.isnan(auroc(scores, np.zeros(5)))
    tied = np.array([0.5, 0.5])
    assert auroc(tied, np.array([1, 0])) == 0.5
    # with many ties, against the definitions counted by brute force (and on tensors too)
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 200) / 5.0
    labels = rng.random(200) < 0.3
    p, n = scores[labels], scores[~labels]
    pairs = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    assert auroc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(pairs / (len(p) * len(n)))
    ap, prev_recall = 0.0, 0.0
    for t in np.unique(scores)[::-1]:  # one threshold per distinct score, highest first
        hit = scores >= t
        recall = (hit & labels).sum() / labels.sum()
        ap += (recall - prev_recall) * (hit & labels).sum() / hit.sum()
        prev_recall = recall
    assert auprc(scores, labels) == pytest.approx(ap)
    m = {n: 1.0 for n in metric_names()}
    n_diff = sum(n.endswith(".diff") for n in metric_names())
    assert selection_score(m) == len(m) - 2 * n_diff


def test_length_batches_group_lengths_and_shard():
    lengths = np.random.default_rng(0).integers(20, 200, size=1000)
    batches = length_batches(lengths, 20, seed=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 15  # sorted within windows: little padding
    r0, r1 = length_batches(lengths, 20, 1, 0, 2), length_batches(lengths, 20, 1, 1, 2)
    assert len(r0) == len(r1) == 25
    assert not set(np.concatenate(r0)) & set(np.concatenate(r1))


def test_loader_workers_build_the_same_batches():
    import RNA

    rng = np.random.default_rng(4)
    seqs = ["".join(rng.choice(list("ACGU"), n)) for n in rng.integers(20, 60, 12)]
    ex = S1Examples(seqs, [parse_dot_bracket(RNA.fold(s)[0]) for s in seqs])
    batches = length_batches(ex.lengths, 4, seed=2)
    for here, ahead in zip(iterate(ex, batches), iterate(ex, batches, workers=2), strict=True):
        assert torch.equal(torch.as_tensor(here["tokens"]), ahead["tokens"])
        for part in ("targets", "masks"):
            assert here[part].keys() == ahead[part].keys()
            for name in here[part]:
                assert torch.equal(torch.as_tensor(here[part][name]), ahead[part][name])


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_training_run_end_to_end(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    r = run_cli("s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data,
                "--out", run_dir, "--set", "epochs=2", "--set", "valid_frac=0.2")
    assert r.returncode == 0, r.stderr
    assert "epoch 2/2" in r.stderr  # the progress bar
    rows = _rows(run_dir)
    assert [(x["tv"], x["epoch"]) for x in rows] == [("training", "1"), ("validation", "1"),
                                                      ("training", "2"), ("validation", "2")]
    assert list(rows[0]) == columns()
    for row in rows:
        assert 0 <= float(row["stem_on.auroc"]) <= 1 and float(row["loss"]) > 0
    # the validation loss the training reports is what the saved weights give
    assert float(rows[2]["loss"]) < float(rows[0]["loss"])  # it learns
    model, cfg, state = model_from_checkpoint(run_dir / "last.pt")
    assert state["epoch"] == 2 and cfg.model.seq_channels == 16
    assert (run_dir / "checkpoints" / "epoch_001.pt").exists() and (run_dir / "best.pt").exists()
    best = load_checkpoint(run_dir / "best.pt")
    scores = [load_checkpoint(run_dir / "checkpoints" / f"epoch_{e:03d}.pt")["score"] for e in (1, 2)]
    assert best["score"] == max(scores)
    assert (run_dir / "config.yaml").read_text().startswith("model:")
    # a second run into the same folder is refused
    r2 = run_cli("s1-train", "--data", tiny_data, "--out", run_dir)
    assert r2.returncode == 2 and "not empty" in r2.stderr


def test_training_on_two_datasets_uses_both(tiny_data, tmp_path):
    """Human segments plus random ones (``--data A B``): every row of both, splits kept."""
    rnd = tmp_path / "random"
    table, manifest = generate(GenerateConfig(random=60, length="24-48", min_mfe_freq=0.05, seed=8,
                                              workers=1, ens_div=False), progress=False)
    write_dataset(table, rnd, manifest)
    ex_h, split_h = load_examples(tiny_data)
    ex_r, split_r = load_examples(rnd)
    ex, split = load_datasets([tiny_data, rnd])
    assert ex.seqs == ex_h.seqs + ex_r.seqs and ex.ids == ex_h.ids + ex_r.ids
    assert all(np.array_equal(a, b) for a, b in zip(ex.pairs, ex_h.pairs + ex_r.pairs))
    assert split.tolist() == split_h.tolist() + split_r.tolist() and set(split_r) == {"train"}
    r = run_cli("s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data, rnd,
                "--out", tmp_path / "run", "--set", "epochs=1", "--set", "split=random", "--set", "valid_frac=0.2")
    assert r.returncode == 0, r.stderr
    n = len(ex_h) + len(ex_r)
    assert f"{int(n * 0.8)} training / {n - int(n * 0.8)} validation examples" in r.stderr


def test_original_config_builds_and_trains_a_step(tiny_data, tmp_path):
    r = run_cli("s1-train", "--config", REPO / "configs/s1/original.yaml", "--data", tiny_data,
                "--out", tmp_path / "orig", "--set", "epochs=1", "--set", "max_train_examples=4",
                "--set", "batch_size=4", "--quiet")
    assert r.returncode == 0, r.stderr
    model, cfg, _ = model_from_checkpoint(tmp_path / "orig" / "last.pt")
    assert cfg.model.arch == "original" and cfg.model.filters == [32, 32, 64, 64, 64, 128, 128]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (9, 9)]
    assert len(convs) == 7


def test_resume_after_a_kill_loses_at_most_one_epoch(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "rnastruct", "s1-train", "--config", str(REPO / "configs/s1/debug.yaml"),
            "--data", str(tiny_data), "--out", str(run_dir), "--set", "epochs=4", "--quiet"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    # last.pt is the run's final write of an epoch (after epoch_NNN.pt and best.pt): waiting for
    # epoch_001.pt alone could kill the run before it had anything to resume from
    while not (run_dir / "last.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # a real kill, mid-epoch 2
    proc.wait()
    killed_at = load_checkpoint(run_dir / "last.pt")["epoch"]
    assert killed_at in (1, 2, 3)
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = _rows(run_dir)
    assert [int(x["epoch"]) for x in rows] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 4
    assert not list(run_dir.rglob("*.tmp"))  # no half-written file survived the kill


def test_bad_checkpoint_and_data_are_clean_errors(tiny_data, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable rnastruct checkpoint"):
        model_from_checkpoint(bad)
    torch.save({"kind": "something.else", "config": {}}, bad)
    with pytest.raises(InputError, match="expected rnastruct.s1"):
        model_from_checkpoint(bad)
    r = run_cli("s1-train", "--data", tmp_path / "nope", "--out", tmp_path / "r")
    assert r.returncode == 2 and "argument --data" in r.stderr and "nope: no such file or folder" in r.stderr
    r = run_cli("s1-train", "--data", tiny_data, "--out", tmp_path / "r2", "--set", "model.widht=3")
    assert r.returncode == 2 and "unknown key(s) widht" in r.stderr


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_processes_gloo(tiny_data, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    # with the pair-probability target: rank 0 computes them, rank 1 waits and reads its file
    base = ["s1-train", "--config", str(REPO / "configs/s1/debug.yaml"), "--data", str(tiny_data),
            "--set", "epochs=2", "--set", "pair_prob_weight=5", "--set", "model.pair_prob_head=true",
            "--set", "pair_prob_workers=1", "--quiet"]
    r1 = run_cli(*base, "--out", single)
    assert r1.returncode == 0, r1.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r2 = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "rnastruct", *base,
                         "--out", str(ddp)], capture_output=True, text=True, env=env, timeout=600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    a, b = _rows(single), _rows(ddp)
    assert len(a) == len(b) and list(a[0]) == list(b[0])
    assert [(x["tv"], x["epoch"]) for x in a] == [(x["tv"], x["epoch"]) for x in b]
    model, cfg, state = model_from_checkpoint(ddp / "last.pt")
    assert state["epoch"] == 2
    assert not any(k.startswith("module.") for k in state["model"])  # loadable without DDP
    assert "pair_prob.loss" in b[0] and float(b[1]["pair_prob.loss"]) > 0
    assert (ddp / "pair_probs.npz").exists()


def test_bundled_default_model_loads_and_finds_stems():
    """The shipped checkpoint rebuilds from its own config and ranks true stem pixels of
    ViennaRNA structures well above the background (its validation auROC was 0.975)."""
    import RNA

    path = Path(__file__).resolve().parents[1] / "rnastruct" / "models" / "mfe" / "s1.pt"
    model, cfg, state = model_from_checkpoint(path)
    assert cfg.model.arch == "dilated" and state["epoch"] >= 1
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGU"), 64)) for _ in range(12)]
    ex = S1Examples(seqs, [parse_dot_bracket(RNA.fold(s)[0]) for s in seqs])
    batch = ex.batch(np.arange(len(seqs)))
    with torch.no_grad():
        out = model(batch["tokens"], batch["lengths"])
    scores = []
    for b in range(len(seqs)):
        m = batch["masks"]["on"][b].numpy()
        labels = batch["targets"]["stem_on"][b].numpy()[m]
        if 0 < labels.sum() < len(labels):
            scores.append(auroc(torch.sigmoid(out["stem_on"][b]).numpy()[m], labels))
    assert len(scores) >= 8 and np.mean(scores) > 0.9


# ---------------------------------------------------------------------------------------------
# the auxiliary target: ViennaRNA's base-pair probabilities


def test_pair_probs_agree_with_viennarna_ensemble():
    """Against what ViennaRNA computes by itself: the ensemble diversity (mean base-pair
    distance) is 2 * sum p (1 - p) over all pairs; each base pairs with probability <= 1; a
    strong hairpin's pairs are near certain."""
    rng = np.random.default_rng(11)
    seqs = ["GGGGGCAAAAGCCCCC", *("".join(rng.choice(list("ACGU"), n)) for n in (30, 64, 150))]
    for seq in seqs:
        i, j, p = pair_probs(seq, cutoff=1e-30)
        assert np.all(i < j) and np.all((p >= 1e-30) & (p <= 1 + 1e-6))
        assert 2 * np.sum(p * (1 - p), dtype=np.float64) == pytest.approx(fold(seq).ens_div, rel=1e-4)
        per_base = np.bincount(i, p, len(seq)) + np.bincount(j, p, len(seq))
        assert per_base.max() <= 1 + 1e-5
        fi, fj, fp = pair_probs(seq, cutoff=0.01)  # the cutoff only drops entries
        keep = p >= 0.01
        assert np.array_equal(fi, i[keep]) and np.array_equal(fj, j[keep]) and np.array_equal(fp, p[keep])
    i, j, p = pair_probs(seqs[0], cutoff=0.5)
    assert {(a, b) for a, b in zip(i, j)} >= {(k, 15 - k) for k in range(5)}  # GGGGG...CCCCC
    assert p.min() > 0.5
    with pytest.raises(ValueError, match="cutoff"):
        pair_probs(seqs[0], cutoff=0)


def test_pair_probs_in_batches_and_their_cache(tmp_path):
    seqs = ["GGGGGCAAAAGCCCCC", "ACGUACGGAAACCGUUUU", "GGGAAACCC"]
    ex = S1Examples(seqs, [np.zeros((0, 2), dtype=np.int64)] * 3)
    probs = pair_probs_of(seqs, 1e-3, workers=2)
    assert [len(p) for _, _, p in probs] == [len(pair_probs(s)[2]) for s in seqs]  # same in a pool
    with_probs = S1Examples(ex.seqs, ex.pairs, ex.ids, probs)
    batch = with_probs.subset(np.array([2, 0])).batch(np.array([0, 1]))
    target, mask = batch["targets"]["pair_prob"], batch["masks"]["pair"]  # [2, 16, 16]
    for b, k in enumerate([2, 0]):
        i, j, p = probs[k]
        dense = np.zeros((16, 16), dtype=np.float32)
        dense[i, j] = p
        assert np.array_equal(target[b].numpy(), dense)
        n = len(seqs[k])
        expect = np.zeros((16, 16), dtype=bool)
        expect[:n, :n] = np.triu(np.ones((n, n), dtype=bool), 1)
        assert np.array_equal(mask[b].numpy(), expect)  # upper triangle, no padding
    assert "pair_prob" not in ex.batch(np.array([0]))["targets"]
    # the cache: a round trip, and refused for other sequences or another cutoff
    digest = sequence_digest(seqs)
    save_pair_probs(tmp_path / "pp.npz", probs, digest, 1e-3)
    back = load_pair_probs(tmp_path / "pp.npz", digest, 1e-3)
    assert all(np.array_equal(x, y) for a, b in zip(back, probs) for x, y in zip(a, b))
    assert load_pair_probs(tmp_path / "pp.npz", sequence_digest(seqs[:2]), 1e-3) is None
    assert load_pair_probs(tmp_path / "pp.npz", digest, 1e-2) is None
    (tmp_path / "bad.npz").write_bytes(b"half a file")
    assert load_pair_probs(tmp_path / "bad.npz", digest, 1e-3) is None
    assert load_pair_probs(tmp_path / "missing.npz", digest, 1e-3) is None


def test_pair_prob_loss_by_hand():
    """The auxiliary loss is the BCE over the upper triangle inside each sequence, times its
    weight, added to the box losses; pixels outside that mask change nothing."""
    seqs = ["GGGGAAACCCC", "GGGAAAUCCC"]
    ex = S1Examples(seqs, [parse_dot_bracket("((((...))))"), parse_dot_bracket("(((....)))")], None,
                    pair_probs_of(seqs, 1e-3))
    batch = ex.batch(np.array([0, 1]))
    model = build_model(dataclasses.replace(TINY, pair_prob_head=True))
    out = model(batch["tokens"], batch["lengths"])
    assert out["pair_prob"].shape == (2, 11, 11)
    plain, aux = S1Criterion(), S1Criterion(pair_prob_weight=3.0)
    a, b = plain(out, batch["targets"], batch["masks"]), aux(out, batch["targets"], batch["masks"])
    x, t = out["pair_prob"].detach().double().numpy(), batch["targets"]["pair_prob"].double().numpy()
    terms = []
    for k, n in enumerate([11, 10]):
        for i in range(n):
            for j in range(i + 1, n):
                q = 1 / (1 + np.exp(-x[k, i, j]))
                terms.append(-(t[k, i, j] * np.log(q) + (1 - t[k, i, j]) * np.log(1 - q)))
    assert b["pair_prob"].item() == pytest.approx(np.mean(terms), rel=1e-5)
    assert b["loss"].item() == pytest.approx(a["loss"].item() + 3.0 * np.mean(terms), rel=1e-5)
    poked = dict(out, pair_prob=out["pair_prob"].detach().clone())
    poked["pair_prob"][1, 10] = 1e4  # padding
    poked["pair_prob"][0, 5, 2] = -1e4  # lower triangle
    poked["pair_prob"][0, 3, 3] = 1e4  # diagonal
    assert aux(poked, batch["targets"], batch["masks"])["pair_prob"].item() == pytest.approx(b["pair_prob"].item())


def test_training_with_pair_probs_end_to_end(tiny_data, tmp_path):
    """A real run with the auxiliary target: its loss in metrics.csv, the probabilities computed
    once (``--resume`` reads them back), and the checkpoint predicts like any other."""
    from rnastruct.s1.infer import S1Predictor

    run_dir = tmp_path / "run"
    args = ["s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data, "--out", run_dir,
            "--set", "pair_prob_weight=10", "--set", "model.pair_prob_head=true", "--set", "pair_prob_workers=2"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "pair probabilities of" in r.stderr
    rows = _rows(run_dir)
    cfg = S1Config(pair_prob_weight=10.0)
    assert list(rows[0]) == columns(cfg) and "pair_prob.loss" not in columns()
    for row in rows:
        assert 0 < float(row["pair_prob.loss"]) < 1  # a mean BCE against probabilities
        # the total is the 17 box losses plus 10 times the auxiliary one
        box = sum(float(row[f"{name}.loss"]) for name in OUTPUTS)
        assert float(row["loss"]) == pytest.approx(box + 10 * float(row["pair_prob.loss"]), rel=1e-4)
    cache = run_dir / "pair_probs.npz"
    stamp = cache.stat().st_mtime_ns
    r = run_cli(*args, "--resume")  # a finished run: it reads the cache and has nothing left
    assert r.returncode == 0, r.stderr
    assert "pair probabilities of" not in r.stderr and cache.stat().st_mtime_ns == stamp
    assert _rows(run_dir) == rows
    model, cfg, _ = model_from_checkpoint(run_dir / "last.pt")
    assert cfg.model.pair_prob_head and cfg.pair_prob_weight == 10
    # inference never reads the auxiliary head: the same network with the head removed proposes
    # the same (the very same weight tensors: copies may sit at other alignments, and oneDNN's
    # float32 sums can round differently there)
    seqs = ["GGGGAAACCCCAUAUGGGAAACCC", "ACGUACGUAGCUAGCUAGCAUCGAUCGA"]
    a = dict(S1Predictor(model).propose(seqs))
    model.pair_prob = None
    b = dict(S1Predictor(model).propose(seqs))
    assert sorted(a) == [0, 1] and len(a[0]["bb_x"]) > 0
    for k in a:
        assert a[k].keys() == b[k].keys()
        assert all(np.array_equal(a[k][c], b[k][c]) for c in a[k])


def test_pair_prob_settings_must_agree(tiny_data, tmp_path):
    r = run_cli("s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data,
                "--out", tmp_path / "a", "--set", "pair_prob_weight=10")
    assert r.returncode == 2 and "go together" in r.stderr and not (tmp_path / "a").exists()
    r = run_cli("s1-train", "--config", REPO / "configs/s1/original.yaml", "--data", tiny_data,
                "--out", tmp_path / "b", "--set", "model.pair_prob_head=true", "--set", "pair_prob_weight=1")
    assert r.returncode == 2 and "dilated network only" in r.stderr and not (tmp_path / "b").exists()
    r = run_cli("s1-train", "--data", tiny_data, "--out", tmp_path / "c", "--set", "model.arch=unet")
    assert r.returncode == 2 and "model.arch must be" in r.stderr and not (tmp_path / "c").exists()


def test_training_through_the_partition_function_end_to_end(tiny_data, tmp_path):
    """A real run with the ensemble loss (ViennaRNA in two worker processes): its loss and the
    learned scale in metrics.csv, the scale stored in the checkpoint, and a resumed run carries
    it on."""
    run_dir = tmp_path / "run"
    args = ["s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data, "--out", run_dir,
            "--set", "model.pair_prob_head=true", "--set", "pair_target=reference", "--set", "pair_prob_weight=1",
            "--set", "ensemble_weight=1", "--set", "energy_reg=0.01", "--set", "ensemble_workers=2",
            "--set", "epochs=1", "--set", "max_valid_examples=10", "--set", "epoch_examples=30"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    rows = _rows(run_dir)
    assert list(rows[0]) == columns(S1Config(pair_prob_weight=1.0, ensemble_weight=1.0))
    for row in rows:
        assert 0 < float(row["ensemble.loss"]) < 5 and float(row["energy_reg.loss"]) > 0
    state = load_checkpoint(run_dir / "last.pt")
    scale = state["energy_scale"]
    assert scale["weight"] != 0.4 and scale["offset"] != -2.0  # learned, not the starting values
    assert float(rows[0]["energy_weight"]) == pytest.approx(scale["weight"])
    model, cfg, _ = model_from_checkpoint(run_dir / "last.pt")
    assert cfg.ensemble_weight == 1.0 and cfg.model.pair_prob_head
    # a resumed run loads the scale with the network (a finished run: nothing left to do)
    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    assert _rows(run_dir) == rows and load_checkpoint(run_dir / "last.pt")["energy_scale"] == scale
    # settings that cannot work are refused before anything is written
    r = run_cli("s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data,
                "--out", tmp_path / "bad", "--set", "ensemble_weight=1")
    assert r.returncode == 2 and "needs model.pair_prob_head" in r.stderr and not (tmp_path / "bad").exists()


def test_distill_loss_by_hand():
    """Squared difference above the floor; below it the student is only kept below it."""
    from rnastruct.s1.criterion import distill_loss

    teacher = torch.tensor([1.0, -9.0, -9.0, -2.0])
    student = torch.tensor([0.0, -10.0, -7.0, -2.5])
    # errors: -1 (above the floor), 0 (both below), 1 (student above the floor), -0.5
    assert distill_loss(student, teacher, -8.0).item() == pytest.approx((1 + 0 + 1 + 0.25) / 4)
    assert distill_loss(torch.zeros(0), torch.zeros(0), -8.0).item() == 0.0


def test_formable_pairs_by_hand():
    from rnastruct.s1.data import tokenize
    from rnastruct.s1.training import formable_pairs

    seq = "GGAAACUCCN"
    tokens = torch.full((2, 12), PAD, dtype=torch.int64)
    tokens[0, :10] = torch.from_numpy(tokenize(seq))
    tokens[1, :4] = torch.from_numpy(tokenize("GCGC"))
    got = formable_pairs(tokens).numpy()
    # by hand: G0 and G1 with C5 U6 C7 C8, A2 with U6; A3 A4 C5 have no partner 4 or more
    # bases on; N pairs with nothing; GCGC is too short for any pair; padding pairs with nothing
    want = {(0, 5), (0, 6), (0, 7), (0, 8), (1, 5), (1, 6), (1, 7), (1, 8), (2, 6)}
    assert {(int(i), int(j)) for i, j in zip(*np.nonzero(got[0]))} == want
    assert not got[1].any()


def _distill_args(tiny_data, out, teacher):
    return ["s1-train", "--config", REPO / "configs/s1/debug.yaml", "--data", tiny_data, "--out", out,
            "--set", "model.pair_prob_head=true", "--set", "pair_target=reference", "--set", "pair_prob_weight=1",
            "--set", "epochs=3", "--set", "seed=3", "--set", "bf16=false",
            *(["--set", f"teacher={teacher}", "--set", "distill_weight=5"] if teacher else [])]


def test_distillation_end_to_end(tiny_data, tmp_path):
    """A student learns a teacher's pair logits: its loss in metrics.csv, accounted in the total,
    and the student ends nearer the teacher than the same run without the teacher."""
    from rnastruct.s1.criterion import distill_loss
    from rnastruct.s1.model import from_checkpoint
    from rnastruct.s1.training import formable_pairs, teacher_logits

    r = run_cli(*_distill_args(tiny_data, tmp_path / "teacher", None), "--set", "epochs=4",
                "--set", "model.pair_channels=12")
    assert r.returncode == 0, r.stderr
    teacher_path = tmp_path / "teacher" / "last.pt"
    r = run_cli(*_distill_args(tiny_data, tmp_path / "student", teacher_path))
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path / "student")
    assert list(rows[0]) == columns(S1Config(pair_prob_weight=1.0, distill_weight=5.0, teacher="t"))
    for row in rows:
        box = sum(float(row[f"{name}.loss"]) for name in OUTPUTS)
        assert float(row["loss"]) == pytest.approx(box + float(row["pair_prob.loss"]) + 5 * float(row["distill.loss"]),
                                                   rel=1e-4)
    r = run_cli(*_distill_args(tiny_data, tmp_path / "alone", None))
    assert r.returncode == 0, r.stderr

    teacher = from_checkpoint(teacher_path)[0]
    ex, _ = load_datasets(str(tiny_data))
    batch = ex.batch(np.arange(40))
    tokens, lengths = batch["tokens"], batch["lengths"]
    with torch.no_grad():
        target = teacher_logits(teacher, tokens, lengths)
        m = formable_pairs(tokens)

        def gap(run):
            student = from_checkpoint(tmp_path / run / "last.pt")[0]
            return distill_loss(student(tokens, lengths)["pair_prob"][m], target[m], -8.0).item()

        student, alone = gap("student"), gap("alone")  # about 0.6 and 17 when written
        assert student < 0.5 * alone, (student, alone)


def test_distillation_settings_must_agree(tiny_data, tmp_path):
    r = run_cli(*_distill_args(tiny_data, tmp_path / "a", None), "--set", "distill_weight=1")
    assert r.returncode == 2 and "go together" in r.stderr and not (tmp_path / "a").exists()
    r = run_cli(*_distill_args(tiny_data, tmp_path / "b", tmp_path / "missing.pt"))
    assert r.returncode == 2 and "no such checkpoint" in r.stderr and not (tmp_path / "b").exists()
    r = run_cli(*_distill_args(tiny_data, tmp_path / "c", REPO / "rnastruct/models/mfe/s1.pt"))  # no pair head
    assert r.returncode == 2 and "no pair head" in r.stderr and not (tmp_path / "c").exists()


def test_init_pair_blocks_start_a_shallower_trunk(tmp_path):
    """``init_pair_blocks`` starts block k from the checkpoint's block ``init_pair_blocks[k]``;
    blocks whose dilations differ are refused."""
    from rnastruct.checkpoints import save_checkpoint
    from rnastruct.s1.training import check_config, init_weights

    deep_cfg = dataclasses.replace(TINY, dilations=[1, 2, 4], pair_prob_head=True)
    torch.manual_seed(0)
    deep = build_model(deep_cfg)
    path = tmp_path / "deep.pt"
    save_checkpoint(path, {"kind": "rnastruct.s1", "config": {"model": dataclasses.asdict(deep_cfg)},
                           "model": deep.state_dict()})
    shallow_cfg = dataclasses.replace(deep_cfg, dilations=[1, 4])
    shallow = build_model(shallow_cfg)
    init_weights(shallow, path, [0, 2])
    for k, src in enumerate([0, 2]):
        assert torch.equal(shallow.pair_blocks[k].conv.weight, deep.pair_blocks[src].conv.weight)
        assert torch.equal(shallow.pair_blocks[k].conv.bias, deep.pair_blocks[src].conv.bias)
    assert torch.equal(shallow.pair_prob.weight, deep.pair_prob.weight)  # the rest by name, as before
    check_config(S1Config(model=shallow_cfg, init=str(path), pair_prob_weight=1.0, init_pair_blocks=[0, 2]))
    with pytest.raises(InputError, match=r"dilations \[1, 2\], the network's are \[1, 4\]"):
        check_config(S1Config(model=shallow_cfg, init=str(path), pair_prob_weight=1.0, init_pair_blocks=[0, 1]))
    with pytest.raises(InputError, match="dilations"):
        check_config(S1Config(model=shallow_cfg, init=str(path), pair_prob_weight=1.0, init_pair_blocks=[0, 5]))

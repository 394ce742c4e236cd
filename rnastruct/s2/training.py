"""S2 data and training: ``rnastruct s2-data`` and ``rnastruct s2-train``.

Data (``make_dataset``): pruned S1 proposals on generated sequences (every sequence kept, also
those where S1 missed boxes), each box labelled 1 when it exactly matches a true box of its type,
with ``features.FEATURES``. Stored as NPZ without object arrays: ``features [T, F]``,
``labels [T]``, ``boxes [T, 5]`` (type code, bb_x, bb_y, siz_x, siz_y; box convention of
``rnastruct.boxes``: top-right corner, sizes including closing bases), ``offsets [n + 1]``
(sequence k owns rows ``offsets[k]:offsets[k + 1]``), ``ids``, ``split``, ``seqs``.

Training: batches of sequences padded to their most boxes, masked BCE, AdamW with warm-up and
cosine decay; ``RUN_DIR/metrics.csv`` (loss, auROC, auPRC per epoch and split), ``config.yaml``,
``checkpoints/epoch_NNN.pt``, ``best.pt`` (highest validation auPRC), ``last.pt`` (resumable).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn import functional as F

from ..config import from_dict
from ..seqio import InputError, atomic_path, write_text_atomic
from ..train import model_from_checkpoint as load_model
from ..train import (autocast, evaluate, finish_distributed, gather, load_checkpoint, save_checkpoint,
                     setup_device, train_one_epoch, warmup_cosine, write_metrics_csv)
from .features import FEATURES
from .model import S2ModelConfig, build_model

CHECKPOINT_KIND = "rnastruct.s2"
COLUMNS = ["loss", "auroc", "auprc", "positives", "boxes", "lr", "seconds", "tv", "epoch"]


@dataclass
class S2Config:
    model: S2ModelConfig = field(default_factory=S2ModelConfig)
    epochs: int = 10
    batch_size: int = 8  # sequences per batch
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 5555
    split: str = "column"  # the dataset's split column (train / valid), or "random" (95/5)
    valid_frac: float = 0.05
    bf16: bool = False
    threads: int = 0


# ---------------------------------------------------------------------------------------------
# data


def ranked_subset(boxes: dict, max_boxes: int) -> np.ndarray:
    """Indices of at most ``max_boxes`` boxes, the most supported first (p_on_max, then
    n_proposal_norm), returned in their original order."""
    n = len(boxes["type"])
    if n <= max_boxes:
        return np.arange(n)
    support = np.maximum(np.asarray(boxes["n_proposal_norm_sm"]), np.asarray(boxes["n_proposal_norm_sl"]))
    order = np.lexsort((-support, -np.asarray(boxes["p_on_max"])))
    return np.sort(order[:max_boxes])


def make_dataset(ids, seqs, tables, true_pairs, splits, max_boxes: int) -> dict[str, np.ndarray]:
    """Per-sequence proposals -> the NPZ arrays described in the module docstring."""
    from ..boxes import structure_to_boxes
    from ..s1.targets import type_codes
    from .features import box_features, box_labels

    feats, labels, boxes, offsets = [], [], [], [0]
    for seq, t, pairs in zip(seqs, tables, true_pairs):
        keep = ranked_subset(t, max_boxes)
        t = {c: np.asarray(v)[keep] for c, v in t.items()}
        feats.append(box_features(t, seq))
        labels.append(box_labels(t, structure_to_boxes(pairs, len(seq))))
        boxes.append(np.stack([type_codes(t["type"])] + [np.asarray(t[c], np.int64) for c in
                                                          ("bb_x", "bb_y", "siz_x", "siz_y")], axis=1).reshape(-1, 5))
        offsets.append(offsets[-1] + len(keep))
    return {"features": np.concatenate(feats) if feats else np.zeros((0, len(FEATURES)), np.float32),
            "labels": np.concatenate(labels) if labels else np.zeros(0, np.float32),
            "boxes": np.concatenate(boxes) if boxes else np.zeros((0, 5), np.int64),
            "offsets": np.asarray(offsets, np.int64), "ids": np.asarray(ids, dtype=str),
            "split": np.asarray(splits, dtype=str), "seqs": np.asarray(seqs, dtype=str)}


def save_npz(path, arrays: dict) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_npz(path) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such S2 dataset")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # truncated, not an npz, object arrays
        raise InputError(f"{p}: not a readable S2 dataset ({type(e).__name__}: {e})") from None
    missing = {"features", "labels", "offsets", "split"} - set(data)
    if missing:
        raise InputError(f"{p}: S2 dataset lacks {', '.join(sorted(missing))}")
    if data["features"].shape[1] != len(FEATURES):
        raise InputError(f"{p}: {data['features'].shape[1]} features per box, this version uses "
                         f"{len(FEATURES)} (remake it with rnastruct s2-data)")
    return data


def batch_of(data: dict, index: np.ndarray) -> dict[str, torch.Tensor]:
    """Sequences ``index`` -> padded ``features [B, N, F]``, ``labels [B, N]``, ``mask [B, N]``."""
    off = data["offsets"]
    n = int(max(off[k + 1] - off[k] for k in index)) if len(index) else 0
    n = max(n, 1)
    feats = np.zeros((len(index), n, len(FEATURES)), np.float32)
    labels = np.zeros((len(index), n), np.float32)
    mask = np.zeros((len(index), n), bool)
    for b, k in enumerate(index):
        m = off[k + 1] - off[k]
        feats[b, :m] = data["features"][off[k]:off[k + 1]]
        labels[b, :m] = data["labels"][off[k]:off[k + 1]]
        mask[b, :m] = True
    return {"features": torch.from_numpy(feats), "labels": torch.from_numpy(labels), "mask": torch.from_numpy(mask)}


# ---------------------------------------------------------------------------------------------
# criterion and metrics


class S2Criterion(torch.nn.Module):
    """Masked binary cross-entropy over the boxes (padding boxes count for nothing)."""

    def forward(self, logits, labels, mask) -> dict[str, torch.Tensor]:
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")  # [B, N]
        return {"loss": torch.where(mask, loss, 0.0).sum() / mask.sum().clamp(min=1)}


def _metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from ..s1.criterion import auprc, auroc

    both = 0 < labels.sum() < len(labels)
    return {"auroc": auroc(probs, labels) if both else float("nan"),
            "auprc": auprc(probs, labels) if both else float("nan"),
            "positives": int(labels.sum()), "boxes": len(labels)}


# ---------------------------------------------------------------------------------------------
# training


def model_from_checkpoint(path) -> tuple[torch.nn.Module, S2Config, dict]:
    """Rebuild an S2 network from a checkpoint file alone -> (model in eval mode, config, state)."""
    return load_model(path, CHECKPOINT_KIND, S2Config, build_model)


def _split(data: dict, cfg: S2Config) -> tuple[np.ndarray, np.ndarray]:
    n = len(data["offsets"]) - 1
    if cfg.split == "column":
        train, valid = np.flatnonzero(data["split"] == "train"), np.flatnonzero(data["split"] == "valid")
    elif cfg.split == "random":
        order = np.random.default_rng(cfg.seed).permutation(n)
        cut = int(n * (1 - cfg.valid_frac))
        train, valid = order[:cut], order[cut:]
    else:
        raise InputError(f"split must be 'column' or 'random', got {cfg.split!r}")
    if len(train) == 0 or len(valid) == 0:
        raise InputError(f"split {cfg.split!r} leaves {len(train)} training and {len(valid)} validation sequences")
    return train, valid


def _batches(index: np.ndarray, size: int, seed: int | None, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    if seed is not None:
        index = np.random.default_rng(seed).permutation(index)
    batches = [index[k:k + size] for k in range(0, len(index), size)]
    if world > 1:
        per = len(batches) // world
        batches = batches[rank::world][:per]
    return batches


def run(cfg: S2Config, data_path: str, out: str, resume: bool = False, device_name: str = "cpu",
        progress: bool = True) -> list[dict]:
    """Train S2; returns the metrics history. Multi-process under ``torchrun``."""
    from tqdm import tqdm

    device, rank, world = setup_device(device_name)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir, state = Path(out), None
    last = run_dir / "last.pt"
    if resume:
        if not last.exists():
            raise InputError(f"{run_dir}: nothing to resume (no last.pt)")
        state = load_checkpoint(last, CHECKPOINT_KIND)
        cfg = from_dict(S2Config, state["config"], f"{last}: config")  # go on as it started
    elif rank == 0:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise InputError(f"{run_dir}: not empty (use --resume to continue that run, or a new folder)")
        run_dir.mkdir(parents=True, exist_ok=True)
    data = load_npz(data_path)
    train_idx, valid_idx = _split(data, cfg)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = len(_batches(train_idx, cfg.batch_size, 0, rank, world)) * cfg.epochs
    scheduler = warmup_cosine(optimizer, cfg.warmup_steps, total)
    history, best, start = [], -math.inf, 1
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best, start = state["history"], state["best"], state["epoch"] + 1
    net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion, amp = S2Criterion(), (lambda: autocast(device, cfg.bf16))

    def step(m, batch):
        b = {k: v.to(device) for k, v in batch.items()}
        return m(b["features"], b["mask"]), b["labels"], b["mask"], int(batch["mask"].any(1).sum())

    def collect(into):
        def on_batch(logits, labels, mask):
            into.append((torch.sigmoid(logits.float())[mask].detach().cpu().numpy(), labels[mask].cpu().numpy()))
        return on_batch

    if rank == 0:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        print(f"s2-train: {len(train_idx)} training / {len(valid_idx)} validation sequences, "
              f"{int(data['labels'].sum())} true of {len(data['labels'])} boxes, {cfg.model.arch} with "
              f"{sum(p.numel() for p in model.parameters()):,} parameters", file=sys.stderr)
    for epoch in range(start, cfg.epochs + 1):
        t0 = time.time()
        batches = _batches(train_idx, cfg.batch_size, cfg.seed + epoch, rank, world)
        train_out, valid_out = [], []
        with tqdm(total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                  disable=not progress or rank != 0, dynamic_ncols=True, mininterval=1.0) as bar:
            train_loss = train_one_epoch(net, criterion, (batch_of(data, i) for i in batches), optimizer, step,
                                         scheduler=scheduler, grad_clip=cfg.grad_clip, amp=amp, bar=bar,
                                         on_batch=collect(train_out))
        vb = _batches(valid_idx, cfg.batch_size, None)[rank::world]
        valid_loss = evaluate(model, criterion, (batch_of(data, i) for i in vb), step, amp=amp,
                              on_batch=collect(valid_out))
        rows = []
        for tv, loss, outs in (("training", train_loss, train_out), ("validation", valid_loss, valid_out)):
            outs = sum(gather(outs, world), [])
            losses = [x for x in gather(loss.get("loss", float("nan")), world)]
            probs = np.concatenate([p for p, _ in outs]) if outs else np.zeros(0)
            labels = np.concatenate([y for _, y in outs]) if outs else np.zeros(0)
            rows.append({"loss": float(np.nanmean(losses)), **_metrics(probs, labels),
                         "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1),
                         "tv": tv, "epoch": epoch})
        history += rows
        score = rows[1]["auprc"] if not math.isnan(rows[1]["auprc"]) else -rows[1]["loss"]
        if rank == 0:
            ckpt = {"kind": CHECKPOINT_KIND, "config": dataclasses.asdict(cfg), "epoch": epoch,
                    "model": model.state_dict(), "metrics": rows[1]}
            save_checkpoint(run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt", ckpt)
            if score > best:
                save_checkpoint(run_dir / "best.pt", ckpt)
            save_checkpoint(last, {**ckpt, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                   "history": history, "best": max(best, score)})
            write_metrics_csv(run_dir / "metrics.csv", history, COLUMNS)
            v = rows[1]
            print(f"epoch {epoch}: train loss {rows[0]['loss']:.4f}, valid loss {v['loss']:.4f}, "
                  f"valid auROC {v['auroc']:.3f} auPRC {v['auprc']:.3f}", file=sys.stderr)
        best = max(best, score)
    finish_distributed(world)
    return history

"""``rnastruct s2-train``: train S2 on a dataset from ``rnastruct s2-data`` (``s2.data``).

Batches of sequences padded to their most boxes (``s2.loader``), masked BCE (``s2.criterion``),
AdamW with warm-up and cosine decay; ``RUN_DIR/metrics.csv`` (loss, auROC, auPRC per epoch and
split), ``config.yaml``, ``checkpoints/epoch_NNN.pt``, ``best.pt`` (highest validation auPRC),
``last.pt`` (resumable).
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

from ..checkpoints import load_checkpoint, save_checkpoint
from ..checkpoints import model_from_checkpoint as load_model
from ..config import from_dict
from ..errors import InputError
from ..seqio import write_text_atomic
from ..train import (autocast, evaluate, finish_distributed, gather, setup_device, train_one_epoch, warmup_cosine,
                     write_metrics_csv)
from . import loader
from .criterion import S2Criterion, box_metrics
from .data import load_npz
from .model import CHECKPOINT_KIND, S2ModelConfig, build_model

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


def model_from_checkpoint(path) -> tuple[torch.nn.Module, S2Config, dict]:
    """Rebuild an S2 network from a checkpoint file alone -> (model in eval mode, config, state)."""
    return load_model(path, CHECKPOINT_KIND, S2Config, build_model)


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
    train_idx, valid_idx = loader.split(data, cfg)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = len(loader.batches(train_idx, cfg.batch_size, 0, rank, world)) * cfg.epochs
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
        batches = loader.batches(train_idx, cfg.batch_size, cfg.seed + epoch, rank, world)
        train_out, valid_out = [], []
        with tqdm(total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                  disable=not progress or rank != 0, dynamic_ncols=True, mininterval=1.0) as bar:
            train_loss = train_one_epoch(net, criterion, (loader.batch_of(data, i) for i in batches), optimizer, step,
                                         scheduler=scheduler, grad_clip=cfg.grad_clip, amp=amp, bar=bar,
                                         on_batch=collect(train_out))
        vb = loader.batches(valid_idx, cfg.batch_size, None)[rank::world]
        valid_loss = evaluate(model, criterion, (loader.batch_of(data, i) for i in vb), step, amp=amp,
                              on_batch=collect(valid_out))
        rows = []
        for tv, loss, outs in (("training", train_loss, train_out), ("validation", valid_loss, valid_out)):
            outs = sum(gather(outs, world), [])
            losses = [x for x in gather(loss.get("loss", float("nan")), world)]
            probs = np.concatenate([p for p, _ in outs]) if outs else np.zeros(0)
            labels = np.concatenate([y for _, y in outs]) if outs else np.zeros(0)
            rows.append({"loss": float(np.nanmean(losses)), **box_metrics(probs, labels),
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

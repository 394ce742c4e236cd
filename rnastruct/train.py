"""The training engine: task-agnostic loops, metrics.csv and distributed set-up.

``train_one_epoch`` and ``evaluate`` know nothing of S1 or S2: they take a model, a criterion
(returning a dict of named losses with the total under ``"loss"``), an iterable of batches and a
``step`` function that runs the model on a batch. Checkpoints: ``rnastruct.checkpoints``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from typing import Callable, Iterable

import torch
import torch.distributed as dist

from .errors import InputError
from .seqio import atomic_path


class NonFiniteLoss(RuntimeError):
    """Training stops when the loss is not finite (as torchvision's engine does)."""


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast where asked (about 2x fp32 on a CPU with AMX or AVX-512 bf16)."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_one_epoch(model, criterion, batches: Iterable, optimizer, step: Callable, *,
                    scheduler=None, grad_clip: float = 0.0, amp=contextlib.nullcontext,
                    on_batch: Callable | None = None, bar=None) -> dict[str, float]:
    """One pass over ``batches`` -> mean of each named loss (weighted by batch size).

    ``step(model, batch) -> (outputs, targets, masks, batch_size)``; ``on_batch(outputs,
    targets, masks)`` sees every batch (for metrics); ``bar`` is a tqdm bar to advance.
    """
    model.train()
    sums: dict[str, float] = {}
    n = 0
    for batch in batches:
        outputs, targets, masks, size, losses = _forward(model, criterion, step, batch, amp)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss is {loss.item()}; losses: "
                                + ", ".join(f"{k} {v.item():.4g}" for k, v in losses.items()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n += _accumulate(sums, losses, size)
        if on_batch is not None:
            on_batch(outputs, targets, masks)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / n:.4f}", refresh=False)
    return {k: v / max(n, 1) for k, v in sums.items()}


@torch.no_grad()
def evaluate(model, criterion, batches: Iterable, step: Callable, *, amp=contextlib.nullcontext,
             on_batch: Callable | None = None) -> dict[str, float]:
    """Mean of each named loss over ``batches`` in eval mode."""
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    for batch in batches:
        outputs, targets, masks, size, losses = _forward(model, criterion, step, batch, amp)
        n += _accumulate(sums, losses, size)
        if on_batch is not None:
            on_batch(outputs, targets, masks)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _forward(model, criterion, step, batch, amp):
    with amp():
        outputs, targets, masks, size = step(model, batch)
        losses = criterion(outputs, targets, masks)
    return outputs, targets, masks, size, losses


def _accumulate(sums: dict[str, float], losses: dict, size: int) -> int:
    """Add a batch's mean losses, weighted by its size, to ``sums`` -> the size."""
    for k, v in losses.items():
        sums[k] = sums.get(k, 0.0) + v.item() * size
    return size


def warmup_cosine(optimizer, warmup_steps: int, total_steps: int, floor: float = 0.1):
    """Linear warm-up, then cosine decay to ``floor`` times the base learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------------------------------------
# metrics.csv


def write_metrics_csv(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> None:
    """Rewrite metrics.csv from the full history (atomic, so a kill never leaves half a row)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


# ---------------------------------------------------------------------------------------------
# devices and torchrun


def setup_device(name: str) -> tuple[torch.device, int, int]:
    """-> (device, rank, world size). Under ``torchrun`` (``WORLD_SIZE`` > 1) joins the process
    group: NCCL on CUDA, gloo on CPU; each rank takes GPU ``LOCAL_RANK`` of those that
    ``CUDA_VISIBLE_DEVICES`` shows."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is visible (check CUDA_VISIBLE_DEVICES)")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    elif name == "cpu":
        device = torch.device("cpu")
    else:
        raise InputError(f"--device must be cpu or cuda, got {name!r}")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world


def gather(obj, world: int) -> list:
    """Every rank's ``obj``, in rank order (just ``[obj]`` without torchrun)."""
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def finish_distributed(world: int) -> None:
    """Wait for every rank, then leave the process group as the process exits.

    ``destroy_process_group()`` aborted 2-rank gloo runs on torch 2.13 CPU in about 1 of 4
    tries here ("terminate called without an active exception") after all work was done. The
    interpreter's normal exit did too, more rarely, so the command line exits with
    ``os._exit`` under torchrun (``cli._leave_process_group``); the barrier makes every rank
    finish its work first.
    """
    if world > 1 and dist.is_initialized():
        dist.barrier()

"""``rnastruct s1-train``: train an S1 network on a dataset from ``rnastruct generate``.

RUN_DIR gets ``config.yaml`` (resolved), ``metrics.csv`` (one row per epoch per split: the
original's columns plus every loss), ``checkpoints/epoch_NNN.pt``, ``best.pt`` (the original's
rule: highest sum of validation metrics with each ``diff`` negated) and ``last.pt`` (with the
optimizer, for ``--resume``). Every checkpoint carries its config, so the model can be rebuilt
from the file alone, and loads with ``torch.load(..., weights_only=True)``. With
``pair_prob_weight`` the run also keeps ``pair_probs.npz``: ViennaRNA's base-pair
probabilities of its segments, computed before the first epoch and read back by ``--resume``.
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
from .criterion import S1Criterion, average_metrics, example_metrics, metric_names, selection_score
from .data import iterate, length_batches, load_datasets, split_examples
from .ensemble import EnsembleLoss
from .model import _CANONICAL_BOOL, CHECKPOINT_KIND, S1ModelConfig, build_model
from .model import from_checkpoint as network_from_checkpoint
from .targets import OUTPUTS



@dataclass
class S1Config:
    """Training recipe; ``model`` is the network (see ``S1ModelConfig``)."""

    model: S1ModelConfig = field(default_factory=S1ModelConfig)
    epochs: int = 20  # passes over the training examples
    batch_size: int = 20  # examples per step (the original: 20)
    lr: float = 2e-3  # peak learning rate of AdamW (the original: Adam 1e-4, constant)
    weight_decay: float = 0.01
    warmup_steps: int = 300  # linear warm-up, then cosine decay to 10% (0 = constant lr)
    cosine: bool = True  # decay the learning rate over the run (False: constant after warm-up)
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    split: str = "column"  # "column": the dataset's gene split; "random": shuffle and cut
    valid_frac: float = 0.05  # split "random": share of examples for validation
    seed: int = 5555  # split "random" and batch order (epoch k uses seed + k)
    max_length: int | None = None  # drop longer examples
    max_train_examples: int | None = None  # use only this many training examples (debugging)
    # each epoch draws this many training examples afresh (seed + epoch): short epochs, each a
    # checkpoint, that still walk the whole training set (None: every example every epoch)
    epoch_examples: int | None = None
    bf16: bool = True  # bf16 autocast (about 2x fp32 on this kind of CPU)
    threads: int = 0  # torch CPU threads (0 = torch's default)
    loader_workers: int = 0  # processes building batches ahead of the step (0 = in the main one)
    # per-example metrics of the training batches too (false: validation only; on a GPU they
    # cost a third of the step)
    train_metrics: bool = True
    max_minutes: float | None = None  # stop after the epoch that passes this wall time
    # > 0: also learn ViennaRNA's base-pair probabilities of each training segment (needs
    # model.pair_prob_head), this weight times their binary cross-entropy added to the loss: the
    # energy model's view of every pair, where the boxes say only which pairs the MFE kept
    pair_prob_weight: float = 0.0
    pair_prob_cutoff: float = 1e-3  # probabilities below this are learnt as 0 (and not stored)
    pair_prob_workers: int = 0  # processes computing them before the first epoch (0 = all cores)
    # weight of each named loss (S1Criterion's weight_dict; 1 for those not named). On real
    # structures the scalar sizes of long loops have L1 losses of tens that would swamp the rest
    loss_weights: dict[str, float] = field(default_factory=dict)
    # what the pair head learns: "vienna" (ViennaRNA's pair probabilities, above) or "reference"
    # (the dataset's own pairs as 1, every other pixel 0: on real structures, the head's logits
    # become the learned pseudo-energies of the thermodynamic decoder)
    pair_target: str = "vienna"
    # a checkpoint whose weights start the run (fine-tuning; layers it lacks, such as a new pair
    # head, start fresh)
    init: str | None = None
    # > 0: train the pair head through ViennaRNA's partition function (s1/ensemble.py): this
    # weight times -log P(reference) per nucleotide in the ensemble of Turner 2004 plus the
    # learned pseudo-energies -w * (logit - b); w and b are learned from these starting values
    ensemble_weight: float = 0.0
    # kcal/mol per logit unit and the offset the scale starts from (an init checkpoint trained
    # with this loss brings its own learned ones instead)
    energy_weight_init: float = 0.4
    energy_offset_init: float = -2.0
    energy_lr: float = 0.01  # learning rate of w and b (two scalars: far above the network's)
    energy_reg: float = 0.0  # thermodynamic regulariser: times the mean squared pseudo-energy
    ensemble_workers: int = 1  # processes computing the partition functions
    max_valid_examples: int | None = None  # validate on this many examples only (a fixed subset)
    # distillation: an S1 checkpoint with a pair head whose logits the pair head learns too, this
    # weight times their squared difference over the pairs ViennaRNA can form (criterion.py): a
    # smaller network learns a larger one's pseudo-energies from every pair, not only from the
    # reference's; logits at or below ``distill_floor`` (pairs the decoder forbids) are learnt as
    # "at most the floor", since their exact value changes nothing
    teacher: str | None = None
    distill_weight: float = 0.0
    distill_floor: float = -8.0
    # which of ``init``'s 2D trunk blocks start this network's, in order (None: block k starts
    # block k): a shallower trunk starts from the blocks of a deeper one that matter most
    init_pair_blocks: list[int] | None = None


def build_optimizer(model, cfg: S1Config, criterion=None):
    # no weight decay on norms, biases and embeddings of the sequence alphabet
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    own = list(criterion.parameters()) if criterion is not None else []
    if own:  # the energy scale and offset of the ensemble loss
        groups.append({"params": own, "weight_decay": 0.0, "lr": cfg.energy_lr})
    return torch.optim.AdamW(groups, lr=cfg.lr)


def model_from_checkpoint(path) -> tuple[torch.nn.Module, S1Config, dict]:
    """Rebuild an S1 network from a checkpoint file alone -> (model in eval mode, config, state)."""
    return load_model(path, CHECKPOINT_KIND, S1Config, build_model)


def _step(device, teacher: torch.nn.Module | None = None):
    def step(model, batch):
        targets = {k: v.to(device, non_blocking=True) for k, v in batch["targets"].items()}
        # the ensemble loss folds the sequences themselves (lists, not tensors)
        targets["seqs"], targets["pairs"] = batch["seqs"], batch["pairs"]
        masks = {k: v.to(device, non_blocking=True) for k, v in batch["masks"].items()}
        tokens, lengths = batch["tokens"].to(device), batch["lengths"].to(device)
        outputs = model(tokens, lengths)
        if teacher is not None:
            with torch.no_grad():
                targets["teacher"] = teacher_logits(teacher, tokens, lengths)  # [B, L, L]
            masks["distill"] = formable_pairs(tokens)  # [B, L, L]
        return outputs, targets, masks, len(batch["lengths"])
    return step


def teacher_logits(teacher: torch.nn.Module, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The teacher's pair-head logits ``[B, L, L]`` float32: its trunk and pair head only."""
    L = tokens.shape[1]
    h = teacher.trunk(teacher.features(tokens, lengths), 0, L, 0, L)  # [B, C2, L, L]
    return teacher.pair_prob(h)[:, 0].float()  # [B, L, L]


def formable_pairs(tokens: torch.Tensor) -> torch.Tensor:
    """bool ``[B, L, L]``: the canonical pairs ``i + 4 <= j`` inside each sequence, the only
    pixels whose logits reach the decoder (padding pairs with nothing)."""
    L = tokens.shape[1]
    canonical = _CANONICAL_BOOL.to(tokens.device)[tokens[:, :, None], tokens[:, None, :]]  # [B, L, L]
    return canonical & torch.ones(L, L, dtype=torch.bool, device=tokens.device).triu(4)


def columns(cfg: S1Config | None = None) -> list[str]:
    """metrics.csv's columns (with ``pair_prob.loss`` when ``cfg`` trains pair probabilities)."""
    aux = ["pair_prob.loss"] if cfg is not None and cfg.pair_prob_weight else []
    if cfg is not None and cfg.ensemble_weight:
        aux += ["ensemble.loss", "energy_reg.loss", "energy_weight", "energy_offset"]
    if cfg is not None and cfg.distill_weight:
        aux += ["distill.loss"]
    return (metric_names() + ["loss"] + [f"{name}.loss" for name in OUTPUTS] + aux
            + ["lr", "seconds", "tv", "epoch"])


def check_config(cfg: S1Config) -> None:
    """What the dataclass types cannot say (InputError, before anything is written)."""
    if cfg.model.arch not in ("dilated", "original"):
        raise InputError(f"model.arch must be 'dilated' or 'original', got {cfg.model.arch!r}")
    if cfg.model.arch == "original" and cfg.model.pair_prob_head:
        raise InputError("model.pair_prob_head is an option of the dilated network only")
    if cfg.pair_prob_weight < 0 or not 0 < cfg.pair_prob_cutoff < 1 or cfg.pair_prob_workers < 0:
        raise InputError("pair_prob_weight must be >= 0, pair_prob_cutoff in (0, 1) and "
                         "pair_prob_workers >= 0")
    unknown = set(cfg.loss_weights) - set(OUTPUTS)
    if unknown:
        raise InputError(f"loss_weights: unknown loss(es) {', '.join(sorted(unknown))}; outputs: {', '.join(OUTPUTS)}")
    if cfg.loader_workers < 0:
        raise InputError(f"loader_workers must be >= 0, got {cfg.loader_workers}")
    if cfg.pair_target not in ("vienna", "reference"):
        raise InputError(f"pair_target must be 'vienna' or 'reference', got {cfg.pair_target!r}")
    if cfg.init is not None and not Path(cfg.init).is_file():
        raise InputError(f"init: {cfg.init}: no such checkpoint")
    if cfg.ensemble_weight < 0 or cfg.energy_reg < 0 or cfg.ensemble_workers < 1 or not cfg.energy_weight_init > 0:
        raise InputError("ensemble_weight and energy_reg must be >= 0, ensemble_workers >= 1 and "
                         f"energy_weight_init > 0 (got {cfg.ensemble_weight}, {cfg.energy_reg}, "
                         f"{cfg.ensemble_workers}, {cfg.energy_weight_init})")
    if cfg.ensemble_weight and not cfg.model.pair_prob_head:
        raise InputError("ensemble_weight > 0 trains the pair head: it needs model.pair_prob_head: true")
    if bool(cfg.teacher) != bool(cfg.distill_weight) or cfg.distill_weight < 0:
        raise InputError("teacher (an S1 checkpoint) and distill_weight > 0 go together "
                         f"(got {cfg.teacher!r} and {cfg.distill_weight})")
    if cfg.init_pair_blocks is not None:
        if cfg.init is None or not Path(cfg.init).is_file():
            raise InputError("init_pair_blocks picks blocks of the init checkpoint: it needs init")
        source = load_checkpoint(cfg.init, CHECKPOINT_KIND)["config"].get("model", {}).get("dilations", [])
        picked = [source[k] if 0 <= k < len(source) else None for k in cfg.init_pair_blocks]
        if picked != list(cfg.model.dilations):
            raise InputError(f"init_pair_blocks {cfg.init_pair_blocks}: the init checkpoint's blocks there have "
                             f"dilations {picked}, the network's are {cfg.model.dilations}")
    if cfg.teacher is not None:
        if not Path(cfg.teacher).is_file():
            raise InputError(f"teacher: {cfg.teacher}: no such checkpoint")
        if not cfg.model.pair_prob_head:
            raise InputError("distillation trains the pair head: it needs model.pair_prob_head: true")
        if not load_checkpoint(cfg.teacher, CHECKPOINT_KIND)["config"].get("model", {}).get("pair_prob_head"):
            raise InputError(f"teacher: {cfg.teacher}: this S1 network has no pair head to learn from")
    if bool(cfg.pair_prob_weight) != cfg.model.pair_prob_head:
        raise InputError("pair_prob_weight > 0 and model.pair_prob_head: true go together "
                         f"(got {cfg.pair_prob_weight} and {cfg.model.pair_prob_head})")


def with_pair_probs(parts: list, cfg: S1Config, cache: Path, rank: int, world: int,
                    progress: bool) -> list:
    """Each ``S1Examples`` of ``parts`` with ViennaRNA's pair probabilities attached. Computed
    once per run by rank 0 with all cores and kept in ``cache`` (``--resume`` and the other
    ranks read them there)."""
    from ..hardware import available_cores
    from .data import S1Examples, load_pair_probs, pair_probs_of, save_pair_probs, sequence_digest

    seqs = [s for ex in parts for s in ex.seqs]
    digest = sequence_digest(seqs)
    probs = load_pair_probs(cache, digest, cfg.pair_prob_cutoff) if rank == 0 else None
    if rank == 0 and probs is None:
        t0 = time.time()
        probs = pair_probs_of(seqs, cfg.pair_prob_cutoff, cfg.pair_prob_workers or available_cores(), progress)
        save_pair_probs(cache, probs, digest, cfg.pair_prob_cutoff)
        print(f"s1-train: pair probabilities of {len(seqs)} segments in {time.time() - t0:.0f} s "
              f"(kept in {cache})", file=sys.stderr)
    gather(None, world)  # the other ranks wait for the file
    if probs is None:
        probs = load_pair_probs(cache, digest, cfg.pair_prob_cutoff)
    if probs is None:
        raise InputError(f"{cache}: pair probabilities unreadable after rank 0 wrote them")
    out, start = [], 0
    for ex in parts:
        out.append(S1Examples(ex.seqs, ex.pairs, ex.ids, probs[start:start + len(ex)]))
        start += len(ex)
    return out


def with_reference_pairs(ex):
    """``ex`` with its own pairs as the pair head's target (probability 1; every other pixel of
    the upper triangle 0)."""
    from .data import S1Examples

    probs = [(p[:, 0].astype(np.int32), p[:, 1].astype(np.int32), np.ones(len(p), np.float32)) for p in ex.pairs]
    return S1Examples(ex.seqs, ex.pairs, ex.ids, probs)


def init_weights(model: torch.nn.Module, path, pair_blocks: list[int] | None = None) -> None:
    """Start ``model`` from the weights of the S1 checkpoint at ``path``: every tensor whose
    name and shape match; the rest (a head the checkpoint lacks) keeps its fresh initialisation.
    ``pair_blocks``: the checkpoint's 2D trunk block ``pair_blocks[k]`` starts block ``k``.
    A checkpoint sharing no tensor with the network is an error."""
    state = load_checkpoint(path, CHECKPOINT_KIND)["model"]
    if pair_blocks is not None:  # every tensor of source block src, renamed as block k
        source = {f"pair_blocks.{src}.": f"pair_blocks.{k}." for k, src in enumerate(pair_blocks)}
        state = {k: v for k, v in state.items() if not k.startswith("pair_blocks.")} | {
            source[prefix] + name[len(prefix):]: v for name, v in state.items()
            for prefix in source if name.startswith(prefix)}
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fits:
        raise InputError(f"init: {path}: no weight fits this network")
    model.load_state_dict(fits, strict=False)
    fresh = sorted(set(own) - set(fits))
    head = getattr(model, "pair_prob", None)
    if head is not None and "pair_prob.weight" in fresh:
        # the trunk's features are large after training: a random head starts with logits of
        # tens (a BCE of 70); from zero, at the prior of a pair (about 1 pixel in 100), the
        # trunk's features are left unharmed by the first steps
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.constant_(head.bias, -4.6)
    print(f"s1-train: started from {path} ({len(fits)} tensors; fresh: {', '.join(fresh) or 'none'})",
          file=sys.stderr)


def run(cfg: S1Config, data: str | list[str], out: str, resume: bool = False, device_name: str = "cpu",
        progress: bool = True) -> dict:
    """Train; returns the last epoch's metrics rows. Multi-process under ``torchrun``."""
    from tqdm import tqdm

    check_config(cfg)
    device, rank, world = setup_device(device_name)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(out)
    last = run_dir / "last.pt"
    if resume:
        if not last.exists():
            raise InputError(f"{run_dir}: nothing to resume (no last.pt)")
        state = load_checkpoint(last, CHECKPOINT_KIND)
        saved = from_dict(S1Config, state["config"], f"{last}: config")
        if dataclasses.asdict(saved) != dataclasses.asdict(cfg):
            check_config(saved)
            cfg = saved  # the run goes on with the config it started with
            if rank == 0:
                print(f"s1-train: resuming with the config saved in {last}", file=sys.stderr)
    else:
        state = None
        if rank == 0:
            if run_dir.exists() and any(run_dir.iterdir()):
                raise InputError(f"{run_dir}: not empty (use --resume to continue that run, or a new folder)")
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InputError(f"{run_dir}: cannot create the run folder ({e.strerror})") from None

    ex, split = load_datasets(data, cfg.max_length)
    train_ex, valid_ex = split_examples(ex, split, cfg.split, cfg.valid_frac, cfg.seed)
    if cfg.max_train_examples:
        train_ex = train_ex.subset(np.arange(min(cfg.max_train_examples, len(train_ex))))
    if cfg.max_valid_examples:
        valid_ex = valid_ex.subset(np.sort(np.random.default_rng(cfg.seed).permutation(len(valid_ex))
                                           [:cfg.max_valid_examples]))
    if cfg.pair_prob_weight and cfg.pair_target == "reference":
        train_ex, valid_ex = (with_reference_pairs(e) for e in (train_ex, valid_ex))
    elif cfg.pair_prob_weight:
        train_ex, valid_ex = with_pair_probs([train_ex, valid_ex], cfg, run_dir / "pair_probs.npz",
                                             rank, world, progress)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    ensemble = (EnsembleLoss(cfg.energy_weight_init, cfg.energy_offset_init, cfg.energy_reg,
                             cfg.ensemble_workers).to(device) if cfg.ensemble_weight else None)
    optimizer = build_optimizer(model, cfg, ensemble)
    steps_per_epoch = len(length_batches(_epoch_examples(train_ex, cfg, 1).lengths, cfg.batch_size, 0, rank, world))
    total = steps_per_epoch * cfg.epochs
    scheduler = warmup_cosine(optimizer, cfg.warmup_steps, total if cfg.cosine else 10**12,
                              floor=0.1 if cfg.cosine else 1.0)
    history: list[dict] = []
    best_score, start_epoch = -math.inf, 1
    if state is None and cfg.init is not None:
        init_weights(model, cfg.init, cfg.init_pair_blocks)
        scale = load_checkpoint(cfg.init, CHECKPOINT_KIND).get("ensemble")
        if ensemble is not None and scale is not None:  # a later stage goes on with the learned scale
            ensemble.load_state_dict(scale)
    if state is not None:
        model.load_state_dict(state["model"])
        if ensemble is not None:
            ensemble.load_state_dict(state["ensemble"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best_score, start_epoch = state["history"], state["best_score"], state["epoch"] + 1
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = S1Criterion(cfg.loss_weights, pair_prob_weight=cfg.pair_prob_weight, ensemble=ensemble,
                            ensemble_weight=cfg.ensemble_weight, distill_weight=cfg.distill_weight,
                            distill_floor=cfg.distill_floor)
    amp = lambda: autocast(device, cfg.bf16)  # noqa: E731
    teacher = None if cfg.teacher is None else network_from_checkpoint(cfg.teacher)[0].to(device).requires_grad_(False)
    step = _step(device, teacher)

    if rank == 0:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        n_params = sum(p.numel() for p in model.parameters())
        print(f"s1-train: {len(train_ex)} training / {len(valid_ex)} validation examples, "
              f"{cfg.model.arch} network with {n_params:,} parameters, {world} process(es) on "
              f"{device.type}", file=sys.stderr)
    started = time.time()
    rows: list[dict] = []
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.time()
        train_rows: list[dict] = []
        epoch_ex = _epoch_examples(train_ex, cfg, epoch)
        batches = length_batches(epoch_ex.lengths, cfg.batch_size, cfg.seed + epoch, rank, world)
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not progress or rank != 0, dynamic_ncols=True, mininterval=1.0)
        with bar:
            train_loss = train_one_epoch(
                net, criterion, iterate(epoch_ex, batches, cfg.loader_workers), optimizer, step,
                scheduler=scheduler,
                grad_clip=cfg.grad_clip, amp=amp, bar=bar,
                on_batch=(lambda o, t, m: train_rows.extend(example_metrics(o, t, m)))
                if cfg.train_metrics else None)
        valid_rows: list[dict] = []
        valid_batches = length_batches(valid_ex.lengths, cfg.batch_size, None)[rank::world]
        valid_loss = evaluate(model, criterion, iterate(valid_ex, valid_batches, cfg.loader_workers),
                              step, amp=amp,
                              on_batch=lambda o, t, m: valid_rows.extend(example_metrics(o, t, m)))
        # every rank's per-example metrics and losses -> rank 0
        train_rows = sum(gather(train_rows, world), [])
        valid_rows = sum(gather(valid_rows, world), [])
        train_loss = _mean_losses(gather((train_loss, sum(map(len, batches))), world))
        valid_loss = _mean_losses(gather((valid_loss, sum(map(len, valid_batches))), world))
        seconds = time.time() - t0
        lr = optimizer.param_groups[0]["lr"]
        rows = [_row(average_metrics(train_rows), train_loss, "training", epoch, lr, seconds),
                _row(average_metrics(valid_rows), valid_loss, "validation", epoch, lr, seconds)]
        if ensemble is not None:
            for r in rows:
                r.update(energy_weight=ensemble.weight, energy_offset=float(ensemble.offset))
        history += rows
        score = selection_score(average_metrics(valid_rows))
        if rank == 0:
            ckpt = {"kind": CHECKPOINT_KIND, "config": dataclasses.asdict(cfg), "epoch": epoch,
                    "model": model.state_dict(), "metrics": rows[1], "score": score}
            if ensemble is not None:
                # the scale and offset learned with the network: the fold decoder's starting point
                ckpt["ensemble"] = ensemble.state_dict()
                ckpt["energy_scale"] = {"weight": ensemble.weight, "offset": float(ensemble.offset)}
            save_checkpoint(run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt", ckpt)
            if score > best_score:
                save_checkpoint(run_dir / "best.pt", ckpt)
            save_checkpoint(last, {**ckpt, "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "history": history,
                                   "best_score": max(best_score, score)})
            write_metrics_csv(run_dir / "metrics.csv", history, columns(cfg))
            v = rows[1]
            print(f"epoch {epoch}: train loss {train_loss['loss']:.4f}, valid loss {valid_loss['loss']:.4f}; "
                  f"valid auROC/auPRC stem {v['stem_on.auroc']:.3f}/{v['stem_on.auprc']:.3f} "
                  f"iloop {v['iloop_on.auroc']:.3f}/{v['iloop_on.auprc']:.3f} "
                  f"hloop {v['hloop_on.auroc']:.3f}/{v['hloop_on.auprc']:.3f} ({seconds:.0f} s)",
                  file=sys.stderr)
        best_score = max(best_score, score)
        if cfg.max_minutes is not None and (time.time() - started) / 60 > cfg.max_minutes:
            if rank == 0:
                print(f"s1-train: stopping after epoch {epoch}: max_minutes {cfg.max_minutes} reached",
                      file=sys.stderr)
            break
    if ensemble is not None:
        ensemble.close()
    finish_distributed(world)
    return {"rows": rows, "history": history}


def _epoch_examples(ex, cfg: S1Config, epoch: int):
    """The training examples of ``epoch``: all, or ``cfg.epoch_examples`` drawn with ``seed + epoch``."""
    if not cfg.epoch_examples or cfg.epoch_examples >= len(ex):
        return ex
    draw = np.random.default_rng(cfg.seed + epoch).permutation(len(ex))[:cfg.epoch_examples]
    return ex.subset(np.sort(draw))


def _mean_losses(parts: list[tuple[dict, int]]) -> dict[str, float]:
    """Example-weighted mean of each rank's mean losses (a rank may have had no batch)."""
    parts = [(d, n) for d, n in parts if n]
    total = sum(n for _, n in parts)
    if not total:
        return {}
    return {k: sum(d[k] * n for d, n in parts) / total for k in parts[0][0]}


def _row(metrics: dict, losses: dict, tv: str, epoch: int, lr: float, seconds: float) -> dict:
    row = dict(metrics)
    row["loss"] = losses.get("loss", float("nan"))
    for name in [*OUTPUTS, "pair_prob", "ensemble", "energy_reg", "distill"]:
        row[f"{name}.loss"] = losses.get(name, float("nan"))
    row.update(lr=lr, seconds=round(seconds, 1), tv=tv, epoch=epoch)
    return row

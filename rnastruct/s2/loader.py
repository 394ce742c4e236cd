"""S2 batches: sequences of an S2 dataset (``s2.data``) split into training and validation,
shuffled per epoch, cut into batches and padded to their most boxes."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .features import FEATURES


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


def split(data: dict, cfg) -> tuple[np.ndarray, np.ndarray]:
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


def batches(index: np.ndarray, size: int, seed: int | None, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    if seed is not None:
        index = np.random.default_rng(seed).permutation(index)
    batches = [index[k:k + size] for k in range(0, len(index), size)]
    if world > 1:
        per = len(batches) // world
        batches = batches[rank::world][:per]
    return batches

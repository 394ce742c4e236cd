"""S2 networks: the set of proposed boxes of a sequence -> one score (logit) per box.

Input ``features [B, N, F]`` (``features.FEATURES``) with ``mask [B, N]`` (True = a real box;
batches are padded); output logits ``[B, N]``. One factory, ``build_model``, for the
transformer (the original: pre-norm encoder, 5 layers, 5 heads, width 100, no positional
encoding, since a set has no order) and an LSTM option over boxes sorted by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .features import FEATURES

CHECKPOINT_KIND = "rnastruct.s2"


@dataclass
class S2ModelConfig:
    arch: str = "transformer"  # "transformer" or "lstm"
    width: int = 96
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1


def build_model(cfg: S2ModelConfig) -> nn.Module:
    if cfg.arch == "transformer":
        return TransformerS2(cfg)
    if cfg.arch == "lstm":
        return LstmS2(cfg)
    raise ValueError(f"unknown S2 arch {cfg.arch!r}: expected 'transformer' or 'lstm'")


class TransformerS2(nn.Module):
    def __init__(self, cfg: S2ModelConfig):
        super().__init__()
        if cfg.width % cfg.heads:
            raise ValueError(f"width {cfg.width} is not a multiple of heads {cfg.heads}")
        self.embed = nn.Linear(len(FEATURES), cfg.width)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout,
                                           batch_first=True, norm_first=True)
        # nested tensors would change results with the padding pattern: keep them off
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, 1))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(features)  # [B, N, W]
        # a sequence without boxes would attend to nothing (NaN): let it see its padding, whose
        # outputs nobody reads
        pad = ~mask & mask.any(1, keepdim=True)  # [B, N]
        h = self.encoder(h, src_key_padding_mask=pad)  # [B, N, W]
        return self.head(h)[..., 0]  # [B, N]


class LstmS2(nn.Module):
    """A bidirectional LSTM over the boxes in the order given (by position)."""

    def __init__(self, cfg: S2ModelConfig):
        super().__init__()
        self.embed = nn.Linear(len(FEATURES), cfg.width)
        self.lstm = nn.LSTM(cfg.width, cfg.width // 2, cfg.layers, batch_first=True, bidirectional=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.head = nn.Linear(cfg.width, 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(features), lengths, batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=features.shape[1])
        return self.head(h)[..., 0]  # [B, N]


def from_checkpoint(path) -> tuple[nn.Module, dict]:
    """Rebuild an S2 network from a checkpoint file alone (its config's ``model`` part) ->
    (network in eval mode, the checkpoint's state)."""
    from ..checkpoints import network_from_checkpoint

    return network_from_checkpoint(path, CHECKPOINT_KIND, S2ModelConfig, build_model)

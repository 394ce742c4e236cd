"""S1 networks: sequence -> per-pixel box predictions on the L x L pair map.

One factory, ``build_model(cfg)``, serves training, inference and predict. Both networks return
a dict of named logits, one entry per output of ``targets.OUTPUTS``: ``*_on`` as ``[B, L, L]``,
class outputs as ``[B, L, L, C]``, scalars as ``[B, L, L]``.

Inputs are token ids ``[B, L]`` (A C G U N = 0..4, padding = 5) and the true ``lengths [B]``.
Both networks give every sequence of a padded batch exactly what it gets alone (tested): the
original because its padding is all-zero input, like its own zero padding; the dilated one
because it zeroes padded positions after every layer, which is what "same" zero padding does at
the edge of a lone sequence. (The lab's inference code padded every layer where training padded
once: that train/serve mismatch cannot happen here, since both use this one forward.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .targets import OUTPUTS

CHECKPOINT_KIND = "rnastruct.s1"

PAD = 5  # token id of padding; A C G U N are 0..4
# Canonical pairs (AU UA GC CG GU UG) as a 5 x 5 lookup over token ids: a strong, free feature.
_CANONICAL = torch.zeros(6, 6)
for _a, _b in ((0, 3), (3, 0), (2, 1), (1, 2), (2, 3), (3, 2)):
    _CANONICAL[_a, _b] = 1.0
_CANONICAL_BOOL = _CANONICAL.bool()


@dataclass
class S1ModelConfig:
    """The network. ``arch``: "dilated" (the CPU-friendly default) or "original"."""

    arch: str = "dilated"
    # original: plain k x k convolutions, BatchNorm + ReLU, zero padding once at the input
    filters: list[int] = field(default_factory=lambda: [32, 32, 64, 64, 64, 128, 128])
    filter_width: list[int] = field(default_factory=lambda: [9] * 7)
    # dilated: 1D residual encoder over the sequence, outer sum, 2D residual dilated trunk
    seq_channels: int = 64  # width of the 1D encoder
    seq_layers: int = 4  # 1D residual blocks, kernel 5, dilations 1 2 4 8 ...
    seq_lstm: int = 0  # hidden size (per direction) of a BiLSTM after the 1D blocks; 0 = none
    pair_product: bool = False  # add a bilinear row x column term to the outer sum
    pair_channels: int = 48  # width of the 2D trunk
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 1, 2, 4])
    max_offset_embedding: int = 32  # j - i is embedded up to this distance (clipped beyond)
    # > 0: embed each pixel's stacks with its neighbours (i + 1, j - 1) and (i - 1, j + 1) (the
    # four bases of each) and how many canonical pairs run on from it along its anti-diagonal,
    # inwards and outwards, up to this many (UFold's pairing-potential idea, as embeddings)
    helix_features: int = 0
    head_channels: int = 50  # shared 1 x 1 layer before the per-output layers (as the original)
    # dilated only: a 1 x 1 layer from the trunk to one logit per pixel, trained on ViennaRNA's
    # base-pair probabilities (S1Config.pair_prob_weight); inference never reads it
    pair_prob_head: bool = False


def build_model(cfg: S1ModelConfig) -> nn.Module:
    """The one factory for S1 networks."""
    if cfg.arch == "original":
        if cfg.pair_prob_head:
            raise ValueError("pair_prob_head is an option of the dilated network only")
        return OriginalS1(cfg)
    if cfg.arch == "dilated":
        return DilatedS1(cfg)
    raise ValueError(f"unknown S1 arch {cfg.arch!r}: expected 'dilated' or 'original'")


def receptive_field(cfg: S1ModelConfig) -> int:
    """Pixels of the pair map (along one axis) that can influence one output pixel."""
    if cfg.arch == "original":
        return 1 + sum(k - 1 for k in cfg.filter_width)
    if cfg.seq_lstm:
        raise ValueError("a recurrent 1D encoder sees the whole sequence: the receptive field "
                         "is unbounded (the 2D trunk alone reaches DilatedS1.halo)")
    # each side: the 1D encoder reaches 2 * d per kernel-5 layer, each 3 x 3 2D layer d more
    seq_reach = 2 * sum(2**k for k in range(cfg.seq_layers))
    return 1 + 2 * (max(seq_reach, cfg.helix_features) + sum(cfg.dilations))


def _n_channels() -> int:
    return sum(n for _, (kind, n) in OUTPUTS.items())


def _split_outputs(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """``[B, C_total, L, L]`` -> the named outputs (``*_on`` and scalars ``[B, L, L]``, class
    outputs ``[B, L, L, C]``). One ``torch.split``: its backward is a single concatenation,
    where slicing 17 times made backward zero-fill and add the whole map 17 times (it was most
    of a training step on CPU)."""
    chunks = torch.split(logits, [n for _, n in OUTPUTS.values()], dim=1)  # each [B, n, L, L]
    return {name: chunk[:, 0] if kind in ("on", "scalar") else chunk.permute(0, 2, 3, 1)
            for (name, (kind, _)), chunk in zip(OUTPUTS.items(), chunks)}


def _gather_pixels(h: torch.Tensor, pixels: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``[B, C, R, C']`` -> ``[B, C, N, 1]`` at the pixels ``(rows, cols)``: a map of one column
    that 1 x 1 layers take as they take the whole map. Gathered channels-last, so each pixel is
    one contiguous copy of its channels."""
    rows, cols = pixels
    x = h.permute(0, 2, 3, 1)[:, rows, cols].permute(0, 2, 1)[..., None]  # [B, C, N, 1]
    # in the map's own layout, which decides the convolution kernels and so the rounding
    return x if h.is_contiguous(memory_format=torch.channels_last) else x.contiguous()


def _squeeze_pixels(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``_split_outputs`` of a ``[B, K, N, 1]`` map -> ``[B, N]`` / ``[B, N, C]``."""
    return {name: v.squeeze(2) for name, v in out.items()}


def one_hot_pairs(tokens: torch.Tensor, rows: slice = slice(None), cols: slice = slice(None)) -> torch.Tensor:
    """``[B, L]`` tokens -> ``[B, 8, R, C]`` over map rows ``rows`` and columns ``cols`` (default
    all): one-hot of the row base and of the column base (N is all zero), the original's input;
    pixels touching padding are all zero."""
    oh = F.one_hot(tokens.clamp(max=4), 5)[..., :4].float()  # [B, L, 4]; N -> zeros
    r, c = oh[:, rows].permute(0, 2, 1), oh[:, cols].permute(0, 2, 1)  # [B, 4, R], [B, 4, C]
    R, C = r.shape[2], c.shape[2]
    # a pixel with either position in the padding is zero, exactly like zero padding around a
    # lone sequence (otherwise padded rows would still carry the column's base)
    inside_r = (tokens[:, rows] != PAD).float()[:, None]  # [B, 1, R]
    inside_c = (tokens[:, cols] != PAD).float()[:, None]  # [B, 1, C]
    m = inside_r[:, :, :, None] * inside_c[:, :, None, :]  # [B, 1, R, C]
    return torch.cat([r[:, :, :, None].expand(-1, -1, R, C) * m,
                      c[:, :, None, :].expand(-1, -1, R, C) * m], dim=1)


class OriginalS1(nn.Module):
    """The lab's network: 7 plain 9 x 9 convolutions (32 32 64 64 64 128 128), BatchNorm + ReLU,
    padding 28 once at the first layer so the output is L x L (receptive field 57); head 1 x 1
    128 -> 50, then per output 50 -> 20 -> k."""

    def __init__(self, cfg: S1ModelConfig):
        super().__init__()
        if len(cfg.filters) != len(cfg.filter_width):
            raise ValueError("filters and filter_width must have the same length")
        self.pad = sum(k - 1 for k in cfg.filter_width) // 2
        layers, c_in = [], 8
        for c, k in zip(cfg.filters, cfg.filter_width):
            layers += [nn.Conv2d(c_in, c, k), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.trunk = nn.Sequential(*layers)
        self.shared = nn.Sequential(nn.Conv2d(c_in, cfg.head_channels, 1), nn.ReLU())
        self.heads = nn.ModuleDict({
            name: nn.Sequential(nn.Conv2d(cfg.head_channels, 20, 1), nn.ReLU(), nn.Conv2d(20, n, 1))
            for name, (_, n) in OUTPUTS.items()
        })

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        L = tokens.shape[1]
        return self.region(self.features(tokens, lengths), 0, L, 0, L)

    def features(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sequence inputs that ``region`` crops (see ``DilatedS1.features``)."""
        return {"tokens": tokens}

    def region(self, feats: dict, r0: int, r1: int, c0: int, c1: int,
               pixels: tuple[torch.Tensor, torch.Tensor] | None = None,
               band: tuple[int, int | None] | None = None) -> dict[str, torch.Tensor]:
        """Outputs over rows ``r0:r1`` and columns ``c0:c1`` of the map, exactly as the whole-map
        forward gives them there: the input is cropped with a margin of ``self.pad`` (the
        valid convolutions' reach) and zero-filled beyond the map, which is the padding once.
        ``pixels``: see ``DilatedS1.region``; ``band`` is accepted and the whole crop computed."""
        tokens = feats["tokens"]
        L, p = tokens.shape[1], self.pad
        a0, a1, b0, b1 = max(0, r0 - p), min(L, r1 + p), max(0, c0 - p), min(L, c1 + p)
        x = one_hot_pairs(tokens, slice(a0, a1), slice(b0, b1))  # [B, 8, a1 - a0, b1 - b0]
        x = x.to(self.trunk[0].weight.dtype)  # a bf16 copy of the model takes bf16 input
        # zero-fill what the crop lacks of the margin: padded once, as trained
        x = F.pad(x, [b0 - (c0 - p), (c1 + p) - b1, a0 - (r0 - p), (r1 + p) - a1])
        h = self.shared(self.trunk(x))  # [B, 50, r1 - r0, c1 - c0]
        if pixels is not None:
            h = _gather_pixels(h, pixels)  # [B, 50, N, 1]
        out = _split_outputs(torch.cat([self.heads[name](h) for name in OUTPUTS], dim=1))
        return out if pixels is None else _squeeze_pixels(out)


class ChannelNorm(nn.Module):
    """LayerNorm over channels at each position: unlike BatchNorm or GroupNorm it never mixes
    positions, so padding cannot leak into real pixels through the statistics."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class _Residual1d(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.norm = ChannelNorm(c)
        self.conv = nn.Conv1d(c, c, 5, padding=2 * dilation, dilation=dilation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # mask before the convolution too: the norm's bias makes padded positions non-zero, and
        # the convolution must see zeros there, as the zero padding at a lone sequence's end
        return (x + self.conv(F.gelu(self.norm(x)) * mask)) * mask  # [B, C, L]


class _Residual2d(nn.Module):
    """``x + conv(relu(x))`` without a norm layer: on CPU the 2D trunk's cost is dominated by
    memory-bound elementwise work, and a channel LayerNorm (with its layout copies) cost more
    than the convolution itself. The branch starts small (weights scaled by ``init_scale``) so
    the deep residual stack trains stably without normalisation."""

    def __init__(self, c: int, dilation: int, init_scale: float):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        with torch.no_grad():
            self.conv.weight.mul_(init_scale)

    def forward(self, x: torch.Tensor, pads: list[tuple[int, int, int]]) -> torch.Tensor:
        if _fusable(x, self.conv.weight):
            # x += conv(relu(x)) as one oneDNN call (the addition a post-op): the separate
            # addition was a quarter of CPU inference. In place, so inference only.
            c = self.conv
            x = _CONV_ADD_(x, F.relu(x), c.weight, c.bias, c.padding, c.stride, c.dilation, 1,
                           "add", None, None, [], None)  # [B, C, L, L]
            return _zero_padding(x, pads)
        return _zero_padding(x + self.conv(F.relu(x)), pads)  # [B, C, L, L]

    def banded(self, x: torch.Tensor, out: torch.Tensor, pads: list[tuple[int, int, int]], columns) -> torch.Tensor:
        """``forward`` into ``out`` (``x``'s shape and layout), exact only where it is needed:
        row strips of ``STRIP`` rows, each over the columns ``columns(first_row, end_row)`` gives
        (crop coordinates, end exclusive); ``out`` keeps what it held elsewhere. Each output
        pixel reads its 3 x 3 dilated neighbours, so the caller's columns must widen the band
        the next block needs by the block's reach (``DilatedS1.trunk``)."""
        B, C, R, W = x.shape
        d = self.conv.dilation[0]
        for s in range(0, R, STRIP):
            e = min(R, s + STRIP)
            cs, ce = columns(s, e)
            if cs >= ce:
                continue
            # relu of the strip's input with the convolution's reach, zero beyond the crop (its
            # zero padding): one pass over x
            slab = torch.empty((B, e - s + 2 * d, ce - cs + 2 * d, C), dtype=x.dtype,
                               device=x.device).permute(0, 3, 1, 2)  # [B, C, H + 2d, W' + 2d], channels-last
            rs, re_, qs, qe = max(0, s - d), min(R, e + d), max(0, cs - d), min(W, ce + d)
            top, bottom, left, right = rs - s + d, re_ - s + d, qs - cs + d, qe - cs + d
            for edge in (slab[:, :, :top], slab[:, :, bottom:], slab[:, :, :, :left], slab[:, :, :, right:]):
                edge.zero_()
            torch.clamp_min(x[:, :, rs:re_, qs:qe], 0, out=slab[:, :, top:bottom, left:right])
            c = self.conv
            branch = F.conv2d(slab, c.weight, c.bias, dilation=c.dilation)  # [B, C, H, W']
            torch.add(x[:, :, s:e, cs:ce], branch, out=out[:, :, s:e, cs:ce])
        return _zero_padding(out, pads)


# rows per strip of a banded block: fewer rows waste fewer pixels outside the band (a strip
# spans the band of its first and last rows), more rows make fewer, larger convolutions
STRIP = 32


# oneDNN's convolution with an in-place sum (what torch.compile fuses on CPU); absent on builds
# without oneDNN, where the plain path runs
_CONV_ADD_ = getattr(getattr(torch.ops.mkldnn, "_convolution_pointwise_", None), "binary", None)


def _fusable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (_CONV_ADD_ is not None and x.device.type == "cpu" and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu") and x.dtype == weight.dtype
            and x.dtype in (torch.float32, torch.bfloat16)
            and x.is_contiguous(memory_format=torch.channels_last))


def _zero_padding(x: torch.Tensor, pads: list[tuple[int, int, int]]) -> torch.Tensor:
    """Zero, in place, the padded strips of ``x [B, C, R, C']``: for each ``(b, r, c)`` of
    ``pads``, rows ``r:`` and columns ``c:`` of example ``b``. What zero padding at a lone
    sequence's edge does, for a fraction of the cost of multiplying the map by a mask (a sixth
    of a bf16 forward pass)."""
    for b, r, c in pads:
        x[b, :, r:] = 0
        x[b, :, :, c:] = 0
    return x


class DilatedS1(nn.Module):
    """The default network, designed for CPU training.

    Most of the reach comes cheaply from a 1D encoder over the sequence (O(L) work): its
    features at i and j are summed into each pixel (i, j), with an embedding of j - i and a
    canonical-pair flag. A 2D trunk of 3 x 3 residual blocks (no norm layer, see _Residual2d) with dilations
    1 2 4 8 16 1 2 4 then
    sees 77 pixels across; with the encoder the receptive field exceeds 64 in both directions.
    Widths were chosen by measured examples/s and validation auPRC (see bench/s1_train_throughput.py).
    Options: ``seq_lstm`` adds a BiLSTM to the 1D encoder (every position sees the whole sequence;
    ``features`` runs on the whole sequence, so tiling stays exact) and ``pair_product`` a bilinear
    row x column term to the pixel's input (configs/s1/lstm.yaml uses both); ``helix_features``
    embeds each pixel's stacks with its anti-diagonal neighbours and the length of the canonical
    runs through it (``helix_indices``; configs/s1/default.yaml): what a 3 x 3 trunk otherwise has
    to learn from outer sums, handed to it for a few gathers per pixel.
    """

    def __init__(self, cfg: S1ModelConfig):
        super().__init__()
        c1, c2 = cfg.seq_channels, cfg.pair_channels
        self.max_offset = cfg.max_offset_embedding
        self.embed = nn.Embedding(6, c1, padding_idx=PAD)
        self.seq_blocks = nn.ModuleList(_Residual1d(c1, 2**k) for k in range(cfg.seq_layers))
        # a BiLSTM gives every position the whole sequence's context for O(L) work: the
        # calibration run learned faster per minute with it than the dilated stack alone
        self.lstm = (nn.LSTM(c1, cfg.seq_lstm, batch_first=True, bidirectional=True)
                     if cfg.seq_lstm else None)
        self.lstm_out = nn.Conv1d(2 * cfg.seq_lstm, c1, 1) if cfg.seq_lstm else None
        self.seq_norm = ChannelNorm(c1)
        self.row = nn.Conv1d(c1, c2, 1)
        self.col = nn.Conv1d(c1, c2, 1, bias=False)
        # i-j interaction the outer sum cannot express (pairing is a product of both bases)
        self.row_p = nn.Conv1d(c1, c2, 1, bias=False) if cfg.pair_product else None
        self.col_p = nn.Conv1d(c1, c2, 1, bias=False) if cfg.pair_product else None
        self.offset = nn.Embedding(2 * self.max_offset + 1, c2)
        self.canonical = nn.Parameter(torch.zeros(c2))
        self.register_buffer("canonical_table", _CANONICAL.clone(), persistent=False)
        self.helix = cfg.helix_features
        if self.helix:
            # a stack is the pair types (6 x 6 token ids each) of two neighbouring pixels
            self.stack_in = nn.Embedding(36 * 36, c2)
            self.stack_out = nn.Embedding(36 * 36, c2)
            self.run_in = nn.Embedding(self.helix + 1, c2)
            self.run_out = nn.Embedding(self.helix + 1, c2)
        scale = len(cfg.dilations) ** -0.5
        self.pair_blocks = nn.ModuleList(_Residual2d(c2, d, scale) for d in cfg.dilations)
        self.head = nn.Sequential(ChannelNorm(c2), nn.Conv2d(c2, cfg.head_channels, 1), nn.GELU(),
                                  nn.Conv2d(cfg.head_channels, _n_channels(), 1))
        self.pair_prob = nn.Conv2d(c2, 1, 1) if cfg.pair_prob_head else None

    @property
    def halo(self) -> int:
        """How far (pixels) the 2D trunk reaches: a crop with this margin is exact inside."""
        return sum(block.conv.dilation[0] for block in self.pair_blocks)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named outputs over the whole map; with ``pair_prob_head`` also ``"pair_prob"``
        (``[B, L, L]`` logits of ViennaRNA's pair probabilities: an auxiliary target that makes
        the trunk learn which pairs the energy model favours, read by the training criterion
        only)."""
        L = tokens.shape[1]
        h = self.trunk(self.features(tokens, lengths), 0, L, 0, L)  # [B, C2, L, L]
        out = _split_outputs(self.head(h))
        if self.pair_prob is not None:
            out["pair_prob"] = self.pair_prob(h)[:, 0]  # [B, L, L]
        return out

    def features(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 1D part, O(L): row and column features of every position, computed once per
        sequence so that ``region`` can build any crop of the pair map from them."""
        L = tokens.shape[1]
        mask1 = (torch.arange(L, device=tokens.device)[None, :] < lengths[:, None])  # [B, L]
        m1 = mask1[:, None, :].to(self.row.weight.dtype)  # [B, 1, L]
        x = self.embed(tokens).transpose(1, 2) * m1  # [B, C1, L]
        for block in self.seq_blocks:
            x = block(x, m1)  # [B, C1, L]
        if self.lstm is not None:
            # packed, so a sequence in a padded batch gets what it gets alone
            packed = nn.utils.rnn.pack_padded_sequence(
                x.transpose(1, 2).to(self.lstm.weight_ih_l0.dtype), lengths.cpu(), batch_first=True,
                enforce_sorted=False)
            y, _ = self.lstm(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=L)  # [B, L, 2H]
            x = (x + self.lstm_out(y.transpose(1, 2).to(x.dtype))) * m1  # [B, C1, L]
        x = F.gelu(self.seq_norm(x))
        feats = {"tokens": tokens, "mask1": mask1, "rows": self.row(x), "cols": self.col(x)}  # [B, C2, L]
        if self.row_p is not None:
            feats["rows_p"], feats["cols_p"] = self.row_p(x), self.col_p(x)  # [B, C2, L]
        return feats

    def region(self, feats: dict, r0: int, r1: int, c0: int, c1: int,
               pixels: tuple[torch.Tensor, torch.Tensor] | None = None,
               band: tuple[int, int | None] | None = None) -> dict[str, torch.Tensor]:
        """Outputs over rows ``r0:r1`` and columns ``c0:c1`` of the map, exactly as the whole-map
        forward gives them there. The trunk runs on the crop widened by ``halo`` (clipped to
        the map, where its zero padding is the map's own edge), so the errors of the crop's
        artificial edges never reach the rows and columns asked for. This is what lets
        inference tile sequences of any length in bounded memory.

        ``pixels``: ``(rows, cols)`` int64 ``[N]`` each, relative to the region: the head runs
        at those pixels only and the outputs are ``[B, N]`` (class outputs ``[B, N, C]``). The
        head is 1 x 1, so they are the whole region's outputs there (bitwise, tested: the
        trunk is channels-last); inference asks for the upper triangle, where the pairs are,
        and so does half the head's work. ``band``: as ``trunk``'s, when every pixel asked for
        lies in it."""
        h = self.trunk(feats, r0, r1, c0, c1, band)  # [B, C2, r1 - r0, c1 - c0]
        if pixels is None:
            return _split_outputs(self.head(h))  # named outputs over the region
        return _squeeze_pixels(_split_outputs(self.head(_gather_pixels(h, pixels))))  # [B, N(, C)]

    def trunk(self, feats: dict, r0: int, r1: int, c0: int, c1: int,
              band: tuple[int, int | None] | None = None) -> torch.Tensor:
        """The 2D trunk's features ``[B, C2, r1 - r0, c1 - c0]`` over rows ``r0:r1`` and columns
        ``c0:c1`` (see ``region``).

        ``band = (lo, hi)``: only the pixels ``lo <= j - i <= hi`` (``hi`` None: no upper
        bound) are needed; they are exact, every other pixel is undefined (finite). Each block
        then runs only on the band widened by what the blocks after it reach (twice their
        dilations, since a 3 x 3 dilated convolution reaches ``2 d`` along ``j - i``): the pair
        head needs the upper triangle, and the lower one is up to half of the map's work (S1
        0.85x at 188 nt, 0.7x at 500, bf16). Crops of at most ``4 * STRIP`` rows run whole: the
        band's strips cost more than they save there."""
        tokens, mask1 = feats["tokens"], feats["mask1"]
        L, m = tokens.shape[1], self.halo
        a0, a1, b0, b1 = max(0, r0 - m), min(L, r1 + m), max(0, c0 - m), min(L, c1 + m)
        pos = torch.arange(L, device=tokens.device)
        off = (pos[None, b0:b1] - pos[a0:a1, None]).clamp(-self.max_offset, self.max_offset)  # [R, C]
        canon = self.canonical_table[tokens[:, a0:a1, None], tokens[:, None, b0:b1]]  # [B, R, C]

        def nhwc(name: str, sl: slice) -> torch.Tensor:
            return feats[name][:, :, sl].transpose(1, 2).contiguous()  # [B, R or C, C2]

        # built channels-last (NHWC), oneDNN's native layout: 1.5x faster training steps under
        # bf16 autocast and 7x faster bf16 inference convolutions here (AMX), where NCHW
        # reorders every activation around every convolution; each term broadcast from
        # contiguous NHWC operands, in the order (and so the rounding) of the plain sum, at
        # twice the speed of summing NCHW terms and converting
        h = nhwc("rows", slice(a0, a1))[:, :, None] + nhwc("cols", slice(b0, b1))[:, None]  # [B, R, C, C2]
        if self.helix:
            h = h + self._pixel_embeddings(tokens, off, canon, a0, a1, b0, b1)  # [B, R, C, C2]
        else:
            h = h + self.offset(off + self.max_offset)  # [B, R, C, C2]
            h = h + canon[..., None] * self.canonical
        if "rows_p" in feats:
            h = h + nhwc("rows_p", slice(a0, a1))[:, :, None] * nhwc("cols_p", slice(b0, b1))[:, None]
        h = h.permute(0, 3, 1, 2)  # [B, C2, R, C], channels-last in memory
        # where each example's padding starts in this crop: (example, first padded row, column)
        R, C = a1 - a0, b1 - b0
        pads = [(b, min(max(n - a0, 0), R), min(max(n - b0, 0), C)) for b, n in enumerate(mask1.sum(1).tolist())
                if n - a0 < R or n - b0 < C]
        h = _zero_padding(h, pads)
        if band is None or R <= 4 * STRIP:
            for block in self.pair_blocks:
                h = block(h, pads)  # [B, C2, R, C]
        else:
            lo, hi = band
            reach = 2 * self.halo  # a 3 x 3 block of dilation d reaches 2 d along j - i
            spare = torch.zeros_like(h)  # each block writes into the map the block before read
            for block in self.pair_blocks:
                reach -= 2 * block.conv.dilation[0]  # what the blocks after this one reach

                def columns(s, e, reach=reach):  # strip rows s:e of the crop -> its columns
                    first = max(0, a0 + s + lo - reach - b0)
                    return first, C if hi is None else min(C, a0 + e - 1 + hi + reach + 1 - b0)

                h, spare = block.banded(h, spare, pads, columns), h  # [B, C2, R, C]
        return h[:, :, r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]  # [B, C2, r1 - r0, c1 - c0]

    def _pixel_embeddings(self, tokens, off, canon, a0: int, a1: int, b0: int, b1: int) -> torch.Tensor:
        """``[B, R, C, C2]``: the embedded offset, canonical flag and ``helix_indices`` of the
        crop, summed by one ``embedding_bag`` over the tables stacked end to end: adding the six
        ``[B, R, C, C2]`` terms one by one made S1 inference a third slower."""
        B, (R, C) = tokens.shape[0], off.shape
        flag = torch.stack([torch.zeros_like(self.canonical), self.canonical])  # [2, C2]
        tables = [self.offset.weight, flag, self.stack_in.weight, self.stack_out.weight,
                  self.run_in.weight, self.run_out.weight]
        indices = [(off + self.max_offset).expand(B, R, C), canon.long(),
                   *helix_indices(tokens, a0, a1, b0, b1, self.helix)]  # each [B, R, C]
        start = 0
        for k, table in enumerate(tables):  # row numbers in the stacked table
            indices[k], start = indices[k] + start, start + len(table)
        bag = torch.stack(indices, dim=-1).view(-1, len(tables))  # [B * R * C, 6]
        return F.embedding_bag(bag, torch.cat(tables), mode="sum").view(B, R, C, -1)  # [B, R, C, C2]


def helix_indices(tokens: torch.Tensor, a0: int, a1: int, b0: int, b1: int, max_run: int):
    """What ``helix_features`` embeds at each pixel (i, j) of rows ``a0:a1``, columns ``b0:b1``
    -> four int64 ``[B, R, C]``: the stacks with (i + 1, j - 1) and with (i - 1, j + 1) as
    ``36 * type(i, j) + type(neighbour)`` (a pair's type is ``6 * token_i + token_j``), and how
    many canonical pairs run on from (i, j) inwards, (i + 1, j - 1), (i + 2, j - 2), ..., and
    outwards, up to ``max_run``. Read from the whole token array, so a crop gets the whole
    map's values; beyond the sequence's ends (and in padding) the token is PAD, which pairs
    with nothing, as at a lone sequence's end."""
    K, R, C = max_run, a1 - a0, b1 - b0
    t = F.pad(tokens, (K, K), value=PAD)  # [B, L + 2K]: position p at p + K
    rt, ct = t[:, a0 : a1 + 2 * K], t[:, b0 : b1 + 2 * K]  # positions a0 - K .. a1 + K - 1
    ptype = rt[:, :, None] * 6 + ct[:, None, :]  # [B, R + 2K, C + 2K]
    canon = _CANONICAL_BOOL.to(tokens.device)[rt[:, :, None], ct[:, None, :]]  # [B, R + 2K, C + 2K]

    def at(x: torch.Tensor, k: int) -> torch.Tensor:  # x at (i + k, j - k)
        return x[:, K + k : K + k + R, K - k : K - k + C]

    here = at(ptype, 0) * 36
    run_in, run_out = torch.ones_like(at(canon, 0)), torch.ones_like(at(canon, 0))
    n_in = torch.zeros(run_in.shape, dtype=torch.long, device=tokens.device)
    n_out = torch.zeros_like(n_in)
    for k in range(1, K + 1):  # a run goes on while every pair so far is canonical
        run_in, run_out = run_in & at(canon, k), run_out & at(canon, -k)
        n_in, n_out = n_in + run_in, n_out + run_out
    return here + at(ptype, 1), here + at(ptype, -1), n_in, n_out  # [B, R, C] each


def from_checkpoint(path) -> tuple[nn.Module, dict]:
    """Rebuild an S1 network from a checkpoint file alone (its config's ``model`` part) ->
    (network in eval mode, the checkpoint's state)."""
    from ..checkpoints import network_from_checkpoint

    return network_from_checkpoint(path, CHECKPOINT_KIND, S1ModelConfig, build_model)

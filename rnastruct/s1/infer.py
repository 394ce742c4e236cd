"""S1 inference (the postprocessor): sequences -> per-pixel probabilities -> box proposals
(SPEC section 5), batched by length, on CPU or GPU, for sequences of any length.

THE BOX CONVENTION (see ``rnastruct.boxes``): pixel ``(i, j)`` is row ``i``, column ``j`` of the
L x L map, upper triangle ``i < j``; a box ``(bb_x, bb_y, siz_x, siz_y)`` has its **top-right**
corner at ``(bb_x, bb_y)`` and covers rows ``bb_x .. bb_x + siz_x - 1`` and columns
``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases.

Two steps, as the original:

1. ``S1Predictor.propose``: every upper-triangle pixel proposes one box per type and method
   ("sm": argmax small size, "sl": rounded scalar size), grouped by box (``targets.decode``).
   Short sequences go through the network in length-sorted batches bounded by a pixel budget,
   the head only at upper-triangle pixels; a sequence longer than ``tile`` is cut into tiles
   of the pair map, each computed on a crop widened by the network's reach
   (``model.region``), so memory stays bounded and the result is the whole-map one (tested).
   ``S1Predictor.pixel_tiles`` gives the proposals before grouping, which the fold decoder
   reads directly (``s1.allowed``).
2. ``select``: the two methods' rows of a box are merged into one row (``BOX_COLUMNS``) and a
   box is kept by ``n_proposal_norm`` thresholding (hairpins at a fraction of the threshold,
   since only the upper half of their box can propose), by ``p_on`` thresholding (some pixel
   proposing it is at least that confident), or by either ("union", the default: it found the
   most true boxes in the original). Or, ours, by "vote": pixels also vote with the top-k
   classes of every output (``targets.pixel_votes``), and a box is kept when its soft vote
   over its area exceeds the threshold; the true boxes that argmax decoding misses are mostly
   a corner or size the network put second (``prune --max-per-nt`` then ranks by that vote).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import numpy as np
import torch

from ..boxes import BOX_TYPES
from ..errors import InputError
from .data import tokenize
from .model import PAD
from .targets import (MAX_OFFSET, OUTPUTS, PixelProposals, concat_proposals, group_proposals,
                      pixel_proposals, proposals_and_votes, region_proposals, type_codes, unique_rows)

PAD_TO = 16  # batches are padded to a multiple of this length
SELECT_METHODS = ("n_proposal", "p_on", "union", "vote")
#: Columns of ``select``'s per-box table, in order: the box, then per method ("sm", "sl") the
#: proposing pixels, their share of the box area and their median probability (0 when that
#: method did not propose the box), then statistics over both methods, then the soft votes of
#: ``targets.pixel_votes`` (the expected number of pixels pointing at the box, and that over its
#: area; NaN when votes were not computed, i.e. for every method but "vote").
BOX_COLUMNS = (
    "type",
    "bb_x",
    "bb_y",
    "siz_x",
    "siz_y",
    "n_proposal_sm",
    "n_proposal_norm_sm",
    "prob_median_sm",
    "n_proposal_sl",
    "n_proposal_norm_sl",
    "prob_median_sl",
    "prob_max",
    "p_on_median",
    "p_on_max",
    "vote",
    "vote_norm",
)


@dataclass
class ProposalConfig:
    """Which proposals to keep (SPEC section 5; the original's defaults)."""

    threshold: float = 0.2  # keep a box when n_proposal_norm (sm or sl) > threshold
    hloop_factor: float = 0.5  # hairpins at threshold * hloop_factor: half their box proposes
    p_on: float = 0.1  # keep a box some proposing pixel of which has p_on >= this
    method: str = "union"  # "n_proposal", "p_on", "union" or "vote"
    # "vote": keep a box when its soft vote over its area (vote_norm) > vote_threshold (hairpins
    # at vote_threshold * hloop_factor); pixels with t_on >= vote_min_p_on vote with their top
    # vote_top_k classes of every output (targets.pixel_votes). A vote_norm is an expected share
    # of the box's pixels, so its scale is n_proposal_norm's, but boxes from second choices
    # have small ones: on held-out segments 0.001 found as many true boxes as union 0.1 / 0.05,
    # and every box of more sequences, with a third of the proposals (bench/results/s1_heldout_vote).
    vote_top_k: int = 2
    vote_min_p_on: float = 0.01
    vote_threshold: float = 0.001

    def validate(self) -> None:
        if self.method not in SELECT_METHODS:
            raise InputError(f"proposal method must be one of {SELECT_METHODS}, got {self.method!r}")
        if self.threshold < 0 or self.hloop_factor < 0 or not 0 <= self.p_on <= 1:
            raise InputError("threshold and hloop_factor must be >= 0 and p_on in [0, 1]")
        if not 1 <= self.vote_top_k <= 4 or not 0 <= self.vote_min_p_on <= 1 or self.vote_threshold < 0:
            raise InputError("vote_top_k must be in 1..4 (votes per pixel grow as k^4), "
                             "vote_min_p_on in [0, 1] and vote_threshold >= 0")

    @property
    def votes(self) -> tuple[int, float] | None:
        """``(top_k, min_p_on)`` when this selection needs soft votes, else None."""
        return (self.vote_top_k, self.vote_min_p_on) if self.method == "vote" else None

    def passes(self, types, norm: np.ndarray, p_on_max: np.ndarray) -> np.ndarray:
        """Bool per box: kept, given its type (one for all boxes, or one each), its
        ``n_proposal_norm`` (``vote_norm`` for "vote") and its ``p_on_max`` (the rule ``select``
        states)."""
        threshold = self.vote_threshold if self.method == "vote" else self.threshold
        thr = np.where(np.asarray(types) == "hloop", threshold * self.hloop_factor, threshold)
        by_n, by_p = norm > thr, p_on_max >= self.p_on
        return {"n_proposal": by_n, "p_on": by_p, "union": by_n | by_p, "vote": by_n}[self.method]


def activate(logits: Mapping[str, torch.Tensor], argmax: bool = False, light: bool = False,
             top_k: int = 0) -> dict:
    """Network logits -> probabilities: sigmoid for ``*_on``, softmax over the last axis for
    class outputs ``[..., C]``, scalars unchanged. ``argmax=True``: class outputs become the
    pair ``(argmax class, its probability)`` (``[...]`` each), all that decoding needs, without
    materialising the softmax (most of the post-processing time otherwise); with ``light`` too,
    the pair ``(argmax class, None)``: all that ``decode(..., light=True)`` reads. ``top_k``:
    class outputs become ``(top-k classes, their probabilities)`` (``[..., k]`` each, best
    first), what ``decode(..., votes=...)`` reads."""
    out: dict = {}
    for name, (kind, _) in OUTPUTS.items():
        if kind == "class" and top_k:
            # the top logits and log-sum-exp, not the whole softmax (a third of vote decoding)
            x = logits[name].float()
            best, k = x.topk(top_k, dim=-1)  # [..., k] each
            out[name] = (k, torch.exp(best - torch.logsumexp(x, -1, keepdim=True)))
            continue
        if kind == "class" and argmax:
            # in the logits' own dtype: a float32 copy of every class output was a third of
            # bf16 inference; the sum accumulates in float32
            x = logits[name]
            best, k = x.max(-1)  # [...] each; the first maximum on ties, like numpy
            # softmax at the argmax = 1 / sum(exp(x - max)), without the full softmax
            out[name] = (k, None if light else
                         torch.exp(x - best[..., None]).sum(-1, dtype=torch.float32).reciprocal())
            continue
        x = logits[name].float()
        if kind == "on":
            out[name] = torch.sigmoid(x)
        elif kind == "class":
            out[name] = torch.softmax(x, -1)
        else:
            out[name] = x
    return out


def _upper_triangle(length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels ``i < j`` of an ``L x L`` map (the only ones that propose), column by column:
    those of a sequence of length ``n`` padded to ``L`` are the first ``n (n - 1) / 2``."""
    cols = torch.arange(length, device=device).repeat_interleave(torch.arange(length, device=device))  # [N]
    first = torch.cumsum(torch.arange(length, device=device), 0) - torch.arange(length, device=device)  # [L]
    rows = torch.arange(len(cols), device=device) - first[cols]  # [N]: 0 .. j - 1 in column j
    return rows, cols


def _numpy(probs: Mapping, index) -> dict:
    """``v[index]`` of every ``activate`` result ``v`` (one example of a batch, cropped), as numpy."""
    def one(v):
        return None if v is None else v[index].cpu().numpy()

    return {k: tuple(one(a) for a in v) if isinstance(v, tuple) else one(v) for k, v in probs.items()}


class S1Predictor:
    """An S1 network in eval mode plus the batching and tiling that inference needs.

    ``batch_pixels``: at most this many map pixels (B x L x L) per batch (default 2^16 on CPU,
    where small batches stay in cache and ran 1.5x faster than 2^20, and 2^22 on GPU); ``tile``: sequences
    longer than this are tiled (tiles of ``tile`` x ``tile`` pixels); ``bf16``: bfloat16
    inference, the precision the default model trained in (bench/s1_infer_throughput.py:
    several times faster on CPUs with AMX or AVX512-BF16, probabilities differ in the second or
    third digit). On CPU the weights themselves are cast (on a copy of the model): autocast
    would keep the residual stream in fp32 and convert it around every convolution, most of
    the time saved; on GPU it is autocast."""

    CPU_BATCH_PIXELS = 2**16

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu",
                 batch_pixels: int | None = None, tile: int = 512, bf16: bool = False):
        self.device = torch.device(device)
        if batch_pixels is None:
            batch_pixels = 2**22 if self.device.type == "cuda" else self.CPU_BATCH_PIXELS
        if tile < 1 or batch_pixels < 1:
            raise InputError("tile and batch_pixels must be >= 1")
        if bf16 and self.device.type == "cpu":
            model = copy.deepcopy(model).to(torch.bfloat16)
        self.model = model.to(self.device).eval()
        self.batch_pixels, self.tile, self.bf16 = batch_pixels, tile, bf16

    @classmethod
    def from_checkpoint(cls, path, **kwargs) -> "S1Predictor":
        from .model import from_checkpoint

        return cls(from_checkpoint(path)[0], **kwargs)

    def _autocast(self):
        enabled = self.bf16 and self.device.type == "cuda"  # on CPU the weights are bf16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    @torch.inference_mode()
    def probabilities(self, seqs: list[str]) -> list[dict[str, np.ndarray]]:
        """Whole-map probabilities of a few sequences (``[L, L]`` / ``[L, L, C]`` each), for
        plots; one batch, no tiling."""
        tokens, lengths = self._batch(seqs)
        with self._autocast():
            probs = activate(self.model(tokens, lengths))
        return [_numpy(probs, (b, slice(len(s)), slice(len(s)))) for b, s in enumerate(seqs)]

    def _batch(self, seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        # padded up to a multiple of PAD_TO: a padded sequence gets exactly what it gets alone
        # (tested), and far fewer distinct shapes keep oneDNN's per-shape kernel cache (memory
        # and set-up time) small when many lengths come through
        L = -(-max(len(s) for s in seqs) // PAD_TO) * PAD_TO
        tokens = np.full((len(seqs), L), PAD, dtype=np.int64)
        for b, s in enumerate(seqs):
            tokens[b, : len(s)] = tokenize(s)
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
        return torch.from_numpy(tokens).to(self.device), lengths.to(self.device)

    def propose(self, seqs: list[str], progress: bool = False, light: bool = False,
                votes: tuple[int, float] | None = None) -> Iterator[tuple[int, dict]]:
        """Yield ``(index, proposals)`` for every sequence (normalised ACGUN strings), in an
        order of the batching's choosing; ``proposals`` as ``targets.decode`` returns them
        (one row per box and method, columns ``PROPOSAL_COLUMNS``, map coordinates; with
        ``light``, only the columns that selection and pruning read; with ``votes = (top_k,
        min_p_on)`` also the "vote" rows of ``targets.pixel_votes``)."""
        for k, tiles in self.pixel_tiles(seqs, progress, light, votes):
            yield k, proposal_table(tiles)

    def select(self, seqs: list[str], cfg: "ProposalConfig",
               progress: bool = False) -> Iterator[tuple[int, dict]]:
        """Yield ``(index, boxes)`` for every sequence, in an order of the batching's choosing:
        ``select(proposals, cfg)`` of its proposals (``BOX_COLUMNS``, same rows, same order),
        selected tile by tile. Every row of a box comes from one tile, so each tile's boxes are
        selected before the next tile is decoded: memory stays bounded by the tile, where the
        whole table of a 5,000-nt sequence took 15 GB."""
        for k, tiles in self.pixel_tiles(seqs, progress, votes=cfg.votes):
            kept = [select(group_proposals(parts), cfg) for parts in tiles]
            yield k, kept[0] if len(kept) == 1 else concat_proposals(kept, BOX_COLUMNS)

    @torch.inference_mode()
    def pixel_tiles(
        self, seqs: list[str], progress: bool = False, light: bool = False,
        votes: tuple[int, float] | None = None,
    ) -> Iterator[tuple[int, Iterator[list[PixelProposals]]]]:
        """Yield ``(index, tiles)`` for every sequence, in an order of the batching's choosing:
        its pixels' box proposals (``targets.pixel_proposals`` parts), as one list of parts
        per tile, each holding every proposing pixel of the boxes it holds (one tile when the
        sequence is not tiled). ``tiles`` is consumed once, before the next sequence.
        ``votes = (top_k, min_p_on)``: each list also holds the "vote" parts of
        ``targets.pixel_votes``."""
        from tqdm import tqdm

        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        with tqdm(total=len(seqs), unit="seq", disable=not progress, dynamic_ncols=True,
                  mininterval=0.5, desc="s1") as bar:
            for index in self._length_batches(lengths):
                if lengths[index[0]] > self.tile:  # alone in its batch
                    yield int(index[0]), self._tiles(seqs[index[0]], light, votes)
                    bar.update(1)
                    continue
                tokens, lens = self._batch([seqs[i] for i in index])
                rows, cols = _upper_triangle(tokens.shape[1], self.device)  # [N] each
                with self._autocast():
                    feats = self.model.features(tokens, lens)
                    logits = self.model.region(feats, 0, tokens.shape[1], 0, tokens.shape[1], pixels=(rows, cols),
                                               band=(1, None))
                    probs = activate(logits, argmax=True, light=light,
                                     top_k=votes[0] if votes else 0)  # name -> [B, N(, k)]
                rows_np, cols_np = rows.cpu().numpy(), cols.cpu().numpy()
                for b, i in enumerate(index):
                    n = int(lengths[i]) * (int(lengths[i]) - 1) // 2  # its pixels come first
                    values = _numpy(probs, (b, slice(n)))
                    if votes is None:
                        yield int(i), [pixel_proposals(values, rows_np[:n], cols_np[:n], light)]
                    else:
                        yield int(i), [proposals_and_votes(values, rows_np[:n], cols_np[:n], light, votes[1])]
                bar.update(len(index))

    def _length_batches(self, lengths: np.ndarray) -> Iterator[np.ndarray]:
        """Indices of the sequences in length order, cut into batches of at most
        ``batch_pixels`` map pixels; a sequence longer than ``tile`` is a batch of its own."""
        order = np.argsort(lengths, kind="stable")
        k = 0
        while k < len(order):
            end = k + 1
            # sorted by length, so the batch's longest is its last: grow while it fits
            while lengths[order[k]] <= self.tile and end < len(order) and lengths[order[end]] <= self.tile \
                    and (end - k + 1) * int(lengths[order[end]]) ** 2 <= self.batch_pixels:
                end += 1
            yield order[k:end]
            k = end

    @torch.inference_mode()
    def pair_logits(self, seqs: list[str], progress: bool = False, max_bp_span: int | None = None,
                    tile_progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, logits)`` for every sequence, in an order of the batching's choosing:
        the pair head's logits ``[L, L]`` float32 (row i, column j; zero unless i < j), the
        learned score of each base pair. Only the trunk and the 1 x 1 pair head run (not the box
        heads); sequences longer than ``tile`` go tile by tile over the upper triangle, exactly
        (the trunk's crops are exact, ``DilatedS1.region``).

        ``max_bp_span = W`` below ``L - 1``: only the tiles meeting the band ``0 < j - i <= W``
        run (O(L W) work), and ``logits`` is the band ``[L, W + 1]`` float32, ``logits[i, d]``
        the pair ``(i, i + d)`` (0 where ``d = 0`` or ``i + d >= L``): the values the whole map
        has there.
        ``tile_progress``: a bar over the tiles of each tiled sequence (minutes at 10,000 nt)."""
        from tqdm import tqdm

        head = getattr(self.model, "pair_prob", None)
        if head is None:
            raise InputError("this S1 model has no pair head (model.pair_prob_head): it gives no pair scores")
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        with tqdm(total=len(seqs), unit="seq", disable=not progress, dynamic_ncols=True,
                  mininterval=0.5, desc="s1") as bar:
            for index in self._length_batches(lengths):
                tokens, lens = self._batch([seqs[i] for i in index])
                L = tokens.shape[1]
                n_max = int(lengths[index].max())
                W = max_bp_span if max_bp_span is not None and max_bp_span < n_max - 1 else None
                # the upper triangle's tiles, those meeting the band when there is one
                tiles = [(r0, c0) for r0 in range(0, L, self.tile) for c0 in range(r0, L, self.tile)
                         if W is None or c0 - min(L, r0 + self.tile) + 1 <= W]
                out = np.zeros((len(index), L, L) if W is None else (len(index), L, W + 1), dtype=np.float32)
                with self._autocast(), tqdm(total=len(tiles), unit="tile", leave=False, dynamic_ncols=True,
                                            disable=not tile_progress or len(tiles) == 1, mininterval=0.5,
                                            desc=f"s1 {n_max} nt") as tile_bar:
                    feats = self.model.features(tokens, lens)
                    for r0, c0 in tiles:
                        r1, c1 = min(L, r0 + self.tile), min(L, c0 + self.tile)
                        # the pairs only: the trunk skips most of the lower triangle
                        h = self.model.trunk(feats, r0, r1, c0, c1, band=(1, W))  # [B, C2, R, C]
                        logits = head(h)[:, 0].float().cpu().numpy()  # [B, R, C]
                        if W is None:
                            out[:, r0:r1, c0:c1] = logits
                        else:
                            for i in range(r0, r1):  # row i's band columns j = i + d in this tile
                                j0, j1 = max(c0, i + 1), min(c1, i + W + 1)
                                if j0 < j1:
                                    out[:, i, j0 - i : j1 - i] = logits[:, i - r0, j0 - c0 : j1 - c0]
                        tile_bar.update(1)
                        if len(tiles) > 1:  # the heap each tile leaves would add up to the peak
                            release_freed_memory()
                if W is None:
                    for i in range(L):  # what the band left undefined, zero (in place: no second map)
                        out[:, i, : i + 1] = 0
                for b, i in enumerate(index):
                    n = int(lengths[i])
                    if W is None:
                        yield int(i), out[b, :n, :n]
                    elif n - 1 <= W:  # a shorter sequence of the batch, its whole map in the band
                        yield int(i), band_to_map(out[b, :n, :n])
                    else:  # beyond the sequence's end: padding, not pairs
                        yield int(i), np.where(np.add.outer(np.arange(n), np.arange(W + 1)) < n, out[b, :n], 0)
                bar.update(len(index))

    @torch.inference_mode()  # a generator of its own, run after pixel_tiles yields it
    def _tiles(self, seq: str, light: bool = False,
               votes: tuple[int, float] | None = None) -> Iterator[list[PixelProposals]]:
        """One long sequence, tile by tile. A box belongs to the tile holding its top-right
        corner (clipped to the map); its proposing pixels lie at most ``MAX_OFFSET`` rows below
        and columns left of that corner, so each tile's proposals come from a region widened
        by that margin, keeping the pixels whose box is its own: together, exactly the
        whole-map proposals (tested)."""
        tokens, lens = self._batch([seq])
        L, T, m = len(seq), self.tile, MAX_OFFSET
        with self._autocast():
            feats = self.model.features(tokens, lens)
        for r0 in range(0, L, T):
            r1 = min(L, r0 + T)
            for c0 in range(r0, L, T):  # tiles left of the diagonal hold no box corner
                c1 = min(L, c0 + T)
                a1, b0 = min(L, r1 + m), max(0, c0 - m)
                with self._autocast():
                    probs = activate(self.model.region(feats, r0, a1, b0, c1), argmax=True, light=light,
                                     top_k=votes[0] if votes else 0)
                parts = region_proposals(_numpy(probs, 0), length=L, origin=(r0, b0), light=light,
                                         votes=votes[1] if votes else None)
                own = []
                for part in parts:
                    corner_r, corner_c = np.clip(part.bb_x, 0, L - 1), np.clip(part.bb_y, 0, L - 1)
                    own.append(part.subset((corner_r >= r0) & (corner_r < r1) & (corner_c >= c0) & (corner_c < c1)))
                yield own


def release_freed_memory() -> None:
    """Hand the heap that freed tensors leave behind back to the operating system (glibc's
    ``malloc_trim``; nothing elsewhere). A long sequence's tiles leave a hundred megabytes or
    more that the allocator keeps, and ViennaRNA's matrices come next: the peak would carry
    both."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (found once: ``find_library`` runs a subprocess)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def band_to_map(band: np.ndarray) -> np.ndarray:
    """A band ``[L, W + 1]`` (``band[i, d]`` for the pair ``(i, i + d)``) -> the ``[L, L]`` map it
    covers (upper triangle, 0 beyond the band)."""
    L, width = band.shape
    out = np.zeros((L, L), dtype=band.dtype)
    for d in range(1, min(width, L)):
        idx = np.arange(L - d)
        out[idx, idx + d] = band[: L - d, d]
    return out


def proposal_table(tiles: Iterable[list[PixelProposals]]) -> dict[str, np.ndarray]:
    """One sequence's pixel proposals, tile by tile (``S1Predictor.pixel_tiles``) -> the
    ``targets.decode`` table."""
    tables = [group_proposals(parts) for parts in tiles]
    # one table is sorted already; tiles hold disjoint sets of boxes
    return tables[0] if len(tables) == 1 else concat_proposals(tables)


def select(proposals: Mapping[str, np.ndarray], cfg: ProposalConfig) -> dict[str, np.ndarray]:
    """``decode`` rows (one per box and method) -> the kept boxes, one row each, columns
    ``BOX_COLUMNS``, sorted by type (``BOX_TYPES`` order), bb_x, bb_y, siz_x, siz_y.

    Box convention: top-right corner ``(bb_x, bb_y)``, sizes include the closing bases.
    A box is kept by "n_proposal" when ``n_proposal_norm`` of either method exceeds
    ``cfg.threshold`` (``cfg.threshold * cfg.hloop_factor`` for hairpins), by "p_on" when
    ``p_on_max >= cfg.p_on``, by "union" when either holds, by "vote" when its ``vote_norm``
    exceeds ``cfg.vote_threshold`` (times ``cfg.hloop_factor`` for hairpins; ``proposals`` must
    then hold "vote" rows: ``decode(..., votes=...)``). ``p_on_median`` is the larger of the
    two argmax methods' medians.
    """
    cfg.validate()
    merged = merge_methods(proposals)
    keep = keep_mask(merged, cfg)
    return {c: v[keep] for c, v in merged.items()}


def keep_mask(boxes: Mapping[str, np.ndarray], cfg: ProposalConfig) -> np.ndarray:
    """Which rows of a per-box table (``BOX_COLUMNS``) ``cfg`` keeps (see ``select``)."""
    if cfg.method == "vote":  # NaN (no votes computed) passes no threshold
        norm = np.nan_to_num(np.asarray(boxes["vote_norm"], dtype=np.float64), nan=-1.0)
    else:
        norm = np.maximum(np.asarray(boxes["n_proposal_norm_sm"]), np.asarray(boxes["n_proposal_norm_sl"]))
    return cfg.passes(boxes["type"], norm, np.asarray(boxes["p_on_max"]))


def merge_methods(proposals: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``decode`` rows -> one row per distinct box (``BOX_COLUMNS``), both methods side by side."""
    types = np.asarray(proposals["type"])
    code = type_codes(types)
    keys = np.stack([code] + [np.asarray(proposals[c], dtype=np.int64)
                              for c in ("bb_x", "bb_y", "siz_x", "siz_y")], axis=1)  # [N, 5]
    uniq, inverse, _ = unique_rows(keys.reshape(-1, 5))
    n = len(uniq)
    out: dict[str, np.ndarray] = {
        "type": np.array(BOX_TYPES, dtype="<U5")[uniq[:, 0]] if n else np.zeros(0, dtype="<U5"),
        "bb_x": uniq[:, 1], "bb_y": uniq[:, 2], "siz_x": uniq[:, 3], "siz_y": uniq[:, 4],
    }
    methods = np.asarray(proposals["method"])
    rows = {m: methods == m for m in ("sm", "sl")}  # decode gives a box at most one row per method
    for m, r in rows.items():
        for col, dtype in (("n_proposal", np.int64), ("n_proposal_norm", np.float64),
                           ("prob_median", np.float64)):
            v = np.zeros(n, dtype=dtype)
            v[inverse[r]] = np.asarray(proposals[col])[r]
            out[f"{col}_{m}"] = v
    voted = methods == "vote"
    out["vote"] = np.full(n, np.nan if not voted.any() else 0.0)
    out["vote"][inverse[voted]] = np.asarray(proposals["prob_sum"])[voted]
    out["vote_norm"] = out["vote"] / (out["siz_x"] * out["siz_y"])
    for col in ("prob_max", "p_on_median", "p_on_max"):
        # so the larger of (at most) two values is two fancy-index assignments, not ufunc.at
        x = np.asarray(proposals[col], dtype=np.float64)
        v = np.zeros(n, dtype=np.float64)
        v[inverse[rows["sm"]]] = x[rows["sm"]]
        sl = inverse[rows["sl"]]
        v[sl] = np.maximum(v[sl], x[rows["sl"]])
        out[col] = v
    return {c: out[c] for c in BOX_COLUMNS}

"""S1 training data: segments -> token ids, per-pixel targets and masks, in length-grouped,
padded batches.

Padding is explicit: token id ``PAD`` beyond each sequence's length, ``lengths`` per example,
and every mask is False on padded pixels, so no loss or metric sees them.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import torch

from ..errors import InputError
from ..seqio import pairs_of_table, read_table
from ..structure import normalize_sequence
from .model import PAD
from .targets import encode

_TOKEN = np.full(256, 4, dtype=np.int64)  # anything unexpected would already have failed: N
for _k, _c in enumerate("ACGU"):
    _TOKEN[ord(_c)] = _k


def tokenize(seq: str) -> np.ndarray:
    """Normalised sequence (ACGUN) -> token ids ``[L]`` (A C G U N = 0..4)."""
    return _TOKEN[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


class S1Examples:
    """Sequences and their pair lists, with targets encoded on demand (cheap next to a step).

    ``pair_probs`` (optional): per example, ViennaRNA's base-pair probabilities as
    ``pair_probs_of`` gives them, ``(i, j, p)``; batches then carry the auxiliary target
    ``"pair_prob"`` and its mask ``"pair"``.
    """

    def __init__(self, seqs: list[str], pairs: list[np.ndarray], ids: list[str] | None = None,
                 pair_probs: list[tuple] | None = None):
        if len(seqs) != len(pairs) or (pair_probs is not None and len(pair_probs) != len(seqs)):
            raise ValueError("seqs, pairs and pair_probs differ in length")
        self.seqs, self.pairs, self.pair_probs = seqs, pairs, pair_probs
        self.ids = ids if ids is not None else [str(k) for k in range(len(seqs))]
        self.lengths = np.array([len(s) for s in seqs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.seqs)

    def subset(self, index: np.ndarray) -> "S1Examples":
        probs = None if self.pair_probs is None else [self.pair_probs[k] for k in index]
        return S1Examples([self.seqs[k] for k in index], [self.pairs[k] for k in index],
                          [self.ids[k] for k in index], probs)

    def batch(self, index: np.ndarray) -> dict:
        """Examples ``index`` -> a padded batch: ``tokens [B, L]``, ``lengths [B]``,
        ``targets`` (name -> ``[B, L, L]``), ``masks`` (name -> bool ``[B, L, L]``). With
        pair probabilities, ``targets["pair_prob"]`` (float, dense) and ``masks["pair"]``
        (the upper triangle inside each sequence, where ViennaRNA defines them)."""
        L = int(self.lengths[index].max())
        B = len(index)
        tokens = np.full((B, L), PAD, dtype=np.int64)
        targets: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        for b, k in enumerate(index):
            n = int(self.lengths[k])
            tokens[b, :n] = tokenize(self.seqs[k])
            t, m = encode(self.pairs[k], n)
            for name, arr in t.items():
                if name not in targets:
                    targets[name] = np.zeros((B, L, L), dtype=arr.dtype)
                targets[name][b, :n, :n] = arr
            for name, arr in m.items():
                if name not in masks:
                    masks[name] = np.zeros((B, L, L), dtype=bool)
                masks[name][b, :n, :n] = arr
        if self.pair_probs is not None:
            prob = np.zeros((B, L, L), dtype=np.float32)
            for b, k in enumerate(index):
                i, j, p = self.pair_probs[k]
                prob[b, i, j] = p
            inside = np.arange(L)[None, :] < self.lengths[index][:, None]  # [B, L]
            # i < j < length: the upper triangle inside the sequence
            upper = np.triu(np.ones((L, L), dtype=bool), 1)[None] & inside[:, None, :]  # [B, L, L]
            targets["pair_prob"], masks["pair"] = prob, upper
        return {"tokens": torch.from_numpy(tokens), "lengths": torch.from_numpy(self.lengths[index].copy()),
                "seqs": [self.seqs[k] for k in index], "pairs": [self.pairs[k] for k in index],
                "targets": {k: torch.from_numpy(v) for k, v in targets.items()},
                "masks": {k: torch.from_numpy(v) for k, v in masks.items()}}


def _pair_probs_chunk(args: tuple[list[str], float]) -> list[tuple]:
    from ..folding import pair_probs

    seqs, cutoff = args
    return [pair_probs(s, cutoff) for s in seqs]


def pair_probs_of(seqs: list[str], cutoff: float, workers: int = 1, progress: bool = False) -> list[tuple]:
    """ViennaRNA's base-pair probabilities of each sequence -> per sequence ``(i, j, p)``: 0-based
    ``i < j`` with ``p >= cutoff`` (``folding.pair_probs``), in order whatever ``workers``."""
    from tqdm import tqdm

    from ..datagen import make_pool

    chunks = [(seqs[k:k + 256], cutoff) for k in range(0, len(seqs), 256)]
    out: list[tuple] = []
    # the pool before the bar, so fork copies no thread of tqdm's
    with make_pool(max(1, workers)) as pool, tqdm(total=len(seqs), desc="pair probabilities", unit="seq",
                                                  disable=not progress, mininterval=1.0) as bar:
        for r in (pool.imap if pool is not None else map)(_pair_probs_chunk, chunks):
            out += r
            bar.update(len(r))
    return out


def save_pair_probs(path, probs: list[tuple], digest: str, cutoff: float) -> None:
    """Pair probabilities -> one NPZ (CSR: ``offsets [N + 1]``, ``i``, ``j``, ``p``), atomically;
    ``digest`` names the sequences they belong to (``sequence_digest``)."""
    from ..seqio import atomic_path

    counts = np.array([len(p) for _, _, p in probs], dtype=np.int64)
    arrays = {"offsets": np.r_[0, np.cumsum(counts)].astype(np.int64),
              "i": np.concatenate([i for i, _, _ in probs]).astype(np.int32),
              "j": np.concatenate([j for _, j, _ in probs]).astype(np.int32),
              "p": np.concatenate([p for _, _, p in probs]).astype(np.float32),
              "digest": np.frombuffer(digest.encode("ascii"), dtype=np.uint8),
              "cutoff": np.array(cutoff, dtype=np.float64)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_pair_probs(path, digest: str, cutoff: float) -> list[tuple] | None:
    """The pair probabilities ``save_pair_probs`` wrote, or None when the file is missing or
    belongs to other sequences or another cutoff (then they are computed again)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if z["digest"].tobytes().decode("ascii") != digest or float(z["cutoff"]) != cutoff:
                return None
            off, i, j, p = z["offsets"], z["i"], z["j"], z["p"]
    except Exception:  # missing, truncated by a kill, or not ours: a cache, so compute again
        return None
    return [(i[a:b], j[a:b], p[a:b]) for a, b in zip(off[:-1], off[1:])]


def sequence_digest(seqs: list[str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for s in seqs:
        h.update(s.encode("ascii") + b"\n")
    return h.hexdigest()


def load_examples(path, max_length: int | None = None) -> tuple[S1Examples, np.ndarray | None]:
    """Read a dataset written by ``rnastruct generate`` -> (examples, split column or None)."""
    table, _ = read_table(path)
    missing = {"seq", "pairs"} - set(table.column_names)
    if missing:
        raise InputError(f"{path}: dataset lacks column(s) {', '.join(sorted(missing))}")
    seqs = [normalize_sequence(s, f"{path} row {k}") for k, s in enumerate(table.column("seq").to_pylist())]
    pairs = pairs_of_table(table)
    ids = table.column("id").to_pylist() if "id" in table.column_names else None
    split = np.asarray(table.column("split").to_pylist()) if "split" in table.column_names else None
    ex = S1Examples(seqs, pairs, ids)
    if max_length is not None:
        keep = np.flatnonzero(ex.lengths <= max_length)
        ex = ex.subset(keep)
        split = split[keep] if split is not None else None
    return ex, split


def load_datasets(paths, max_length: int | None = None) -> tuple[S1Examples, np.ndarray | None]:
    """One dataset folder, or several -> their examples end to end, and their split columns
    (None if any dataset lacks one). Training on human segments plus random ones, say."""
    parts = [load_examples(p, max_length) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    ex = S1Examples([s for e, _ in parts for s in e.seqs], [q for e, _ in parts for q in e.pairs],
                    [i for e, _ in parts for i in e.ids])
    splits = [sp for _, sp in parts]
    return ex, None if any(sp is None for sp in splits) else np.concatenate(splits)


def split_examples(ex: S1Examples, split: np.ndarray | None, how: str, valid_frac: float,
                   seed: int) -> tuple[S1Examples, S1Examples]:
    """-> (train, valid). ``how="column"``: the dataset's split column (train / valid; test is
    left out), so validation genes never appear in training. ``how="random"``: the original's
    shuffle with ``seed`` and a ``1 - valid_frac`` / ``valid_frac`` cut."""
    if how == "column":
        if split is None:
            raise InputError("split 'column' needs a dataset with a split column")
        train, valid = np.flatnonzero(split == "train"), np.flatnonzero(split == "valid")
    elif how == "random":
        order = np.random.default_rng(seed).permutation(len(ex))
        n_train = int(len(ex) * (1 - valid_frac))
        train, valid = order[:n_train], order[n_train:]
    else:
        raise InputError(f"split must be 'column' or 'random', got {how!r}")
    if len(train) == 0 or len(valid) == 0:
        raise InputError(f"split {how!r} leaves {len(train)} training and {len(valid)} validation examples")
    return ex.subset(train), ex.subset(valid)


def length_batches(lengths: np.ndarray, batch_size: int, seed: int | None, rank: int = 0,
                   world: int = 1) -> list[np.ndarray]:
    """Batches of example indices with similar lengths (little padding).

    With a seed, examples are shuffled, sorted by length within windows of 50 batches, cut
    into batches and the batches shuffled; without one (evaluation) the order is by length.
    With ``world > 1`` each rank takes every world-th batch, all ranks the same number.
    """
    n = len(lengths)
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        batches = [order[k:k + batch_size] for k in range(0, n, batch_size)]
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        window = batch_size * 50
        chunks = [order[k:k + window] for k in range(0, n, window)]
        order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks])
        batches = [order[k:k + batch_size] for k in range(0, n, batch_size)]
        batches = [batches[k] for k in rng.permutation(len(batches))]
    if world > 1:
        per_rank = len(batches) // world
        batches = batches[rank::world][:per_rank]
    return batches


class _Batches(torch.utils.data.Dataset):
    def __init__(self, ex: S1Examples, batches: list[np.ndarray]):
        self.ex, self.batches = ex, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> dict:
        return self.ex.batch(self.batches[k])


def iterate(ex: S1Examples, batches: list[np.ndarray], workers: int = 0) -> Iterator[dict]:
    """The padded batches, in order. ``workers > 0``: built by that many processes ahead of the
    step (on a GPU, building the targets in one process would leave it waiting)."""
    if workers == 0:
        for index in batches:
            yield ex.batch(index)
        return
    yield from torch.utils.data.DataLoader(_Batches(ex, batches), batch_size=None, shuffle=False,
                                           num_workers=workers, prefetch_factor=4,
                                           pin_memory=torch.cuda.is_available())

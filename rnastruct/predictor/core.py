"""The predictor: S1 (when the decoder reads it), then the decoder, sequence by sequence, in
one process or in a pool of forked workers; and ``load_predictor``, which turns the command
line's options (a model set, a decoder, overrides) into one.

    >>> import rnastruct
    >>> [r.structure for r in rnastruct.predict(["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"])]
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import threading
from typing import Iterable, Iterator

import numpy as np
import torch

from ..errors import InputError
from ..hardware import PRECISIONS, available_cores, native_bf16, runs_parallel
from ..s1.infer import S1Predictor
from .decoders import (DECODERS, LOGITS, LOGITS_AND_TILES, NO_S1, TILES, BoxAssembly, BoxScorer, Decoder,
                       FoldSettings, LearnedFold, ProposalFold, TurnerFold)
from .models import DEFAULT_MODEL, FALLBACK_S2, load_s1, load_s2, model_paths
from .outputs import Result



class Predictor:
    """An S1 network (``S1Predictor``, or None when the decoder reads none) and a ``Decoder``,
    applied to many sequences. ``threads``: CPU cores to use (default: all this process may
    use); on CPU a large job runs in that many worker processes of one thread each, which kept
    both cores busy where one process left the second idle during decoding and folding."""

    def __init__(self, s1, decoder: Decoder, threads: int | None = None, device: str = "cpu",
                 max_bp_span: int | None = None, stages: bool = False):
        if threads is not None and threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if s1 is None and decoder.s1_output != NO_S1:
            raise InputError("this decoder reads S1's output: give an S1 network")
        settings = getattr(decoder, "settings", None)
        if max_bp_span is not None and getattr(settings, "max_bp_span", None) != max_bp_span:
            raise InputError(f"--max-bp-span {max_bp_span}: the decoder must fold under the same limit "
                             "(a fold decoder with FoldSettings.max_bp_span)")
        self.s1, self.decoder = s1, decoder
        # no pair (i, j) with j - i above it: S1's pair head then runs on the band only, O(L W)
        self.max_bp_span = max_bp_span
        # a bar over S1's tiles of each long sequence (the decoder shows its own stages)
        self.stages = stages
        self.threads, self._set_threads = threads or available_cores(), threads is not None
        self.device = torch.device(device)

    def predict(self, names: list[str], seqs: list[str], progress: bool = False, constraints: list | None = None,
                shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        """Yield ``(index, Result)`` for every sequence, in an order of the batching's choosing.
        The results do not depend on ``threads``: each sequence is computed alone the same way."""
        parallel = runs_parallel([len(s) for s in seqs], self.threads, self.device.type)
        if (constraints and any(c is not None for c in constraints)) or (shapes and any(x is not None for x in shapes)):
            if not self.decoder.takes_constraints:
                raise InputError("constraints and probing data need the fold decoder, not --decoder boxes")
        if parallel:
            yield from self._predict_parallel(names, seqs, progress, constraints, shapes)
            return
        self.set_threads()
        yield from self._predict_serial(names, seqs, progress, constraints, shapes)

    def set_threads(self) -> None:
        """PyTorch's threads in this process: ``threads``, when it was given."""
        if self._set_threads:
            torch.set_num_threads(self.threads)

    def s1_outputs(self, seqs: list[str], progress: bool = False) -> Iterator[tuple[int, object]]:
        """Yield ``(index, what the decoder reads of S1)`` for every sequence, in the order of
        S1's length batches."""
        kind = self.decoder.s1_output
        if kind == NO_S1:
            yield from ((k, None) for k in range(len(seqs)))
        elif kind == LOGITS:
            yield from self.s1.pair_logits(seqs, progress=progress, max_bp_span=self.max_bp_span,
                                           tile_progress=self.stages)
        elif kind == TILES:
            yield from self.s1.pixel_tiles(seqs, progress=progress, light=self.decoder.light)
        elif kind == LOGITS_AND_TILES:
            # both generators walk the same length batches, so the k-th items are one sequence's;
            # S2's features read every statistic of the proposals (not light ones)
            for (k, logits), (k2, tiles) in zip(self.s1.pair_logits(seqs, progress=progress),
                                                self.s1.pixel_tiles(seqs), strict=True):
                assert k == k2
                yield k, (logits, tiles)
        else:
            raise ValueError(f"unknown S1 output {kind!r}")

    def _predict_serial(self, names: list[str], seqs: list[str], progress: bool = False,
                        constraints: list | None = None, shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        constraints = constraints or [None] * len(seqs)
        shapes = shapes or [None] * len(seqs)
        for k, out in self.s1_outputs(seqs, progress):
            yield k, self.decoder.decode(names[k], seqs[k], out, constraints[k], shapes[k])

    def _predict_parallel(self, names: list[str], seqs: list[str], progress: bool = False,
                          constraints: list | None = None, shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        """``predict`` in ``self.threads`` forked worker processes, one thread each, over chunks
        of similar length (so S1 still batches), longest first (so no worker is left with a
        long tail). The workers inherit this predictor by forking: nothing of it is pickled."""
        from tqdm import tqdm

        order = np.argsort([-len(s) for s in seqs], kind="stable")
        pixels = np.cumsum([len(seqs[i]) ** 2 for i in order])
        # about 16 chunks per worker: balanced, yet each large enough to batch
        per_chunk = max(pixels[-1] / (16 * self.threads), S1Predictor.CPU_BATCH_PIXELS)
        cuts = np.searchsorted(pixels, np.arange(per_chunk, pixels[-1], per_chunk), side="right")
        chunks = [c for c in np.split(order, np.unique(cuts)) if len(c)]
        tasks = [(c.tolist(), [names[i] for i in c], [seqs[i] for i in c],
                  [constraints[i] for i in c] if constraints else None,
                  [shapes[i] for i in c] if shapes else None) for c in chunks]
        ctx = mp.get_context("fork")
        todo, done = ctx.SimpleQueue(), ctx.SimpleQueue()
        workers = [ctx.Process(target=_serve, args=(self, todo, done), daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        # the tasks go in from a thread while this one reads the results: a pipe holds 64 KB,
        # and with many short sequences the workers filled the results pipe while the parent
        # still waited to write tasks they would never read (a deadlock)
        feeder = threading.Thread(target=_feed, args=(todo, tasks + [None] * len(workers)), daemon=True)
        feeder.start()
        try:
            with tqdm(total=len(seqs), unit="seq", disable=not progress, dynamic_ncols=True,
                      mininterval=0.5, desc="predict") as bar:
                for _ in tasks:
                    ok, part = done.get()
                    if not ok:
                        raise part
                    bar.update(len(part))
                    yield from part
        finally:
            for w in workers:
                if w.is_alive():
                    w.terminate()
                w.join()


def _feed(queue, items: list) -> None:
    for item in items:
        queue.put(item)


def _serve(predictor: Predictor, todo, done) -> None:
    """A worker: chunks of ``Predictor._predict_parallel`` from ``todo`` (until None) ->
    ``(True, [(index, Result), ...])`` or ``(False, the exception)`` on ``done``."""
    torch.set_num_threads(1)
    for index, names, seqs, constraints, shapes in iter(todo.get, None):
        try:
            part = [(index[k], r) for k, r in predictor._predict_serial(names, seqs, False, constraints, shapes)]
        except Exception as e:  # the parent raises it
            done.put((False, e))
            continue
        done.put((True, part))


def load_predictor(s1=None, s2=None, device: str = "cpu", proposal=None, pruning=None, max_boxes: int = 512,
                   tile: int = 512, precision: str = "auto", decoder: str = "fold", threads: int | None = None,
                   allow_pseudoknots: bool = False, model: str = DEFAULT_MODEL, decoding: str | None = None,
                   gamma: float | None = None, threshold: float | None = None, probs: bool = False,
                   shape_slope: float | None = None, shape_intercept: float | None = None,
                   max_bp_span: int | None = None, no_prune: bool = False, stages: bool = False) -> Predictor:
    """The predictor the command line's options describe: a model set (``model``, or its S1/S2
    checkpoints ``s1``/``s2``), a decoder ("fold" or "boxes") and overrides of the settings its
    checkpoints carry.

    With ``decoder="fold"`` the decoder follows the S1 checkpoint: one with ``fold_energy``
    settings (tuned on validation structures) is ``LearnedFold``; one without them is
    ``ProposalFold`` (with the checkpoint's ``fold_proposal`` thresholds); no S1 (the ``turner``
    set) is ``TurnerFold``. ``decoding``/``gamma``/``threshold`` override the checkpoint's
    decoding. ``precision``: "bf16" runs S1 in bfloat16, the precision it trained in, "fp32" in
    float32, "auto" (default) picks bf16 where the device computes it natively.
    ``max_bp_span``: no pair (i, j) with j - i above it, as RNAfold's ``--maxBPspan`` (S1's pair
    head runs on that band only, ViennaRNA folds under it; fold decoder). ``no_prune``: keep
    every canonical pair, whatever the checkpoint's ``prune`` threshold. ``stages``: show where
    a long sequence is (S1's tiles, then ViennaRNA's stages with the elapsed time)."""
    from ..config import from_dict
    from ..learned import FoldEnergy
    from ..s1.infer import ProposalConfig
    from ..s1.prune import PruneConfig

    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible (check CUDA_VISIBLE_DEVICES)")
    if decoder not in DECODERS:
        raise InputError(f"unknown decoder {decoder!r}: expected one of {', '.join(DECODERS)}")
    if allow_pseudoknots and decoder != "boxes":
        raise InputError("--allow-pseudoknots needs --decoder boxes: the fold decoder is "
                         "ViennaRNA's MFE, which has no pseudoknots")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    if max_bp_span is not None and (int(max_bp_span) != max_bp_span or max_bp_span < 4):
        raise InputError(f"--max-bp-span must be a whole number >= 4 (a hairpin closes at least 3 bases), "
                         f"got {max_bp_span}")
    if max_bp_span is not None and decoder != "fold":
        raise InputError("--max-bp-span is an option of the fold decoder (ViennaRNA), not of --decoder boxes")
    bf16 = native_bf16(device) if precision == "auto" else precision == "bf16"
    if s2 is not None and decoder != "boxes":
        raise InputError(f"--s2 is used by --decoder boxes only; the {decoder} decoder does not read S2")
    set_s1, set_s2 = model_paths(model)
    if set_s1 is None and (s1 is not None or decoder != "fold"):
        raise InputError(f"--model {model} has no learned model: it takes neither --s1 nor --decoder {decoder}")
    s1, s2 = s1 or set_s1, s2 or set_s2
    if s1 is None:  # Turner 2004 alone: no network
        s1_model, s1_state, s1_net = None, {}, None
    else:
        s1_model, s1_state = load_s1(s1)
        s1_net = S1Predictor(s1_model, device=device, tile=tile, bf16=bf16)
    # the fold decoder's proposal thresholds are tuned per S1 model on validation sequences
    # (rnastruct tune-proposals) and travel in its checkpoint
    if proposal is None and decoder == "fold" and "fold_proposal" in s1_state:
        proposal = from_dict(ProposalConfig, s1_state["fold_proposal"], f"{s1}: fold_proposal")
    # how a model with a pair head enters ViennaRNA (weight, offset, decoding), chosen on
    # validation structures and stored in its checkpoint
    learned = (from_dict(FoldEnergy, s1_state["fold_energy"], f"{s1}: fold_energy")
               if "fold_energy" in s1_state and decoder == "fold" else None)
    if learned is not None and getattr(s1_model, "pair_prob", None) is None:
        raise InputError(f"{s1}: has fold_energy settings but no pair head")
    # the base parameters its learned term was chosen on (bench/base_parameters.py --write);
    # ViennaRNA keeps one parameter set per process, so only Turner 2004 is folded with
    params = s1_state.get("energy_parameters", {}).get("chosen", "turner2004")
    if params != "turner2004":
        raise InputError(f"{s1}: its learned term was chosen on the {params} energy parameters; the predictor "
                         f"folds with Turner 2004 only")
    overrides = {k: v for k, v in (("decoding", decoding), ("gamma", gamma), ("threshold", threshold))
                 if v is not None}
    if no_prune:
        overrides["prune"] = None
    if overrides and decoder != "fold":
        flag = {"prune": "no-prune"}.get(next(iter(overrides)), next(iter(overrides)))
        raise InputError(f"--{flag} is an option of the fold decoder, not of --decoder {decoder}")
    energy = dataclasses.replace(learned or FoldEnergy(), **overrides)
    energy.validate()
    if probs and decoder != "fold":
        raise InputError(f"pair probabilities come from the fold decoder, not from --decoder {decoder}")
    settings = FoldSettings(energy, probs, max_bp_span=None if max_bp_span is None else int(max_bp_span),
                            stages=stages)
    if shape_slope is not None:
        settings.shape_slope = shape_slope
    if shape_intercept is not None:
        settings.shape_intercept = shape_intercept
    proposal = proposal or ProposalConfig()
    proposal.validate()
    if proposal.method == "vote":  # it would select nothing: no votes are computed here
        raise ValueError("the predictor decodes S1 by argmax: proposal method 'vote' is for rnastruct s1-infer")
    pruning = pruning or PruneConfig()
    scorer = None  # the fold decoder needs S2 only for a stem term (s2_weight)
    if decoder == "boxes" or (learned is not None and energy.s2_weight):
        s2_model, state = load_s2(s2 or FALLBACK_S2)
        # boxes are worth taking above this S2 probability, and the ViennaRNA energy of each
        # box's own stack or loop counts this much (tuned on validation sequences for base-pair
        # F1 and stored in the checkpoint; 0.5 and 0 = plain log-odds)
        scorer = BoxScorer(s2_model.to(torch.device(device)), torch.device(device), proposal, pruning,
                           float(state.get("box_threshold", 0.5)), float(state.get("energy_weight", 0.0)))
    if decoder == "boxes":
        chosen = BoxAssembly(scorer, max_boxes, allow_pseudoknots)
    elif s1_net is None:
        chosen = TurnerFold(settings)
    elif learned is not None:
        chosen = LearnedFold(settings, scorer if energy.s2_weight else None)
    else:
        chosen = ProposalFold(settings, proposal, pruning)
    return Predictor(s1_net, chosen, threads, device, settings.max_bp_span, stages)


@functools.lru_cache(maxsize=1)
def default_predictor() -> Predictor:
    """The bundled default, loaded once per process."""
    return load_predictor()


def predict(seqs: Iterable[str] | str, names: Iterable[str] | None = None, strict: bool = False,
            **kwargs) -> list[Result]:
    """Predict the secondary structure of each sequence with the bundled default models (or
    those given as ``model=``, ``s1=``/``s2=``; any ``load_predictor`` option) -> one ``Result``
    per sequence, in order. The input policy is ``rnastruct predict``'s: T is read as U, and
    IUPAC codes and modified bases (``R``, ``Y``, ``X``, ``P``, ...) are folded as N (unpairable,
    as RNAfold does) with a warning naming the record and position; ``strict=True``
    (``--strict``) refuses them instead."""
    from ..structure import check_sequences

    seqs = [seqs] if isinstance(seqs, str) else list(seqs)
    names = list(names) if names is not None else [f"seq{k + 1}" for k in range(len(seqs))]
    if len(names) != len(seqs):
        raise InputError(f"{len(names)} names for {len(seqs)} sequences")
    seqs = check_sequences(seqs, names, "input", strict=strict)
    predictor = load_predictor(**kwargs) if kwargs else default_predictor()
    out: list = [None] * len(seqs)
    for k, r in predictor.predict(names, seqs):
        out[k] = r
    return out


def fold(seq: str) -> str:
    """One sequence -> its predicted dot-bracket (the benchmarks' hook)."""
    return predict([seq])[0].structure

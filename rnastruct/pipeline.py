"""The whole predictor: sequence -> S1 box proposals -> pruning -> a decoder.

Two decoders turn the pruned proposals into one structure:

* ``fold`` (the default): ViennaRNA's exact minimum-free-energy dynamic programming (Turner
  2004, every loop type) restricted to the pairs the proposals put forward
  (``boxes.candidate_pairs``). S1 is a learned pruning of the pair space, as LinearFold's beam is
  a heuristic one; S2 is not needed. Measured on held-out segments, its F1 against the MFE
  structure is far above the box decoder's (``bench/predict_heldout.py``), and adding S2
  log-odds as pseudo-energies only lowered it (``bench/fold_s2_bonus.py``).
* ``boxes``: S2 scores every box and ``s2.assemble`` picks the best-scoring consistent set of
  stems and loops exactly (the method of the original two-stage pipeline).

    >>> import rnastruct
    >>> [r.structure for r in rnastruct.predict(["GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"])]

Boxes follow the convention of ``rnastruct.boxes`` (top-right corner ``(bb_x, bb_y)``, sizes
including the closing bases). The bundled default models live in ``rnastruct/models/``; no data
and no network are needed.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch

from .boxes import Box, candidate_pairs, structure_to_boxes
from .folding import energy_of_structure, fold_within
from .s1.allowed import allowed_pair_map
from .s1.infer import ProposalConfig, S1Predictor, check_sequences, proposal_table, select
from .s1.prune import PruneConfig, prune
from .seqio import InputError
from .train import available_cores
from .structure import parse_dot_bracket, split_pseudoknots, to_dot_bracket

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_S1 = MODELS / "s1_default" / "s1.pt"
DEFAULT_S2 = MODELS / "s2_default" / "s2.pt"
#: The bundled model sets: "real" (the default) learned from real structures, its pair scores
#: entering ViennaRNA as pseudo-energies; "mfe" learned from ViennaRNA's MFE folds of human
#: segments (the original method's task); "turner": no learned model at all, ViennaRNA's Turner
#: 2004 alone (RNAfold, with every option of the fold decoder). Each is (S1, S2).
MODEL_SETS = {"real": (MODELS / "real" / "s1.pt", MODELS / "real" / "s2.pt"), "mfe": (DEFAULT_S1, DEFAULT_S2),
              "turner": (None, None)}
DEFAULT_MODEL = "real"


def model_paths(model: str) -> tuple[Path, Path]:
    """A model set's name ("real", "mfe") or folder (holding ``s1.pt``, and ``s2.pt`` for the
    box decoder) -> its (S1, S2) checkpoint paths."""
    if model in MODEL_SETS:
        return MODEL_SETS[model]
    folder = Path(model)
    if not folder.is_dir():
        raise InputError(f"--model {model}: neither a bundled set ({', '.join(MODEL_SETS)}) nor a folder")
    if not (folder / "s1.pt").is_file():
        raise InputError(f"--model {model}: the folder has no s1.pt")
    return folder / "s1.pt", (folder / "s2.pt" if (folder / "s2.pt").is_file() else DEFAULT_S2)


DECODERS = ("fold", "boxes")
PRECISIONS = ("auto", "bf16", "fp32")
#: Below this much work (the sum of L^2 over the sequences) one process does it all: starting
#: worker processes would cost more than they save.
PARALLEL_MIN_PIXELS = 2**20


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Does ``device`` compute in bfloat16 natively (CPU: AMX or AVX512-BF16; GPU: Ampere+)?"""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # private helpers, absent on some builds: then assume not
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:
        return False


class Result(NamedTuple):
    name: str
    seq: str
    structure: str  # dot-bracket
    pairs: np.ndarray  # [P, 2] 0-based, i < j
    energy: float  # free energy of the structure (its nested part), kcal/mol (ViennaRNA, Turner 2004)
    score: float  # total S2 score (log-odds) of the chosen boxes; nan with the fold decoder
    boxes: list[Box]  # the structure's stems, internal loops and hairpins
    # with an ensemble decoding or probs=True (fold decoder): the ensemble's free energy under
    # every energy used (kcal/mol), each base's probability of being unpaired [L], and the pairs
    # with probability >= BPP_CUTOFF as rows (i, j, p) [K, 3] (0-based i < j)
    ensemble_energy: float = float("nan")
    unpaired: np.ndarray | None = None
    bpp: np.ndarray | None = None


#: Pair probabilities below this are not kept (``Result.bpp``, ``--bpp`` files)
BPP_CUTOFF = 1e-3


def _with_ensemble(r: "Result", folded) -> "Result":
    """``r`` with the ensemble fields of a ``folding.Folded`` (when it has probabilities)."""
    if folded.probs is None:
        return r
    P = folded.probs  # [L, L] upper triangle
    unpaired = 1.0 - P.sum(axis=0) - P.sum(axis=1)  # [L]
    i, j = np.nonzero(P >= BPP_CUTOFF)
    bpp = np.stack([i, j, P[i, j]], axis=1) if len(i) else np.zeros((0, 3))
    return r._replace(ensemble_energy=folded.ensemble_energy, unpaired=np.clip(unpaired, 0.0, 1.0), bpp=bpp)


class Predictor:
    """S1 + pruning + a decoder (``fold`` or ``boxes``, see the module docstring), loaded once,
    applied to many sequences.

    ``precision``: "bf16" runs S1 in bfloat16, the precision it trained in (about 3x faster on
    CPUs with AMX; the structure is fp32's for 99.7% of ArchiveII RNAs,
    bench/precision_agreement.py), "fp32" in float32, "auto" (default) picks bf16 where the
    device computes it natively. ``threads``: CPU cores to use (default: all this process may use);
    on CPU a large job runs in that many worker processes of one thread each, which kept both
    cores busy where one process left the second idle during decoding and folding."""

    def __init__(self, s1: str | Path | None = None, s2: str | Path | None = None, device: str = "cpu",
                 proposal: ProposalConfig | None = None, pruning: PruneConfig | None = None,
                 max_boxes: int = 512, tile: int = 512, precision: str = "auto", decoder: str = "fold",
                 threads: int | None = None, allow_pseudoknots: bool = False, model: str = DEFAULT_MODEL,
                 decoding: str | None = None, gamma: float | None = None, threshold: float | None = None,
                 probs: bool = False, shape_slope: float | None = None, shape_intercept: float | None = None):
        from .config import from_dict
        from .learned import FoldEnergy
        from .s1.training import model_from_checkpoint as s1_from_checkpoint
        from .s2.training import model_from_checkpoint

        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is visible (check CUDA_VISIBLE_DEVICES)")
        if decoder not in DECODERS:
            raise InputError(f"unknown decoder {decoder!r}: expected one of {', '.join(DECODERS)}")
        if allow_pseudoknots and decoder != "boxes":
            raise InputError("--allow-pseudoknots needs --decoder boxes: the fold decoder is "
                             "ViennaRNA's MFE, which has no pseudoknots")
        self.allow_pseudoknots = allow_pseudoknots
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        if threads is not None and threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        self.threads, self._set_threads = threads or available_cores(), threads is not None
        self.precision = ("bf16" if native_bf16(device) else "fp32") if precision == "auto" else precision
        self.decoder = decoder
        self.device = torch.device(device)
        if s2 is not None and decoder != "boxes":
            raise InputError(f"--s2 is used by --decoder boxes only; the {decoder} decoder does not read S2")
        set_s1, set_s2 = model_paths(model)
        if set_s1 is None and (s1 is not None or decoder != "fold"):
            raise InputError(f"--model {model} has no learned model: it takes neither --s1 nor --decoder {decoder}")
        s1, s2 = s1 or set_s1, s2 or set_s2
        if s1 is None:  # Turner 2004 alone: a fold energy of weight 0 and no network
            s1_model, s1_state, self.s1 = None, {"fold_energy": dataclasses.asdict(FoldEnergy())}, None
        else:
            s1_model, _, s1_state = s1_from_checkpoint(s1)
            self.s1 = S1Predictor(s1_model, device=device, tile=tile, bf16=self.precision == "bf16")
        # the fold decoder's proposal thresholds are tuned per S1 model on validation sequences
        # (bench/tune_proposals.py) and travel in its checkpoint
        if proposal is None and decoder == "fold" and "fold_proposal" in s1_state:
            proposal = from_dict(ProposalConfig, s1_state["fold_proposal"], f"{s1}: fold_proposal")
        # how a model with a pair head enters ViennaRNA (weight, offset, decoding), chosen on
        # validation structures (bench/tune_learned.py) and stored in its checkpoint; a model
        # without one restricts ViennaRNA to its proposals' pairs
        self.fold_energy = (from_dict(FoldEnergy, s1_state["fold_energy"], f"{s1}: fold_energy")
                            if "fold_energy" in s1_state and decoder == "fold" else None)
        if self.fold_energy is not None and s1_model is not None and getattr(s1_model, "pair_prob", None) is None:
            raise InputError(f"{s1}: has fold_energy settings but no pair head")
        overrides = {k: v for k, v in (("decoding", decoding), ("gamma", gamma), ("threshold", threshold))
                     if v is not None}
        if overrides and decoder != "fold":
            raise InputError(f"--{next(iter(overrides))} is an option of the fold decoder, not of --decoder {decoder}")
        self.decoding = dataclasses.replace(self.fold_energy or FoldEnergy(), **overrides)
        self.decoding.validate()
        if probs and decoder != "fold":
            raise InputError(f"pair probabilities come from the fold decoder, not from --decoder {decoder}")
        from .folding import SHAPE_INTERCEPT, SHAPE_SLOPE

        self.probs = probs
        self.shape_slope = SHAPE_SLOPE if shape_slope is None else shape_slope
        self.shape_intercept = SHAPE_INTERCEPT if shape_intercept is None else shape_intercept
        self.s2 = None  # the fold decoder needs S2 only for a stem term (s2_weight)
        if decoder == "boxes" or (self.fold_energy is not None and self.decoding.s2_weight):
            self.s2, self.s2_cfg, state = model_from_checkpoint(s2 or DEFAULT_S2)
            self.s2.to(self.device)
            # boxes are worth taking above this S2 probability (tuned on validation sequences
            # for base-pair F1 and stored in the checkpoint; 0.5 = plain log-odds)
            self.box_threshold = float(state.get("box_threshold", 0.5))
            self._offset = float(np.log(self.box_threshold / (1 - self.box_threshold)))
            # and the ViennaRNA energy of each box's own stack or loop (kcal/mol) counts this much
            self.energy_weight = float(state.get("energy_weight", 0.0))
        self.proposal = proposal or ProposalConfig()
        self.proposal.validate()
        if self.proposal.method == "vote":  # it would select nothing: no votes are computed here
            raise ValueError("the predictor decodes S1 by argmax: proposal method 'vote' is for rnastruct s1-infer")
        self.pruning = pruning or PruneConfig()
        self.max_boxes = max_boxes

    @torch.inference_mode()
    def s2_logits(self, boxes: dict, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """S2's log-odds of one sequence's pruned boxes (``BOX_COLUMNS`` table) -> ``([N],
        [N, F] features)``."""
        from .s2.features import box_features

        n = len(boxes["type"])
        feats = box_features(boxes, seq)  # [N, F]
        if n == 0:
            return np.zeros(0), feats
        mask = torch.ones(1, n, dtype=torch.bool, device=self.device)
        logits = self.s2(torch.from_numpy(feats)[None].to(self.device), mask)[0]  # [N]
        return logits.float().cpu().numpy().astype(np.float64), feats

    def score_boxes(self, boxes: dict, seq: str) -> np.ndarray:
        """Assembly scores of one sequence's pruned boxes (``BOX_COLUMNS`` table) -> ``[N]``:
        S2 log-odds relative to ``box_threshold`` (positive = worth taking), minus
        ``energy_weight`` times the box's own ViennaRNA energy."""
        from .s2.features import FEATURES

        logits, feats = self.s2_logits(boxes, seq)
        energy = feats[:, FEATURES.index("energy")].astype(np.float64) * 10  # kcal/mol
        return logits - self._offset - self.energy_weight * energy

    def stem_scores(self, proposals: dict, seq: str, max_boxes: int) -> np.ndarray:
        """One sequence's S1 proposals -> S2's view of each pair, ``learned.stem_pair_scores``:
        the raw log-odds of the best stem box holding it among the selected, pruned boxes (at
        most ``max_boxes``, the best supported); ``s2_offset`` of the fold energy plays the box
        threshold's part."""
        from .learned import stem_pair_scores
        from .s2.training import ranked_subset

        boxes = self.pruned(proposals, seq)
        boxes = {c: v[ranked_subset(boxes, max_boxes)] for c, v in boxes.items()}
        return stem_pair_scores(boxes, self.s2_logits(boxes, seq)[0], len(seq))

    def stem_score_maps(self, seqs: list[str], max_boxes: int,
                        progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, stem_scores(...))`` for every sequence, in the order of S1's length
        batches (the order of ``S1Predictor.pair_logits`` too)."""
        for k, tiles in self.s1.pixel_tiles(seqs, progress=progress):
            yield k, self.stem_scores(proposal_table(tiles), seqs[k], max_boxes)

    def pruned(self, proposals: dict, seq: str) -> dict:
        """One sequence's S1 proposals (``targets.decode`` rows) -> the boxes this predictor's
        thresholds select and its pruning keeps (``BOX_COLUMNS`` table)."""
        return prune(select(proposals, self.proposal), seq, self.pruning)

    def candidates(self, proposals: dict, seq: str) -> tuple[dict, np.ndarray]:
        """One sequence's S1 proposals (``targets.decode`` rows) -> the boxes S2 sees
        (selected, pruned, at most ``max_boxes``; ``BOX_COLUMNS`` table) and their scores."""
        from .s2.training import ranked_subset

        boxes = self.pruned(proposals, seq)
        boxes = {c: v[ranked_subset(boxes, self.max_boxes)] for c, v in boxes.items()}
        return boxes, self.score_boxes(boxes, seq)

    def assemble(self, boxes: dict, scores: np.ndarray, seq: str):
        """The exact assembly with this predictor's loop scoring -> ``assemble.Assembly``."""
        from .s2.assemble import assemble

        return assemble(boxes, scores, seq, unproposed_loop_score(seq, self.energy_weight))

    def allowed_pairs(self, proposals: dict, seq: str) -> np.ndarray:
        """One sequence's S1 proposals -> the pairs the fold decoder may use ``[P, 2]``: those
        of the selected, pruned boxes (``boxes.candidate_pairs``; no ``max_boxes`` cap)."""
        boxes = self.pruned(proposals, seq)
        return candidate_pairs(boxes["type"], boxes["bb_x"], boxes["bb_y"], boxes["siz_x"],
                               boxes["siz_y"], len(seq))

    def decode(self, name: str, seq: str, proposals: dict, constraint: str | None = None,
               shape: np.ndarray | None = None) -> Result:
        """One sequence's S1 proposals (``targets.decode`` table) -> its ``Result`` with this
        predictor's decoder."""
        if self.decoder == "fold":
            return self._fold(name, seq, self.allowed_pairs(proposals, seq), constraint, shape)
        boxes, scores = self.candidates(proposals, seq)
        result = self.assemble(boxes, scores, seq)
        if self.allow_pseudoknots:
            from .s2.assemble import add_pseudoknots

            result = add_pseudoknots(result, boxes, scores, seq)
        structure = to_dot_bracket(result.pairs, len(seq))
        # Turner 2004 has no pseudoknot energies: the energy is the nested ("()") part's
        nested = "".join(c if c in "()" else "." for c in structure)
        return Result(name, seq, structure, result.pairs, energy_of_structure(seq, nested),
                      result.score, result.boxes)

    def decode_tiles(self, name: str, seq: str, tiles, constraint: str | None = None,
                     shape: np.ndarray | None = None) -> Result:
        """``decode`` from one sequence's pixel proposals (``S1Predictor.pixel_tiles``). The
        fold decoder takes its allowed pairs straight from them (``s1.allowed``: the same
        pairs as ``allowed_pairs``, several times faster) unless a pruning rule reads pixel
        counts or probabilities."""
        if self.decoder == "fold" and self.pruning.geometry_only:
            return self._fold(name, seq, allowed_pair_map(tiles, seq, self.proposal, self.pruning), constraint, shape)
        return self.decode(name, seq, proposal_table(tiles), constraint, shape)

    def _fold(self, name: str, seq: str, allowed: np.ndarray, constraint: str | None = None,
              shape: np.ndarray | None = None) -> Result:
        if self.decoding.decoding != "mfe" or self.probs or constraint is not None or shape is not None:
            # ViennaRNA over the allowed pairs, with the options; a constraint's forced pairs
            # are allowed whatever S1 proposed
            if allowed.dtype == bool:
                allowed = np.argwhere(np.triu(allowed, 1))
            if constraint is not None:
                allowed = np.unique(np.concatenate([allowed.reshape(-1, 2), forced_pairs(constraint)]), axis=0)
            return self._fold_with(name, seq, None, allowed, constraint, shape)
        structure, energy = fold_within(seq, allowed)
        pairs = parse_dot_bracket(structure)
        return Result(name, seq, structure, pairs, energy, float("nan"), structure_to_boxes(pairs, len(seq)))

    def predict(self, names: list[str], seqs: list[str], progress: bool = False, constraints: list | None = None,
                shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        """Yield ``(index, Result)`` for every sequence, in an order of the batching's choosing.
        The results do not depend on ``threads``: each sequence is computed alone the same way."""
        parallel = (self.threads > 1 and self.device.type == "cpu" and len(seqs) > 1
                    and sys.platform.startswith("linux")  # fork with torch is unsafe on macOS
                    and sum(len(s) ** 2 for s in seqs) >= PARALLEL_MIN_PIXELS)
        if (constraints and any(c is not None for c in constraints)) or (shapes and any(x is not None for x in shapes)):
            if self.decoder != "fold":
                raise InputError(f"constraints and probing data need the fold decoder, not --decoder {self.decoder}")
        if parallel:
            yield from self._predict_parallel(names, seqs, progress, constraints, shapes)
            return
        if self._set_threads:
            torch.set_num_threads(self.threads)
        yield from self._predict_serial(names, seqs, progress, constraints, shapes)

    def _predict_serial(self, names: list[str], seqs: list[str], progress: bool = False,
                        constraints: list | None = None, shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        constraints = constraints or [None] * len(seqs)
        shapes = shapes or [None] * len(seqs)
        if self.s1 is None:
            for k in range(len(seqs)):
                yield k, self._fold_with(names[k], seqs[k], None, None, constraints[k], shapes[k])
            return
        if self.fold_energy is not None and self.decoding.s2_weight:
            # both generators walk the same length batches, so the k-th items are one sequence's;
            # S2's features read every statistic of the proposals (not light ones)
            stem_maps = self.stem_score_maps(seqs, self.decoding.s2_max_boxes)
            for (k, logits), (k2, stems) in zip(self.s1.pair_logits(seqs, progress=progress), stem_maps, strict=True):
                assert k == k2
                yield k, self.fold_learned(names[k], seqs[k], logits, constraints[k], shapes[k], stems)
            return
        if self.fold_energy is not None:
            for k, logits in self.s1.pair_logits(seqs, progress=progress):
                yield k, self.fold_learned(names[k], seqs[k], logits, constraints[k], shapes[k])
            return
        for k, tiles in self.s1.pixel_tiles(seqs, progress=progress, light=self._light):
            yield k, self.decode_tiles(names[k], seqs[k], tiles, constraints[k], shapes[k])

    def fold_learned(self, name: str, seq: str, logits: np.ndarray, constraint: str | None = None,
                     shape: np.ndarray | None = None, stems: np.ndarray | None = None) -> Result:
        """One sequence's pair logits ``[L, L]`` -> its ``Result``: ViennaRNA (Turner 2004) plus
        the learned pseudo-energies (``learned.pair_pseudo_energies``, and S2's stem term when
        ``stems`` are given: ``learned.stem_pair_scores``), decoded as ``self.decoding`` says,
        under an optional hard ``constraint`` and SHAPE data."""
        from .learned import pair_pseudo_energies, stem_pseudo_energies

        d = self.decoding
        energy = pair_pseudo_energies(logits, seq, d.weight, d.offset) if d.weight else None
        if stems is not None:
            stem_energy = stem_pseudo_energies(stems, d.s2_weight, d.s2_offset)  # [L, L]
            energy = stem_energy if energy is None else energy + stem_energy
        return self._fold_with(name, seq, energy, None, constraint, shape)

    def _fold_with(self, name: str, seq: str, energy, allowed, constraint, shape) -> Result:
        from .folding import fold_full

        d = self.decoding
        try:
            folded = fold_full(seq, energy, [(d.decoding, d.gamma, d.threshold)], allowed=allowed,
                               constraint=constraint, shape=shape, shape_slope=self.shape_slope,
                               shape_intercept=self.shape_intercept, probs=self.probs,
                               prob_scale=d.prob_scale)[0]
        except ValueError as e:
            raise InputError(f"record {name}: {e}") from None
        if constraint is not None:
            problem = constraint_violation(constraint, folded.pairs)
            if problem:
                raise InputError(f"record {name}: the constraint cannot be satisfied ({problem})")
        pairs = folded.pairs
        boxes = structure_to_boxes(split_pseudoknots(pairs)[0], len(seq))
        r = Result(name, seq, to_dot_bracket(pairs, len(seq)), pairs, folded.energy, float("nan"), boxes)
        return _with_ensemble(r, folded)

    @property
    def _light(self) -> bool:
        # the fold decoder reads no probability statistics, unless a pruning rule does
        return self.decoder == "fold" and self.pruning.min_prob == 0

    def _predict_parallel(self, names: list[str], seqs: list[str], progress: bool = False,
                          constraints: list | None = None, shapes: list | None = None) -> Iterator[tuple[int, Result]]:
        """``predict`` in ``self.threads`` forked worker processes, one thread each, over chunks
        of similar length (so S1 still batches), longest first (so no worker is left with a
        long tail)."""
        from tqdm import tqdm

        global _FORKED
        order = np.argsort([-len(s) for s in seqs], kind="stable")
        pixels = np.cumsum([len(seqs[i]) ** 2 for i in order])
        # about 16 chunks per worker: balanced, yet each large enough to batch
        per_chunk = max(pixels[-1] / (16 * self.threads), S1Predictor.CPU_BATCH_PIXELS)
        cuts = np.searchsorted(pixels, np.arange(per_chunk, pixels[-1], per_chunk), side="right")
        chunks = [c for c in np.split(order, np.unique(cuts)) if len(c)]
        _FORKED = self
        try:
            with mp.get_context("fork").Pool(self.threads, initializer=torch.set_num_threads,
                                             initargs=(1,)) as pool, \
                    tqdm(total=len(seqs), unit="seq", disable=not progress, dynamic_ncols=True,
                         mininterval=0.5, desc="predict") as bar:
                tasks = [(c.tolist(), [names[i] for i in c], [seqs[i] for i in c],
                          [constraints[i] for i in c] if constraints else None,
                          [shapes[i] for i in c] if shapes else None) for c in chunks]
                for part in pool.imap_unordered(_predict_chunk, tasks):
                    bar.update(len(part))
                    yield from part
        finally:
            _FORKED = None


_FORKED: Predictor | None = None  # the predictor whose forked workers are running


def _predict_chunk(task: tuple[list[int], list[str], list[str]]) -> list[tuple[int, Result]]:
    """In a worker: one chunk of ``Predictor._predict_parallel`` -> ``(index, Result)`` pairs."""
    index, names, seqs, constraints, shapes = task
    return [(index[k], r) for k, r in _FORKED._predict_serial(names, seqs, False, constraints, shapes)]


def unproposed_loop_score(seq: str, energy_weight: float):
    """Score of a loop the assembled structure implies but nobody proposed: minus
    ``energy_weight`` times its ViennaRNA energy (kcal/mol), like a proposed box's energy term,
    so that leaving a loop unproposed is no cheaper than proposing it."""
    from .folding import box_energies

    def score(kind: str, loops: np.ndarray) -> np.ndarray:
        if energy_weight == 0 or not len(loops):
            return np.zeros(len(loops))
        e = box_energies(seq, [kind] * len(loops), loops[:, 0], loops[:, 1], loops[:, 2], loops[:, 3])
        return -energy_weight * np.asarray(e, np.float64)

    return score


def forced_pairs(constraint: str) -> np.ndarray:
    """The ``( )`` pairs of an RNAfold constraint -> ``[P, 2]`` 0-based (``check_constraint``
    has checked the brackets)."""
    stack, out = [], []
    for k, c in enumerate(constraint):
        if c == "(":
            stack.append(k)
        elif c == ")":
            out.append((stack.pop(), k))
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


def constraint_violation(constraint: str, pairs: np.ndarray) -> str:
    """The first way ``pairs`` break an RNAfold constraint (1-based positions), or ''."""
    L = len(constraint)
    partner = np.full(L, -1)
    for i, j in np.asarray(pairs).reshape(-1, 2).tolist():
        partner[i], partner[j] = j, i
    for i, j in forced_pairs(constraint).tolist():
        if partner[i] != j:
            return f"pair {i + 1}-{j + 1} is not formed"
    for k, c in enumerate(constraint):
        if c == "x" and partner[k] >= 0:
            return f"base {k + 1} must stay unpaired"
        if c == "|" and partner[k] < 0:
            return f"base {k + 1} must pair"
        if c == "<" and not partner[k] > k:
            return f"base {k + 1} must pair downstream"
        if c == ">" and not (0 <= partner[k] < k):
            return f"base {k + 1} must pair upstream"
    return ""


_DEFAULT: Predictor | None = None


def predict(seqs: Iterable[str] | str, names: Iterable[str] | None = None, strict: bool = True,
            **kwargs) -> list[Result]:
    """Predict the secondary structure of each sequence with the bundled default models (or
    those given as ``model=``, ``s1=``/``s2=``; any ``Predictor`` option) -> one ``Result`` per
    sequence, in order. ``strict=False`` folds letters other than A C G U N as N (with a
    warning), as ``rnastruct predict`` does."""
    global _DEFAULT
    seqs = [seqs] if isinstance(seqs, str) else list(seqs)
    names = list(names) if names is not None else [f"seq{k + 1}" for k in range(len(seqs))]
    if len(names) != len(seqs):
        raise InputError(f"{len(names)} names for {len(seqs)} sequences")
    seqs = check_sequences(seqs, names, "input", strict=strict)
    if kwargs:
        predictor = Predictor(**kwargs)
    else:
        _DEFAULT = _DEFAULT or Predictor()
        predictor = _DEFAULT
    out: list = [None] * len(seqs)
    for k, r in predictor.predict(names, seqs):
        out[k] = r
    return out


def fold(seq: str) -> str:
    """One sequence -> its predicted dot-bracket (the benchmarks' hook)."""
    return predict([seq])[0].structure


# ---------------------------------------------------------------------------------------------
# outputs: formats, files and pictures of results

FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")


def format_result(r: Result, fmt: str) -> str:
    from .seqio import Record, format_bpseq, format_ct

    if fmt == "rnafold":
        return f">{r.name}\n{r.seq}\n{r.structure} ({r.energy:6.2f})\n"
    if fmt == "dot-bracket":
        return f">{r.name}\n{r.structure}\n"
    if fmt == "bpseq":
        return format_bpseq(Record(r.name, r.seq, r.pairs))
    if fmt == "ct":
        return format_ct(Record(r.name, r.seq, r.pairs))
    raise ValueError(fmt)


def json_record(r: Result) -> dict:
    out = {"name": r.name, "sequence": r.seq, "structure": r.structure, "energy": r.energy,
           "score": None if np.isnan(r.score) else r.score,
           "pairs": r.pairs.tolist(), "boxes": [b._asdict() for b in r.boxes]}
    if r.unpaired is not None:
        out["ensemble_energy"] = round(r.ensemble_energy, 4)
        out["unpaired_probability"] = [round(float(x), 6) for x in r.unpaired]
    return out


def dot_plot(r: Result, stem: Path) -> None:
    """``stem.dp.png`` and ``stem.dp.svg``: RNAfold's dot plot layout, each pair's probability as
    a square (side proportional to its square root) in the upper triangle, the predicted
    structure's pairs in the lower one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .seqio import atomic_path

    L = len(r.seq)
    fig = Figure(figsize=(6, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    squares = []
    for i, j, p in r.bpp:
        side = float(np.sqrt(p))
        squares.append(Rectangle((j + 0.5 - side / 2, i + 0.5 - side / 2), side, side))  # x = column j, y = row i
    ax.add_collection(PatchCollection(squares, facecolor="black", edgecolor="none"))
    ax.add_collection(PatchCollection([Rectangle((i, j), 1, 1) for i, j in r.pairs.tolist()],
                                      facecolor="tab:red", edgecolor="none"))
    ax.plot([0, L], [0, L], color="0.6", linewidth=0.5)
    ax.set_xlim(0, L)
    ax.set_ylim(L, 0)
    ax.set_aspect("equal")
    ax.xaxis.tick_top()
    ax.set_xlabel("position (nt)")
    ax.set_ylabel("position (nt)")
    short = r.name if len(r.name) <= 40 else r.name[:39] + "…"
    ax.set_title(f"{short} ({L} nt): pair probabilities (upper right, square side ~ sqrt p), "
                 f"predicted structure (lower left, red); ensemble {r.ensemble_energy:.2f} kcal/mol",
                 fontsize="small", wrap=True)
    for suffix in (".png", ".svg"):
        path = with_suffix(stem, ".dp" + suffix)
        with atomic_path(path, suffix=suffix) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=120)


def file_stem(name: str) -> str:
    """A record name as a file stem, unique and stable: the name itself when it is a safe file
    name, else its safe characters plus 8 hex digits of its SHA-1 (so ``a/b`` and ``a_b`` never
    share a file). Suffixes are appended, never substituted: ``NM_000014.4`` keeps its ``.4``."""
    import hashlib

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    if safe == name and not name.startswith("."):
        return name
    return f"{safe.lstrip('.') or 'record'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def with_suffix(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)


def draw(r: Result, stem: Path) -> None:
    """``stem.svg``: ViennaRNA's drawing of the structure; ``stem.png``: the pair map with the
    chosen boxes (box convention of ``rnastruct.boxes``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .folding import svg_plot
    from .plots import BOX_COLOURS, save_png
    from .structure import canonical_map
    from .seqio import atomic_path

    with atomic_path(with_suffix(stem, ".svg"), suffix=".svg") as tmp:
        svg_plot(r.seq, r.structure, tmp, title=f"{r.name} ({len(r.seq)} nt, {len(r.pairs)} pairs, "
                                                 f"{r.energy:.2f} kcal/mol)")
    L = len(r.seq)
    fig = Figure(figsize=(5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(np.triu(canonical_map(r.seq), 1), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    for b in r.boxes:
        ax.add_patch(Rectangle((b.bb_y - b.siz_y + 0.5, b.bb_x - 0.5), b.siz_y, b.siz_x, fill=False,
                               edgecolor=BOX_COLOURS[b.type], linewidth=1.5, label=b.type))
    if len(r.pairs):
        ax.plot(r.pairs[:, 1], r.pairs[:, 0], "k.", markersize=3, label="base pair")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="none", edgecolor=BOX_COLOURS[t], label={"stem": "stem", "iloop": "internal loop / bulge",
                                                                         "hloop": "hairpin loop"}[t])
               for t in ("stem", "iloop", "hloop")]
    handles += [Line2D([], [], color="k", marker=".", linestyle="none", label="base pair"),
                Patch(facecolor="0.6", label="canonical pair possible")]
    ax.legend(handles=handles, loc="lower left", fontsize="x-small", framealpha=0.9)
    ax.set_xlabel("j (nt)")
    ax.set_ylabel("i (nt)")
    short = r.name if len(r.name) <= 40 else r.name[:39] + "…"
    ax.set_title(f"{short}: {L} nt, {len(r.pairs)} pairs, {r.energy:.2f} kcal/mol\n"
                 "pair map (row i, column j) with the structure's boxes", fontsize="small")
    save_png(fig, with_suffix(stem, ".png"))

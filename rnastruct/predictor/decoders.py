"""Decoders: one sequence and S1's output -> a ``Result``. Four, with one interface:

* ``TurnerFold``: ViennaRNA's Turner 2004 alone (RNAfold), no S1 output;
* ``LearnedFold`` (the default): Turner 2004 plus the learned pair pseudo-energies of S1's pair
  head (``learned.FoldEnergy``), and S2's stem term when its weight is set;
* ``ProposalFold``: ViennaRNA restricted to the pairs of the boxes S1 proposes and pruning
  keeps (``boxes.candidate_pairs``; models without a pair head);
* ``BoxAssembly``: S2 scores the proposed boxes and ``s2.assemble`` picks the best-scoring
  consistent set of stems and loops exactly (no ViennaRNA).

Each decoder says which S1 output it reads (``s1_output``: none, the pair logits, the pixel
proposals, or both) and decodes one sequence at a time with ``decode(name, seq, s1_output,
constraint, shape)``; its settings are constructor arguments. The three fold decoders share
``FoldSettings`` (decoding, probabilities, SHAPE) and fold from one ViennaRNA fold compound
(``folding.fold_full``), under RNAfold hard constraints and SHAPE data.

Importing this module loads no PyTorch (what S1's proposals and S2 need is imported where it is
used): ``TurnerFold`` and ``LearnedFold`` decode in a process that never loads it
(``predictor.apart``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..boxes import candidate_pairs, structure_to_boxes
from ..constraints import constraint_violation, forced_pairs
from ..errors import InputError
from ..folding import SHAPE_INTERCEPT, SHAPE_SLOPE, box_energies, energy_of_structure, fold_full, fold_within
from ..learned import FoldEnergy, stem_pair_scores
from ..s1.prune import prune
from ..s2.assemble import add_pseudoknots, assemble
from ..s2.data import ranked_subset
from ..s2.features import FEATURES, box_features
from ..structure import parse_dot_bracket, split_pseudoknots, to_dot_bracket
from .outputs import BPP_CUTOFF, Result, with_ensemble

#: ``rnastruct predict --decoder``
DECODERS = ("fold", "boxes")
#: What a decoder reads from S1 (``Decoder.s1_output``)
NO_S1, LOGITS, TILES, LOGITS_AND_TILES = "none", "logits", "tiles", "logits+tiles"


@dataclass
class FoldSettings:
    """How a fold decoder decodes: ``energy`` holds the decoding (mfe, mea, centroid,
    threshknot), its gamma and threshold, the probability scale, and for ``LearnedFold`` the
    pseudo-energy weights; ``probs``: report pair probabilities; SHAPE: Deigan et al.'s slope
    and intercept (kcal/mol); ``max_bp_span``: no pair (i, j) with j - i above it (RNAfold's
    ``--maxBPspan``; None: no limit); ``stages``: show each stage of ViennaRNA's dynamic
    programme, with the elapsed time, on sequences longer than ``STAGES_MIN_LENGTH``."""

    energy: FoldEnergy
    probs: bool = False
    shape_slope: float = SHAPE_SLOPE
    shape_intercept: float = SHAPE_INTERCEPT
    max_bp_span: int | None = None
    stages: bool = False

    def fold(self, name: str, seq: str, pair_energy, allowed, constraint, shape, forbid=None) -> Result:
        """ViennaRNA with these settings, ``pair_energy`` (``[L, L]`` kcal/mol or None) and pairs
        outside ``allowed`` (or None) and in ``forbid`` (or None) forbidden -> the ``Result``.
        The constraint is checked on the structure (a ThreshKnot decoding may break it)."""
        e = self.energy
        try:
            with _stage_bar(name, len(seq), enabled=self.stages and len(seq) > STAGES_MIN_LENGTH) as stage:
                folded = fold_full(seq, pair_energy, [(e.decoding, e.gamma, e.threshold)], allowed=allowed,
                                   constraint=constraint, shape=shape, shape_slope=self.shape_slope,
                                   shape_intercept=self.shape_intercept, probs=self.probs,
                                   prob_scale=e.prob_scale, max_bp_span=self.max_bp_span,
                                   bpp_cutoff=BPP_CUTOFF, forbid=forbid, on_stage=stage)[0]
        except ValueError as err:
            raise InputError(f"record {name}: {err}") from None
        if constraint is not None:
            problem = constraint_violation(constraint, folded.pairs)
            if problem:
                raise InputError(f"record {name}: the constraint cannot be satisfied ({problem})")
        pairs = folded.pairs
        boxes = structure_to_boxes(split_pseudoknots(pairs)[0], len(seq))
        r = Result(name, seq, to_dot_bracket(pairs, len(seq)), pairs, folded.energy, float("nan"), boxes)
        if pair_energy is not None:  # the learned part of the structure's energy under the model
            r = r._replace(learned_energy=round(_energy_of_pairs(pair_energy, pairs, len(seq)), 2))
        return with_ensemble(r, folded)


#: ``FoldSettings.stages``: sequences longer than this show ViennaRNA's stages (shorter ones
#: fold in seconds)
STAGES_MIN_LENGTH = 512


@contextlib.contextmanager
def _stage_bar(name: str, length: int, enabled: bool):
    """A one-line status on stderr for one sequence's dynamic programme -> a function taking each
    stage's name ("minimum free energy", "partition function", ...), redrawn with the elapsed
    time at each. ViennaRNA's recursions are one call each and give no finer progress."""
    from tqdm import tqdm

    if not enabled:
        yield None
        return
    with tqdm(total=None, leave=False, dynamic_ncols=True, desc=f"fold {name} ({length} nt): ViennaRNA",
              bar_format="{desc} [{elapsed}]") as bar:
        def stage(what: str) -> None:
            bar.set_description_str(f"fold {name} ({length} nt): ViennaRNA {what}")
        yield stage


def _energy_of_pairs(pair_energy, pairs, length: int) -> float:
    """The pseudo-energy (kcal/mol) of ``pairs`` under ``pair_energy``: an ``[L, L]`` map, or
    the list form ``(pairs [K, 2], energies [K])`` (a pair it does not list has none)."""
    ij = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not isinstance(pair_energy, tuple):
        return float(pair_energy[ij[:, 0], ij[:, 1]].sum())
    listed, energy = np.asarray(pair_energy[0], np.int64).reshape(-1, 2), np.asarray(pair_energy[1])
    if not len(listed):
        return 0.0
    keys = listed[:, 0] * length + listed[:, 1]  # [K]
    order = np.argsort(keys)
    keys, energy = keys[order], energy[order]
    at = np.clip(np.searchsorted(keys, ij[:, 0] * length + ij[:, 1]), 0, len(keys) - 1)  # [P]
    return float(energy[at][keys[at] == ij[:, 0] * length + ij[:, 1]].sum())


class Decoder:
    """One sequence and S1's output -> its ``Result``."""

    s1_output = NO_S1
    light = False  # with TILES: the pixel proposals without probability statistics
    takes_constraints = True  # hard constraints and SHAPE data

    def decode(self, name: str, seq: str, s1_output, constraint: str | None = None,
               shape: np.ndarray | None = None) -> Result:
        raise NotImplementedError


class TurnerFold(Decoder):
    """ViennaRNA's Turner 2004 alone."""

    def __init__(self, settings: FoldSettings):
        self.settings = settings

    def decode(self, name, seq, s1_output=None, constraint=None, shape=None) -> Result:
        return self.settings.fold(name, seq, None, None, constraint, shape)


class LearnedFold(Decoder):
    """Turner 2004 plus the learned pseudo-energies of S1's pair logits ``[L, L]`` (or their band
    ``[L, W + 1]`` under a span limit W, ``S1Predictor.pair_logits``) (``settings.energy``) and,
    with ``stems`` (a ``BoxScorer``) and an S2 weight, S2's stem term from S1's pixel
    proposals."""

    def __init__(self, settings: FoldSettings, stems: "BoxScorer | None" = None):
        if stems is not None and settings.max_bp_span is not None:
            raise InputError("--max-bp-span does not work with an S2 stem term (s2_weight)")
        self.settings, self.stems = settings, stems
        self.s1_output = LOGITS_AND_TILES if stems is not None else LOGITS

    def decode(self, name, seq, s1_output, constraint=None, shape=None) -> Result:
        energy = self.settings.energy
        if self.stems is not None:
            from ..s1.infer import proposal_table

            logits, tiles = s1_output
            stem_scores = self.stems.stem_scores(proposal_table(tiles), seq, energy.s2_max_boxes)
        else:
            logits, stem_scores = s1_output, None
        del s1_output  # with logits below, the map is freed before the DP (when the caller holds none)
        if stem_scores is None and energy.weight:  # the formable pairs only: a tenth of the map
            pseudo = energy.pair_energy_list(logits, seq)
            del logits
            forbid = energy.pruned(pseudo, seq)
            if constraint is None:  # ViennaRNA then prices only the pairs a structure may hold
                pseudo = energy.kept(pseudo)
            return self.settings.fold(name, seq, pseudo, None, constraint, shape, forbid)
        pseudo = energy.pseudo_energies(logits, seq, stem_scores)
        return self.settings.fold(name, seq, pseudo, None, constraint, shape, energy.pruned(pseudo, seq))


class ProposalFold(Decoder):
    """ViennaRNA over the pairs of S1's selected, pruned boxes (pixel proposals, tile by tile);
    a constraint's forced pairs are allowed whatever S1 proposed."""

    s1_output = TILES

    def __init__(self, settings: FoldSettings, proposal, pruning):
        self.settings, self.proposal, self.pruning = settings, proposal, pruning
        # the pairs read no probability statistics, unless a pruning rule does
        self.light = pruning.min_prob == 0

    def allowed_pairs(self, tiles, seq: str) -> np.ndarray:
        """One sequence's pixel proposals -> the allowed pairs: an ``[L, L]`` map straight from
        the pixels (``s1.allowed``: the same pairs as ``box_pairs``, several times faster) when
        every pruning rule reads the box alone, else ``box_pairs``."""
        from ..s1.allowed import allowed_pair_map
        from ..s1.infer import proposal_table

        if self.pruning.geometry_only:
            return allowed_pair_map(tiles, seq, self.proposal, self.pruning)
        return self.box_pairs(proposal_table(tiles), seq)

    def box_pairs(self, proposals: dict, seq: str) -> np.ndarray:
        """One sequence's S1 proposals (``targets.decode`` rows) -> the pairs of the selected,
        pruned boxes ``[P, 2]`` (``boxes.candidate_pairs``)."""
        from ..s1.infer import select

        boxes = prune(select(proposals, self.proposal), seq, self.pruning)
        return candidate_pairs(boxes["type"], boxes["bb_x"], boxes["bb_y"], boxes["siz_x"],
                               boxes["siz_y"], len(seq))

    def decode(self, name, seq, s1_output, constraint=None, shape=None) -> Result:
        return self.fold_over(name, seq, self.allowed_pairs(s1_output, seq), constraint, shape)

    def fold_over(self, name: str, seq: str, allowed: np.ndarray, constraint: str | None = None,
                  shape: np.ndarray | None = None) -> Result:
        """ViennaRNA with every pair outside ``allowed`` (``[P, 2]`` or an ``[L, L]`` map)
        forbidden: the plain MFE (``folding.fold_within``), or with the settings' options."""
        s = self.settings
        if (s.energy.decoding != "mfe" or s.probs or constraint is not None or shape is not None
                or s.max_bp_span is not None):
            if allowed.dtype == bool:
                allowed = np.argwhere(np.triu(allowed, 1))
            if constraint is not None:
                allowed = np.unique(np.concatenate([allowed.reshape(-1, 2), forced_pairs(constraint)]), axis=0)
            return s.fold(name, seq, None, allowed, constraint, shape)
        structure, energy = fold_within(seq, allowed)
        pairs = parse_dot_bracket(structure)
        return Result(name, seq, structure, pairs, energy, float("nan"), structure_to_boxes(pairs, len(seq)))


class BoxScorer:
    """S2 on S1's proposals: select (``proposal``), prune (``pruning``), score each box.
    ``box_threshold``: the S2 probability above which a box is worth taking; ``energy_weight``:
    how much each box's own ViennaRNA energy (kcal/mol) counts (both tuned per S2 checkpoint)."""

    def __init__(self, model, device, proposal, pruning, box_threshold: float = 0.5, energy_weight: float = 0.0):
        self.model, self.device = model, device
        self.proposal, self.pruning = proposal, pruning
        self.box_threshold, self.energy_weight = box_threshold, energy_weight
        self._offset = float(np.log(box_threshold / (1 - box_threshold)))

    def pruned(self, proposals: dict, seq: str) -> dict:
        """One sequence's S1 proposals (``targets.decode`` rows) -> the boxes the thresholds
        select and the pruning keeps (``BOX_COLUMNS`` table)."""
        from ..s1.infer import select

        return prune(select(proposals, self.proposal), seq, self.pruning)

    def best_supported(self, proposals: dict, seq: str, max_boxes: int) -> dict:
        """``pruned``, at most ``max_boxes`` of them, the best supported."""
        boxes = self.pruned(proposals, seq)
        return {c: v[ranked_subset(boxes, max_boxes)] for c, v in boxes.items()}

    def logits(self, boxes: dict, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """S2's log-odds of one sequence's boxes (``BOX_COLUMNS`` table) -> ``([N], [N, F]
        features)``."""
        import torch

        n = len(boxes["type"])
        feats = box_features(boxes, seq)  # [N, F]
        if n == 0:
            return np.zeros(0), feats
        with torch.inference_mode():
            mask = torch.ones(1, n, dtype=torch.bool, device=self.device)
            logits = self.model(torch.from_numpy(feats)[None].to(self.device), mask)[0]  # [N]
        return logits.float().cpu().numpy().astype(np.float64), feats

    def scores(self, boxes: dict, seq: str) -> np.ndarray:
        """Assembly scores of one sequence's boxes -> ``[N]``: S2 log-odds relative to
        ``box_threshold`` (positive = worth taking), minus ``energy_weight`` times the box's own
        ViennaRNA energy."""
        logits, feats = self.logits(boxes, seq)
        energy = feats[:, FEATURES.index("energy")].astype(np.float64) * 10  # kcal/mol
        return logits - self._offset - self.energy_weight * energy

    def stem_scores(self, proposals: dict, seq: str, max_boxes: int) -> np.ndarray:
        """One sequence's S1 proposals -> S2's view of each pair, ``learned.stem_pair_scores``:
        the raw log-odds of the best stem box holding it among the ``max_boxes`` best supported
        boxes (the fold energy's ``s2_offset`` plays the box threshold's part)."""
        boxes = self.best_supported(proposals, seq, max_boxes)
        return stem_pair_scores(boxes, self.logits(boxes, seq)[0], len(seq))


class BoxAssembly(Decoder):
    """S2 scores of at most ``max_boxes`` pruned boxes, then the exact assembly; with
    ``allow_pseudoknots`` every positive-scoring stem crossing it is added greedily."""

    s1_output = TILES
    takes_constraints = False

    def __init__(self, scorer: BoxScorer, max_boxes: int = 512, allow_pseudoknots: bool = False):
        self.scorer, self.max_boxes, self.allow_pseudoknots = scorer, max_boxes, allow_pseudoknots

    def candidates(self, proposals: dict, seq: str) -> tuple[dict, np.ndarray]:
        """One sequence's S1 proposals -> the boxes S2 sees and their scores."""
        boxes = self.scorer.best_supported(proposals, seq, self.max_boxes)
        return boxes, self.scorer.scores(boxes, seq)

    def assemble(self, boxes: dict, scores: np.ndarray, seq: str):
        """The exact assembly with this decoder's loop scoring -> ``assemble.Assembly``."""
        return assemble(boxes, scores, seq, unproposed_loop_score(seq, self.scorer.energy_weight))

    def decode(self, name, seq, s1_output, constraint=None, shape=None) -> Result:
        from ..s1.infer import proposal_table

        boxes, scores = self.candidates(proposal_table(s1_output), seq)
        result = self.assemble(boxes, scores, seq)
        if self.allow_pseudoknots:
            result = add_pseudoknots(result, boxes, scores, seq)
        structure = to_dot_bracket(result.pairs, len(seq))
        # Turner 2004 has no pseudoknot energies: the energy is the nested ("()") part's
        nested = "".join(c if c in "()" else "." for c in structure)
        return Result(name, seq, structure, result.pairs, energy_of_structure(seq, nested),
                      result.score, result.boxes)


def unproposed_loop_score(seq: str, energy_weight: float):
    """Score of a loop the assembled structure implies but nobody proposed: minus
    ``energy_weight`` times its ViennaRNA energy (kcal/mol), like a proposed box's energy term,
    so that leaving a loop unproposed is no cheaper than proposing it."""
    def score(kind: str, loops: np.ndarray) -> np.ndarray:
        if energy_weight == 0 or not len(loops):
            return np.zeros(len(loops))
        e = box_energies(seq, [kind] * len(loops), loops[:, 0], loops[:, 1], loops[:, 2], loops[:, 3])
        return -energy_weight * np.asarray(e, np.float64)

    return score


def stem_score_maps(s1, scorer: BoxScorer, seqs: list[str], max_boxes: int,
                    progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, scorer.stem_scores(...))`` for every sequence, in the order of S1's
    length batches (the order of ``S1Predictor.pair_logits`` too): what tuning and
    calibration read of S2."""
    from ..s1.infer import proposal_table

    for k, tiles in s1.pixel_tiles(seqs, progress=progress):
        yield k, scorer.stem_scores(proposal_table(tiles), seqs[k], max_boxes)


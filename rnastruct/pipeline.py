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

import multiprocessing as mp
import os
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
from .structure import parse_dot_bracket, to_dot_bracket

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_S1 = MODELS / "s1_default" / "s1.pt"
DEFAULT_S2 = MODELS / "s2_default" / "s2.pt"


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


def available_cores() -> int:
    """CPU cores this process may run on (a Slurm allocation's, not the whole node's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Result(NamedTuple):
    name: str
    seq: str
    structure: str  # dot-bracket
    pairs: np.ndarray  # [P, 2] 0-based, i < j
    energy: float  # free energy of the structure (its nested part), kcal/mol (ViennaRNA, Turner 2004)
    score: float  # total S2 score (log-odds) of the chosen boxes; nan with the fold decoder
    boxes: list[Box]  # the structure's stems, internal loops and hairpins


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
                 threads: int | None = None, allow_pseudoknots: bool = False):
        from .config import from_dict
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
        s1_model, _, s1_state = s1_from_checkpoint(s1 or DEFAULT_S1)
        self.s1 = S1Predictor(s1_model, device=device, tile=tile, bf16=self.precision == "bf16")
        # the fold decoder's proposal thresholds are tuned per S1 model on validation sequences
        # (bench/tune_proposals.py) and travel in its checkpoint
        if proposal is None and decoder == "fold" and "fold_proposal" in s1_state:
            proposal = from_dict(ProposalConfig, s1_state["fold_proposal"], f"{s1 or DEFAULT_S1}: fold_proposal")
        self.s2 = None  # the fold decoder needs no S2
        if decoder == "boxes":
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
    def score_boxes(self, boxes: dict, seq: str) -> np.ndarray:
        """Assembly scores of one sequence's pruned boxes (``BOX_COLUMNS`` table) -> ``[N]``:
        S2 log-odds relative to ``box_threshold`` (positive = worth taking), minus
        ``energy_weight`` times the box's own ViennaRNA energy."""
        from .s2.features import FEATURES, box_features

        n = len(boxes["type"])
        if n == 0:
            return np.zeros(0)
        feats = box_features(boxes, seq)  # [N, F]
        mask = torch.ones(1, n, dtype=torch.bool, device=self.device)
        logits = self.s2(torch.from_numpy(feats)[None].to(self.device), mask)[0]  # [N]
        energy = feats[:, FEATURES.index("energy")].astype(np.float64) * 10  # kcal/mol
        return logits.float().cpu().numpy().astype(np.float64) - self._offset - self.energy_weight * energy

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

    def decode(self, name: str, seq: str, proposals: dict) -> Result:
        """One sequence's S1 proposals (``targets.decode`` table) -> its ``Result`` with this
        predictor's decoder."""
        if self.decoder == "fold":
            return self._fold(name, seq, self.allowed_pairs(proposals, seq))
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

    def decode_tiles(self, name: str, seq: str, tiles) -> Result:
        """``decode`` from one sequence's pixel proposals (``S1Predictor.pixel_tiles``). The
        fold decoder takes its allowed pairs straight from them (``s1.allowed``: the same
        pairs as ``allowed_pairs``, several times faster) unless a pruning rule reads pixel
        counts or probabilities."""
        if self.decoder == "fold" and self.pruning.geometry_only:
            return self._fold(name, seq, allowed_pair_map(tiles, seq, self.proposal, self.pruning))
        return self.decode(name, seq, proposal_table(tiles))

    def _fold(self, name: str, seq: str, allowed: np.ndarray) -> Result:
        structure, energy = fold_within(seq, allowed)
        pairs = parse_dot_bracket(structure)
        return Result(name, seq, structure, pairs, energy, float("nan"), structure_to_boxes(pairs, len(seq)))

    def predict(self, names: list[str], seqs: list[str], progress: bool = False) -> Iterator[tuple[int, Result]]:
        """Yield ``(index, Result)`` for every sequence, in an order of the batching's choosing.
        The results do not depend on ``threads``: each sequence is computed alone the same way."""
        parallel = (self.threads > 1 and self.device.type == "cpu" and len(seqs) > 1
                    and sys.platform.startswith("linux")  # fork with torch is unsafe on macOS
                    and sum(len(s) ** 2 for s in seqs) >= PARALLEL_MIN_PIXELS)
        if parallel:
            yield from self._predict_parallel(names, seqs, progress)
            return
        if self._set_threads:
            torch.set_num_threads(self.threads)
        for k, tiles in self.s1.pixel_tiles(seqs, progress=progress, light=self._light):
            yield k, self.decode_tiles(names[k], seqs[k], tiles)

    @property
    def _light(self) -> bool:
        # the fold decoder reads no probability statistics, unless a pruning rule does
        return self.decoder == "fold" and self.pruning.min_prob == 0

    def _predict_parallel(self, names: list[str], seqs: list[str],
                          progress: bool = False) -> Iterator[tuple[int, Result]]:
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
                tasks = [(c.tolist(), [names[i] for i in c], [seqs[i] for i in c]) for c in chunks]
                for part in pool.imap_unordered(_predict_chunk, tasks):
                    bar.update(len(part))
                    yield from part
        finally:
            _FORKED = None


_FORKED: Predictor | None = None  # the predictor whose forked workers are running


def _predict_chunk(task: tuple[list[int], list[str], list[str]]) -> list[tuple[int, Result]]:
    """In a worker: one chunk of ``Predictor._predict_parallel`` -> ``(index, Result)`` pairs."""
    index, names, seqs = task
    p = _FORKED
    return [(index[k], p.decode_tiles(names[k], seqs[k], tiles))
            for k, tiles in p.s1.pixel_tiles(seqs, light=p._light)]


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


_DEFAULT: Predictor | None = None


def predict(seqs: Iterable[str] | str, names: Iterable[str] | None = None, **kwargs) -> list[Result]:
    """Predict the secondary structure of each sequence with the bundled default models (or
    those given as ``s1=``/``s2=`` paths) -> one ``Result`` per sequence, in order."""
    global _DEFAULT
    seqs = [seqs] if isinstance(seqs, str) else list(seqs)
    names = list(names) if names is not None else [f"seq{k + 1}" for k in range(len(seqs))]
    if len(names) != len(seqs):
        raise InputError(f"{len(names)} names for {len(seqs)} sequences")
    seqs = check_sequences(seqs, names, "input")
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
# rnastruct predict

FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")


def add_args(p) -> None:
    p.add_argument("inputs", nargs="*", metavar="SEQ_OR_FASTA",
                   help="sequences, or FASTA files; none or '-': FASTA from standard input")
    p.add_argument("--format", choices=FORMATS, default="rnafold",
                   help="rnafold (default: name, sequence, dot-bracket with the score), dot-bracket "
                        "(name and dot-bracket), bpseq, ct or json")
    p.add_argument("--out", help="output file (or a folder for bpseq/ct: one file per record); default stdout")
    p.add_argument("--plot", metavar="DIR", help="also draw each structure (SVG, ViennaRNA) and its boxes (PNG)")
    p.add_argument("--s1", help="S1 checkpoint (default: the bundled model)")
    p.add_argument("--s2", help="S2 checkpoint (default: the bundled model; used by --decoder boxes)")
    p.add_argument("--decoder", choices=DECODERS, default="fold",
                   help="fold (default): ViennaRNA's MFE over the pairs S1 proposes; boxes: S2 scores "
                        "and the exact box assembly")
    p.add_argument("--allow-pseudoknots", action="store_true",
                   help="with --decoder boxes: also add S2-scored stems that cross the nested "
                        "structure (greedily; written with [], {}, <>)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="S1 arithmetic: bf16 (as it trained; fast on CPUs with AMX), fp32, or auto "
                        "(default: bf16 where the device computes it natively)")
    p.add_argument("--threads", type=int, help="CPU cores to use (default: all available); many "
                   "sequences run in that many processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """Command-line sequences and FASTA files (or stdin: FASTA, or one sequence per line as
    RNAfold reads it) -> (names, sequences)."""
    import io

    from .seqio import read_fasta

    names, seqs = [], []
    if not inputs or inputs == ["-"]:
        text = sys.stdin.read()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and not lines[0].startswith(">"):  # bare sequences; bases are checked later
            return [f"seq{k + 1}" for k in range(len(lines))], lines
        recs = read_fasta(io.StringIO(text), structures=True)
        return [r.name for r in recs], [r.seq for r in recs]
    for k, item in enumerate(inputs):
        if Path(item).is_file():
            recs = read_fasta(item, structures=True)
            names += [r.name for r in recs]
            seqs += [r.seq for r in recs]
        elif set(item.upper()) <= set("ACGUTN") and item:
            names.append(f"seq{len(names) + 1}")
            seqs.append(item)
        else:
            raise InputError(f"input {k + 1} ({item[:30]!r}): neither a file nor a sequence of A, C, G, U/T, N")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"record name {dup!r} appears more than once")
    return names, seqs


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


def run(args) -> int:
    import json

    from tqdm import tqdm

    from .seqio import write_text_atomic

    names, seqs = _read_inputs(args.inputs)
    if not seqs:
        raise InputError("no sequences given")
    seqs = check_sequences(seqs, names, "input")
    per_file = args.format in ("bpseq", "ct") and args.out and not args.out.endswith((".bpseq", ".ct"))
    if args.out and not per_file:
        parent = Path(args.out).resolve().parent
        if not parent.is_dir():
            raise InputError(f"{args.out}: folder {parent} does not exist")
    predictor = Predictor(args.s1, args.s2, device=args.device, decoder=args.decoder,
                          precision=args.precision, threads=args.threads,
                          allow_pseudoknots=args.allow_pseudoknots)
    results: list = [None] * len(seqs)
    with tqdm(total=len(seqs), unit="seq", disable=args.quiet or len(seqs) < 20, dynamic_ncols=True,
              desc="predict", mininterval=0.5) as bar:
        for k, r in predictor.predict(names, seqs):
            results[k] = r
            bar.update(1)
    if args.format == "json":
        text = json.dumps([{"name": r.name, "sequence": r.seq, "structure": r.structure, "energy": r.energy,
                            "score": None if np.isnan(r.score) else r.score,
                            "pairs": r.pairs.tolist(), "boxes": [b._asdict() for b in r.boxes]}
                           for r in results], indent=1) + "\n"
    else:
        text = "".join(format_result(r, args.format) for r in results)
    if per_file:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for r in results:
            write_text_atomic(out / f"{_safe(r.name)}.{args.format}", format_result(r, args.format))
    elif args.out:
        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    if args.plot:
        plot_dir = Path(args.plot)
        plot_dir.mkdir(parents=True, exist_ok=True)
        for r in results:
            draw(r, plot_dir / _safe(r.name))
    return 0


def _safe(name: str) -> str:
    """A record name as a file name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "record"


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

    with atomic_path(stem.with_suffix(".svg"), suffix=".svg") as tmp:
        svg_plot(r.seq, r.structure, tmp)
    L = len(r.seq)
    fig = Figure(figsize=(5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(np.triu(canonical_map(r.seq), 1), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    for b in r.boxes:
        ax.add_patch(Rectangle((b.bb_y - b.siz_y + 0.5, b.bb_x - 0.5), b.siz_y, b.siz_x, fill=False,
                               edgecolor=BOX_COLOURS[b.type], linewidth=1.5, label=b.type))
    if len(r.pairs):
        ax.plot(r.pairs[:, 1], r.pairs[:, 0], "k.", markersize=3)
    ax.set_title(f"{r.name}: {L} nt, {len(r.pairs)} pairs", fontsize="small")
    save_png(fig, stem.with_suffix(".png"))

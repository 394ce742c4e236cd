"""``rnastruct predict``: the predictor's command line, its options and the loop that writes
each record as it is predicted (the work itself: ``rnastruct.predictor``)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from .checks import FINITE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, checkpoint, number


def add_args(p) -> None:
    from ..learned import DECODINGS
    from ..hardware import PRECISIONS
    from ..predictor.decoders import DECODERS
    from ..predictor.models import DEFAULT_MODEL
    from ..predictor.outputs import BPP_CUTOFF, FORMATS
    from ..structure import MAX_LENGTH

    p.add_argument("inputs", nargs="*", metavar="SEQ_OR_FASTA",
                   help="sequences, or FASTA files (.gz read as is); none or '-': FASTA or one "
                        f"sequence per line from standard input. At most {MAX_LENGTH:,} nt per sequence")
    p.add_argument("--format", choices=FORMATS, default="rnafold",
                   help="rnafold (default: name, sequence, dot-bracket with the score), dot-bracket "
                        "(name and dot-bracket), bpseq, ct or json")
    p.add_argument("--out", help="output file (rnafold, dot-bracket, json; and bpseq/ct when the name ends in "
                                 ".bpseq/.ct), else a folder of one file per record (bpseq, ct); default stdout")
    p.add_argument("--plot", metavar="DIR", help="also draw each structure (SVG, ViennaRNA) and its boxes (PNG)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="SET",
                   help="real (default): S1 trained on real structures (bpRNA), its pair scores added "
                        "to Turner 2004 as pseudo-energies in ViennaRNA; mfe: the models trained on "
                        "ViennaRNA's MFE folds of human segments (ViennaRNA restricted to S1's "
                        "proposals); turner: no learned model, ViennaRNA's Turner 2004 alone (RNAfold); "
                        "or a folder holding s1.pt (and s2.pt)")
    p.add_argument("--s1", type=checkpoint, help="S1 checkpoint (default: the --model set's)")
    p.add_argument("--s2", type=checkpoint, help="S2 checkpoint (default: the --model set's; used by --decoder boxes)")
    p.add_argument("--decoder", choices=DECODERS, default="fold",
                   help="fold (default): ViennaRNA's exact folding with the model's learned "
                        "pseudo-energies (or, for a model without a pair head, over the pairs S1 "
                        "proposes); boxes: S2 scores and the exact box assembly, no ViennaRNA")
    p.add_argument("--decoding", choices=DECODINGS,
                   help="fold decoder: mfe, or from the partition function mea, centroid or threshknot "
                        "(default: what the model chose on validation structures)")
    p.add_argument("--gamma", type=POSITIVE, help="MEA: weight of paired against unpaired bases")
    p.add_argument("--threshold", type=number(float, 0, 1, low_open=True), help="threshknot: least pair probability")
    p.add_argument("--no-prune", action="store_true",
                   help="fold over every canonical pair: keep the pairs the model rules out (pseudo-energy "
                        "above its prune threshold, chosen on validation structures), which the default "
                        "forbids to halve the dynamic programme's time")
    p.add_argument("--bpp", metavar="DIR",
                   help="also write each record's pair probabilities under the model's energies "
                        f"(NAME.bpp.csv: i, j 1-based, p >= {BPP_CUTOFF:g}) and its dot plot (NAME.dp.png, "
                        "NAME.dp.svg); JSON output gains unpaired probabilities and the ensemble energy")
    p.add_argument("--max-bp-span", type=int, metavar="W",
                   help="no base pair (i, j) with j - i above W nt, as RNAfold's --maxBPspan: S1 scores only "
                        "that band (time and memory grow as L x W) and ViennaRNA gets the limit; for long "
                        "transcripts and genomic regions (fold decoder)")
    p.add_argument("--constraint", action="store_true",
                   help="RNAfold hard constraints (. x | ( ) < >), enforced exactly, from the line after "
                        "each sequence of the input FASTA (as RNAfold -C reads them)")
    p.add_argument("--constraint-file", metavar="FILE",
                   help="the constraints from FILE instead (FASTA-style: >name, then the constraint)")
    p.add_argument("--shape", metavar="PATH",
                   help="SHAPE/DMS reactivities ('position [base] value' per line, as RNAfold reads "
                        "them; no value or a negative one = no data): a file (one input record) or a "
                        "folder of NAME.shape files; Deigan et al.'s pseudo-energies, added to the model's")
    p.add_argument("--shape-slope", type=FINITE, help="Deigan slope m, kcal/mol (default 1.8)")
    p.add_argument("--shape-intercept", type=FINITE, help="Deigan intercept b, kcal/mol (default -0.6)")
    p.add_argument("--allow-pseudoknots", action="store_true",
                   help="with --decoder boxes: also add every positive-scoring S2 stem that crosses "
                        "the nested structure (greedily; written with [], {}, <>). It adds "
                        "pseudoknots to most RNAs and lowered ArchiveII F1 (0.551 -> 0.509); for "
                        "pseudoknots that are probable, use --decoding threshknot")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="S1 arithmetic: bf16 (as it trained; fast on CPUs with AMX), fp32, or auto "
                        "(default: bf16 where the device computes it natively)")
    p.add_argument("--threads", type=POSITIVE_INT, help="CPU cores to use (default: all available); many "
                   "sequences run in that many processes")
    p.add_argument("--shard", type=NON_NEGATIVE_INT, metavar="K",
                   help="predict only part K (0-based) of --num-shards contiguous parts of the input; "
                        "rnastruct merge joins the parts' --out files in input order (predict/submit.sh "
                        "does both on Slurm)")
    p.add_argument("--num-shards", type=POSITIVE_INT, metavar="N")
    p.add_argument("--strict", action="store_true",
                   help="refuse letters other than A C G U T N (default: IUPAC codes and modified "
                        "bases are folded as N, unpairable, as RNAfold does, with a warning)")
    p.add_argument("--overwrite", "--force", action="store_true",
                   help="replace existing output files (never an input of the run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..outfiles import Outputs
    from ..predictor.inputs import read_constraints, read_inputs, read_shapes
    from ..predictor.outputs import shard_of
    from ..structure import check_sequences

    names, seqs, inline = read_inputs(args.inputs, constraints=args.constraint)
    if not seqs:
        raise InputError("no sequences given")
    shard, all_names = None, names
    if args.shard is not None or args.num_shards is not None:
        lo, hi, shard = shard_of(names, args.shard, args.num_shards, args.out, args.format)
        names, seqs, inline = names[lo:hi], seqs[lo:hi], inline[lo:hi]
    seqs = check_sequences(seqs, names, "input", strict=args.strict)
    constraints = read_constraints(names, seqs, inline, args.constraint, args.constraint_file)
    shapes = read_shapes(args.shape, names, seqs, all_names)
    with Outputs(args.overwrite, inputs=_input_files(args)) as outs:
        return _predict(args, outs, names, seqs, constraints, shapes, shard)


def _input_files(args) -> list[str]:
    """Every file the run reads (never to be written): FASTA inputs, constraint and SHAPE files."""
    files = [p for p in args.inputs if Path(p).is_file()]
    files += [p for p in (args.constraint_file, args.shape) if p and Path(p).is_file()]
    if args.shape and Path(args.shape).is_dir():
        files += [str(p) for p in Path(args.shape).glob("*.shape")]
    return files


def _predict(args, outs, names, seqs, constraints, shapes, shard) -> int:
    """The checked run: outputs checked (``outfiles.Outputs``), then predicted record by
    record, each finished record journalled, the ``--out`` file written at the end."""
    import json

    from ..hardware import available_cores
    from ..predictor.apart import Apart, runs_apart
    from ..predictor.outputs import SHARD_SUFFIX, Journal, bpp_table, file_stem, format_result, json_record, with_suffix

    out = None if args.out in (None, "-") else args.out
    per_file = args.format in ("bpseq", "ct") and out and not out.endswith((".bpseq", ".ct"))
    stems = [file_stem(n) for n in names]
    # an interrupted run of this --out left a journal: its per-record files are this run's own
    resuming = bool(out and not per_file and Journal.path_for(out).is_file())
    target = None
    if out and not per_file:
        target = outs.file(out, "--out")
        if shard is not None:
            if target.kind != "file":
                raise InputError(f"--out {out}: --shard writes a part and its manifest: name a regular file")
            shard_target = outs.file(out + SHARD_SUFFIX, "--out (its shard manifest)")
    elif per_file:
        folder = outs.folder(out, "--out")
        outs.record_files([folder / f"{s}.{args.format}" for s in stems], "--out")
    if args.plot:
        folder = outs.folder(args.plot, "--plot")
        outs.record_files([folder / f"{s}{x}" for s in stems for x in (".svg", ".png")], "--plot", resuming)
    if args.bpp:
        folder = outs.folder(args.bpp, "--bpp")
        outs.record_files([folder / f"{s}{x}" for s in stems for x in (".bpp.csv", ".dp.png", ".dp.svg")],
                          "--bpp", resuming)
    options = dict(s1=args.s1, s2=args.s2, device=args.device, decoder=args.decoder, precision=args.precision,
                   threads=args.threads, allow_pseudoknots=args.allow_pseudoknots, model=args.model,
                   decoding=args.decoding, gamma=args.gamma, threshold=args.threshold, probs=bool(args.bpp),
                   shape_slope=args.shape_slope, shape_intercept=args.shape_intercept,
                   max_bp_span=args.max_bp_span, no_prune=args.no_prune, stages=not args.quiet)
    # the networks are loaded here, so that a bad option is refused before anything is written
    if runs_apart([len(s) for s in seqs], args.threads or available_cores(), args.device):
        # S1 in a process of its own, this one folds: ViennaRNA's matrices never share the
        # memory with PyTorch
        predictor = Apart(options)
    else:  # the worker pool, forked from this process once it has loaded the networks
        from ..predictor.core import load_predictor

        predictor = load_predictor(**options)
    # finished records are journalled beside a regular --out file (a device or a pipe has no
    # "beside"), so that an interrupted run loses nothing a rerun cannot skip
    journal = Journal(target.path, _settings(args)) if target is not None and target.kind == "file" else None
    done = {}
    if journal:
        if not journal.path.exists():
            outs.own(journal.path)
        done = journal.load(names, seqs, constraints, shapes)
        if journal.stale:  # shown even with --quiet: work is being discarded
            print(f"rnastruct predict: {journal.path.name} (an interrupted run's journal) was written with "
                  f"other settings ({journal.stale}); starting afresh", file=sys.stderr)
    todo = [k for k in range(len(seqs)) if k not in done]
    if done and not args.quiet:
        print(f"rnastruct predict: {len(done)} of {len(seqs)} records already done by an interrupted run "
              f"({journal.path.name}); predicting the other {len(todo)}", file=sys.stderr)
    chunks: dict[int, str | dict] = dict(done)
    try:
        # per-record files (drawings, probabilities) are written as records finish, inside the
        # bar; finished records go to the journal
        with Progress(seqs, done, quiet=args.quiet) as bar:
            sub = predictor.predict([names[k] for k in todo], [seqs[k] for k in todo],
                                    constraints=[constraints[k] for k in todo] if constraints else None,
                                    shapes=[shapes[k] for k in todo] if shapes else None)
            for t, r in sub:
                k = todo[t]
                chunks[k] = json_record(r) if args.format == "json" else format_result(r, args.format)
                if per_file:
                    write_text_atomic(Path(out) / f"{stems[k]}.{args.format}", chunks[k])
                if args.plot:
                    from ..plots import draw  # pandas and matplotlib: a fifth of a second, when drawing only

                    draw(r, Path(args.plot) / stems[k])
                if args.bpp:
                    from ..plots import dot_plot

                    stem = Path(args.bpp) / stems[k]
                    write_text_atomic(with_suffix(stem, ".bpp.csv"), bpp_table(r))
                    dot_plot(r, stem)
                if journal:
                    journal.add(k, chunks[k])
                bar.finished(k)
    except KeyboardInterrupt:
        if journal:
            journal.close()
            print(f"rnastruct predict: interrupted; {len(chunks)} of {len(seqs)} records are kept in "
                  f"{journal.path}: run the same command again to predict the rest", file=sys.stderr)
        else:  # nothing to resume from: leave nothing behind
            outs.discard()
            print("rnastruct predict: interrupted; nothing written (name an --out file to make a run resumable)",
                  file=sys.stderr)
        return 130
    ordered = [chunks[k] for k in range(len(seqs))]
    text = json.dumps(ordered, indent=1) + "\n" if args.format == "json" else "".join(ordered)
    if target is not None:
        outs.write_text(target, text)
        if shard is not None:
            outs.write_text(shard_target, json.dumps(shard, indent=1) + "\n")
        if journal:
            journal.remove()
    elif not per_file:
        sys.stdout.write(text)
    return 0


def write_text_atomic(path, text: str) -> None:
    from ..outfiles import write_file

    write_file(path, text.encode("utf-8"))


class Progress:
    """The bar of a predict run: records finished out of all, the share of the work done (a
    record's work grows with its length, ``work``) and the time left at the run's mean rate
    of work so far. Integer work units, so the bar ends exactly at its total."""

    def __init__(self, seqs: list[str], done, quiet: bool = False):
        from tqdm import tqdm

        from ..predictor.outputs import work

        self.cost = [work(len(s)) for s in seqs]
        self.total, self.count = len(seqs), len(done)
        # smoothing=0: the rate is the whole run's mean, not the last few records' (a run mixes
        # lengths, and one long record would swing a moving rate)
        self.bar = tqdm(total=sum(self.cost), initial=sum(self.cost[k] for k in done), disable=quiet,
                        dynamic_ncols=True, mininterval=0.5, smoothing=0, desc=self._desc(),
                        bar_format="{desc} |{bar}| {percentage:3.0f}% of the work, {elapsed} so far, "
                                   "about {remaining} left")

    def _desc(self) -> str:
        return f"predict: {self.count:,} of {self.total:,} records"

    def finished(self, k: int) -> None:
        self.count += 1
        self.bar.set_description_str(self._desc(), refresh=False)
        self.bar.update(self.cost[k])

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _settings(args) -> dict:
    """What decides a record's output (a resumed run must have the same)."""
    keys = ("format", "model", "s1", "s2", "decoder", "decoding", "gamma", "threshold", "allow_pseudoknots",
            "precision", "bpp", "shape", "shape_slope", "shape_intercept", "constraint", "constraint_file",
            "strict", "device", "max_bp_span", "no_prune")
    return {k: str(getattr(args, k, None)) for k in keys}

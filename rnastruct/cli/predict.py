"""``rnastruct predict``: the predictor's command line, its options and the loop that writes
each record as it is predicted (the work itself: ``rnastruct.predictor``)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError


def add_args(p) -> None:
    from ..learned import DECODINGS
    from ..predictor.core import DECODERS, PRECISIONS
    from ..predictor.models import DEFAULT_MODEL
    from ..predictor.outputs import BPP_CUTOFF, FORMATS
    from ..s1.infer import MAX_LENGTH

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
    p.add_argument("--s1", help="S1 checkpoint (default: the --model set's)")
    p.add_argument("--s2", help="S2 checkpoint (default: the --model set's; used by --decoder boxes)")
    p.add_argument("--decoder", choices=DECODERS, default="fold",
                   help="fold (default): ViennaRNA's exact folding with the model's learned "
                        "pseudo-energies (or, for a model without a pair head, over the pairs S1 "
                        "proposes); boxes: S2 scores and the exact box assembly, no ViennaRNA")
    p.add_argument("--decoding", choices=DECODINGS,
                   help="fold decoder: mfe, or from the partition function mea, centroid or threshknot "
                        "(default: what the model chose on validation structures)")
    p.add_argument("--gamma", type=float, help="MEA: weight of paired against unpaired bases")
    p.add_argument("--threshold", type=float, help="threshknot: least pair probability")
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
    p.add_argument("--shape-slope", type=float, help="Deigan slope m, kcal/mol (default 1.8)")
    p.add_argument("--shape-intercept", type=float, help="Deigan intercept b, kcal/mol (default -0.6)")
    p.add_argument("--allow-pseudoknots", action="store_true",
                   help="with --decoder boxes: also add every positive-scoring S2 stem that crosses "
                        "the nested structure (greedily; written with [], {}, <>). It adds "
                        "pseudoknots to most RNAs and lowered ArchiveII F1 (0.551 -> 0.509); for "
                        "pseudoknots that are probable, use --decoding threshknot")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="S1 arithmetic: bf16 (as it trained; fast on CPUs with AMX), fp32, or auto "
                        "(default: bf16 where the device computes it natively)")
    p.add_argument("--threads", type=int, help="CPU cores to use (default: all available); many "
                   "sequences run in that many processes")
    p.add_argument("--shard", type=int, metavar="K",
                   help="predict only part K (0-based) of --num-shards contiguous parts of the input; "
                        "rnastruct merge joins the parts' --out files in input order (predict/submit.sh "
                        "does both on Slurm)")
    p.add_argument("--num-shards", type=int, metavar="N")
    p.add_argument("--strict", action="store_true",
                   help="refuse letters other than A C G U T N (default: IUPAC codes and modified "
                        "bases are folded as N, unpairable, as RNAfold does, with a warning)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import json

    from tqdm import tqdm

    from ..plots import dot_plot, draw
    from ..predictor.core import load_predictor
    from ..predictor.inputs import read_constraints, read_inputs, read_shapes
    from ..predictor.outputs import (Journal, bpp_table, check_output_file, check_output_folder, file_stem,
                                     format_result, json_record, shard_of, with_suffix, work,
                                     write_shard_manifest)
    from ..s1.infer import check_sequences
    from ..seqio import write_text_atomic

    names, seqs, inline = read_inputs(args.inputs, constraints=args.constraint)
    if not seqs:
        raise InputError("no sequences given")
    shard = None
    if args.shard is not None or args.num_shards is not None:
        lo, hi, shard = shard_of(names, args.shard, args.num_shards, args.out, args.format)
        names, seqs, inline = names[lo:hi], seqs[lo:hi], inline[lo:hi]
    seqs = check_sequences(seqs, names, "input", strict=args.strict)
    constraints = read_constraints(names, seqs, inline, args.constraint, args.constraint_file)
    shapes = read_shapes(args.shape, names, seqs)
    if args.bpp:
        check_output_folder(args.bpp)
    per_file = args.format in ("bpseq", "ct") and args.out and not args.out.endswith((".bpseq", ".ct"))
    if args.out and not per_file:
        check_output_file(args.out)
    elif per_file:
        check_output_folder(args.out)
    if args.plot:
        check_output_folder(args.plot)
    predictor = load_predictor(args.s1, args.s2, device=args.device, decoder=args.decoder,
                               precision=args.precision, threads=args.threads,
                               allow_pseudoknots=args.allow_pseudoknots, model=args.model,
                               decoding=args.decoding, gamma=args.gamma, threshold=args.threshold,
                               probs=bool(args.bpp), shape_slope=args.shape_slope,
                               shape_intercept=args.shape_intercept, max_bp_span=args.max_bp_span,
                               stages=not args.quiet)
    journal = Journal(args.out, _settings(args)) if args.out and not per_file else None
    done = journal.load(names, seqs, constraints, shapes) if journal else {}
    todo = [k for k in range(len(seqs)) if k not in done]
    if done and not args.quiet:
        print(f"rnastruct predict: {len(done)} of {len(seqs)} records already done by an interrupted run "
              f"({journal.path.name}); predicting the other {len(todo)}", file=sys.stderr)
    chunks: dict[int, str | dict] = dict(done)
    # every run shows where it is (unless --quiet); per-record files (drawings, probabilities)
    # are written as records finish, inside the bar; finished records go to the journal, so an
    # interrupted run (exit 130, no --out file) loses nothing a rerun cannot skip
    # the bar counts work, not records: the workers take the longest sequences first (no long
    # tail), and a bar of records then promised 21 h for a 9-minute run
    cost = [work(len(s)) for s in seqs]
    finished = len(done)
    with tqdm(total=sum(cost), initial=sum(cost[k] for k in done), disable=args.quiet, dynamic_ncols=True,
              desc=f"predict {finished}/{len(seqs)} records", mininterval=0.5,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]") as bar:
        sub = predictor.predict([names[k] for k in todo], [seqs[k] for k in todo],
                                constraints=[constraints[k] for k in todo] if constraints else None,
                                shapes=[shapes[k] for k in todo] if shapes else None)
        for t, r in sub:
            k = todo[t]
            chunks[k] = json_record(r) if args.format == "json" else format_result(r, args.format)
            if per_file:
                write_text_atomic(Path(args.out) / f"{file_stem(r.name)}.{args.format}", chunks[k])
            if args.plot:
                draw(r, Path(args.plot) / file_stem(r.name))
            if args.bpp:
                stem = Path(args.bpp) / file_stem(r.name)
                write_text_atomic(with_suffix(stem, ".bpp.csv"), bpp_table(r))
                dot_plot(r, stem)
            if journal:
                journal.add(k, chunks[k])
            finished += 1
            bar.set_description_str(f"predict {finished}/{len(seqs)} records", refresh=False)
            bar.update(cost[k])
    ordered = [chunks[k] for k in range(len(seqs))]
    text = json.dumps(ordered, indent=1) + "\n" if args.format == "json" else "".join(ordered)
    if args.out and not per_file:
        write_text_atomic(args.out, text)
        if shard is not None:
            write_shard_manifest(args.out, shard)
        journal.remove()
    elif not args.out:
        sys.stdout.write(text)
    return 0


def _settings(args) -> dict:
    """What decides a record's output (a resumed run must have the same)."""
    keys = ("format", "model", "s1", "s2", "decoder", "decoding", "gamma", "threshold", "allow_pseudoknots",
            "precision", "bpp", "shape", "shape_slope", "shape_intercept", "constraint", "constraint_file",
            "strict", "device", "max_bp_span")
    return {k: str(getattr(args, k, None)) for k in keys}

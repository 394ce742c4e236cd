"""``rnastruct plot KIND``: training curves of runs, and S1's activations on one sequence."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from .checks import checkpoint


def add_args(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    m = kinds.add_parser("metrics", help="training curves of one or more runs, one panel per metric",
                         description="Training curves of s1-train runs from RUN_DIR/metrics.csv: one "
                                     "panel per metric, training dashed, validation solid, one colour "
                                     "per run, the best validation epoch starred.")
    m.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders holding metrics.csv")
    m.add_argument("--out", required=True, help="PNG file to write")
    m.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")
    m.add_argument("--metrics", nargs="+", metavar="METRIC",
                   help="columns to plot, in order (default: every metric column and loss)")


    x = kinds.add_parser("pixels", help="S1 activations of one sequence: on/off maps, boxes, chosen pixels",
                         description="S1 activations of one sequence: per box type the on/off map with "
                                     "true and proposed boxes, the pair map with every box, and the "
                                     "softmax outputs of chosen pixels.")
    src = x.add_mutually_exclusive_group(required=True)
    src.add_argument("--seq", help="the sequence")
    src.add_argument("--data", help="a dataset folder (rnastruct generate); pick the record with --id")
    x.add_argument("--id", help="record id in --data (default: the first)")
    x.add_argument("--structure", help="true dot-bracket for --seq (default: ViennaRNA's MFE structure)")
    x.add_argument("--model", type=checkpoint, help="S1 checkpoint (default: the bundled model)")
    x.add_argument("--pixel", action="append", default=[], metavar="I,J",
                   help="0-based pixel to show the softmax outputs of (repeatable; default: the "
                        "centre of the first true box of each type)")
    x.add_argument("--out", required=True, help="PNG file to write")
    x.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")


def _run_pixels(args) -> int:
    from ..outfiles import Outputs

    with Outputs(args.overwrite) as outs:
        target = _png_target(outs, args.out)
        return _pixels(args, outs, target)


def _png_target(outs, out: str):
    target = outs.file(out, "--out")
    if target.kind == "file" and Path(out).suffix.lower() != ".png":
        raise InputError(f"--out {out}: the plot is written as PNG; name it *.png")
    return target


def _save(fig, outs, target) -> None:
    """A figure as PNG to its target: a regular file atomically, a stream (device, FIFO, -) directly."""
    import io

    from ..plots import save_png

    if target.kind == "file":
        save_png(fig, target.path)
    else:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        outs.write_bytes(target, buf.getvalue())


def _pixels(args, outs, target) -> int:
    from ..plots import pixels_figure
    from ..boxes import BOX_TYPES, structure_to_boxes
    from ..s1.infer import ProposalConfig, S1Predictor, select
    from ..predictor.models import MODEL_SETS
    from ..s1.targets import decode
    from ..structure import check_sequences, parse_dot_bracket, validate_pairs

    if args.seq:
        (seq,) = check_sequences([args.seq], ["--seq"], "command line")
        if args.structure:
            if len(args.structure) != len(seq):
                raise InputError(f"--structure has {len(args.structure)} characters, the sequence {len(seq)}")
            try:
                pairs = parse_dot_bracket(args.structure, "--structure")
            except ValueError as e:
                raise InputError(str(e)) from None
        else:
            from ..folding import fold

            pairs = parse_dot_bracket(fold(seq, partition=False).structure)
    else:
        from ..s1.data import load_examples

        ex, _ = load_examples(args.data)
        k = ex.ids.index(args.id) if args.id in ex.ids else 0 if args.id is None else None
        if k is None:
            raise InputError(f"{args.data}: no record with id {args.id!r}")
        seq, pairs = ex.seqs[k], ex.pairs[k]
        validate_pairs(pairs, len(seq))
    pixels = []
    for text in args.pixel:
        try:
            i, j = (int(v) for v in text.split(","))
        except ValueError:
            raise InputError(f"--pixel {text}: expected I,J (two 0-based integers)") from None
        if not 0 <= i < j < len(seq):
            raise InputError(f"--pixel {text}: not in the upper triangle of the {len(seq)} x {len(seq)} pair map "
                             f"(0 <= I < J < {len(seq)})")
        pixels.append((i, j))
    if not pixels:
        boxes = [b for b in structure_to_boxes(pairs, len(seq)) if not b.pseudoknot]
        for t in BOX_TYPES:
            b = next((b for b in boxes if b.type == t), None)
            if b is not None:  # a pixel of the box above the diagonal, near its middle
                i, j = b.bb_x + (b.siz_x - 1) // 2, b.bb_y - (b.siz_y - 1) // 2
                pixels.append((i, j) if i < j else (b.bb_x, b.bb_y))
    predictor = S1Predictor.from_checkpoint(args.model or MODEL_SETS["mfe"][0])
    (probs,) = predictor.probabilities([seq])
    proposed = select(decode(probs), ProposalConfig())
    _save(pixels_figure(seq, probs, pairs, proposed, pixels), outs, target)
    print(f"wrote {args.out} ({len(seq)} nt, {len(proposed['type'])} proposed boxes, pixels {pixels})",
          file=sys.stderr)
    return 0


def _run_metrics(args) -> int:
    from ..outfiles import Outputs
    from ..plots import best_epoch, metrics_grid, read_runs

    with Outputs(args.overwrite) as outs:
        target = _png_target(outs, args.out)
        runs = read_runs(args.run_dirs)
        _save(metrics_grid(runs, args.metrics), outs, target)
    bests = ", ".join(f"{label} {best_epoch(df)}" for label, df in runs.items())
    print(f"wrote {args.out} ({len(runs)} run(s); best validation epoch: {bests})", file=sys.stderr)
    return 0


KINDS = {"metrics": _run_metrics, "pixels": _run_pixels}


def run(args) -> int:
    return KINDS[args.kind](args)

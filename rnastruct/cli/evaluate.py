"""``rnastruct evaluate``: score predicted structures against reference ones."""

from __future__ import annotations

import argparse

from ..evaluate import KEEP_DROP, PSEUDOKNOTS, SLIPS
from .checks import existing_path


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, type=existing_path,
                   help="predicted structures: any format rnastruct predict writes (RNAfold FASTA, "
                        "dot-bracket, JSON, CT or BPSEQ file or folder), or CSV")
    p.add_argument("--ref", required=True, type=existing_path, help="reference structures, in any of the same formats")
    p.add_argument("--out", help="folder for per_sequence.csv, summary.md and the F1 plots")
    p.add_argument("--pseudoknots", choices=PSEUDOKNOTS, default="keep",
                   help="keep pseudoknot pairs, drop the reference's, or drop both sides' (default keep)")
    p.add_argument("--non-canonical", choices=KEEP_DROP, default="keep",
                   help="non-canonical reference pairs (not AU/GC/GU): keep or drop (default keep)")
    p.add_argument("--multiplets", choices=KEEP_DROP, default="keep",
                   help="reference pairs of bases in several pairs: keep or drop (default keep)")
    p.add_argument("--slip", type=int, choices=SLIPS, default=0,
                   help="1: a pair shifted by one base at one end counts as correct (default 0)")
    p.add_argument("--only-predicted", action="store_true",
                   help="score only the references that have a prediction")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace the files of an earlier --out")


def run(args) -> int:
    from ..evaluate import (OUTPUT_FILES, ScoringOptions, read_structures, score_records, summary_markdown,
                            write_outputs)
    from ..outfiles import Outputs

    opts = ScoringOptions(args.pseudoknots, args.non_canonical, args.multiplets, args.slip)
    with Outputs(args.overwrite, inputs=[args.pred, args.ref]) as outs:
        if args.out:  # before any reading or scoring
            folder = outs.folder(args.out, "--out")
            outs.record_files([folder / name for name in OUTPUT_FILES], "--out")
        ref = read_structures(args.ref, role="reference")
        pred = read_structures(args.pred, role="prediction")
        df = score_records(pred, ref, opts, args.only_predicted, pred_name=str(args.pred), ref_name=str(args.ref))
        md = summary_markdown(df, opts, title=f"{args.pred} against {args.ref}")
        if args.out:
            write_outputs(df, args.out, md)
    print(md, end="")
    return 0

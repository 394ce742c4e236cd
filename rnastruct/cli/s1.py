"""``rnastruct s1-train``, ``s1-infer``, ``prune`` and ``s1-eval``: the S1 commands."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..seqio import check_out_dir, pairs_column, pairs_of_table, read_fasta, read_table, write_text_atomic
from .checks import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, PROBABILITY, checkpoint, existing_file, existing_path, number, shard
from .train import training_args

# the library (and torch) is imported inside each command, so that the parser builds fast


# ---------------------------------------------------------------------------------------------
# s1-train


def add_train_args(p: argparse.ArgumentParser) -> None:
    training_args(p, "s1", "dataset folder(s) from rnastruct generate or real-data, used together "
                  "(e.g. human segments and --random ones)", nargs="+")


def run_train(args) -> int:
    from ..config import load_config
    from ..s1.training import S1Config, run

    cfg = load_config(S1Config, args.config, None, args.set)
    run(cfg, args.data, args.out, resume=args.resume, device_name=args.device, progress=not args.quiet)
    return 0


def read_input(data: str | None, fasta: str | None) -> tuple[list[str], list[str], dict, dict]:
    """-> (ids, sequences, carried pyarrow columns, input manifest) from --data or --fasta."""
    from ..structure import check_sequences
    from ..s1.stage import CARRIED

    if bool(data) == bool(fasta):
        raise InputError("give exactly one of --data (a dataset folder) or --fasta (a FASTA file)")
    if fasta:
        records = read_fasta(fasta)
        ids = [r.name for r in records]
        seqs = check_sequences([r.seq for r in records], ids, fasta)
        carried = {}
        if all(r.pairs is not None for r in records):
            carried["pairs"] = pairs_column([r.pairs for r in records])
        return ids, seqs, carried, {}
    table, manifest = read_table(data)
    if "seq" not in table.column_names:
        raise InputError(f"{data}: dataset lacks the column seq")
    seqs_raw = table.column("seq").to_pylist()
    ids = (table.column("id").to_pylist() if "id" in table.column_names
           else [str(k) for k in range(len(seqs_raw))])
    seqs = check_sequences(seqs_raw, ids, data)
    carried = {c: table.column(c) for c in CARRIED if c in table.column_names}
    return ids, seqs, carried, manifest


# ---------------------------------------------------------------------------------------------
# s1-infer


def add_infer_args(p: argparse.ArgumentParser) -> None:
    from ..s1.infer import ProposalConfig
    from ..predictor.models import MODEL_SETS

    d = ProposalConfig()
    p.add_argument("--data", type=existing_path, help="dataset folder (rnastruct generate) to run on")
    p.add_argument("--fasta", type=existing_file, help="FASTA file to run on (RNAfold-style structure lines are kept as truth)")
    p.add_argument("--model", default=str(MODEL_SETS["mfe"][0]), type=checkpoint,
                   help="S1 checkpoint (default: the bundled mfe set's)")
    p.add_argument("--out", required=True, help="output folder (proposals dataset)")
    p.add_argument("--threshold", type=NON_NEGATIVE, default=d.threshold,
                   help=f"keep boxes with n_proposal_norm > this (default {d.threshold})")
    p.add_argument("--hloop-factor", type=NON_NEGATIVE, default=d.hloop_factor,
                   help=f"hairpins use threshold x this (default {d.hloop_factor})")
    p.add_argument("--p-on", type=PROBABILITY, default=d.p_on,
                   help=f"keep boxes proposed by a pixel with p_on >= this (default {d.p_on})")
    p.add_argument("--method", choices=["n_proposal", "p_on", "union", "vote"], default=d.method,
                   help=f"which rule keeps a box (default {d.method}, the original's; 'vote': pixels "
                        "vote with their top-k corners and sizes, and a box is kept when its vote "
                        "over its area > --vote-threshold: more true boxes, fewer proposals)")
    p.add_argument("--vote-threshold", type=NON_NEGATIVE, default=d.vote_threshold,
                   help=f"--method vote: keep boxes with vote_norm > this (hairpins: x --hloop-factor; "
                        f"default {d.vote_threshold})")
    p.add_argument("--vote-top-k", type=number(int, 1, 4), default=d.vote_top_k,
                   help=f"--method vote: classes per output each pixel votes with (default {d.vote_top_k})")
    p.add_argument("--vote-min-p-on", type=PROBABILITY, default=d.vote_min_p_on,
                   help=f"--method vote: pixels with a lower on-probability do not vote (default {d.vote_min_p_on})")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on CPUs with AMX and on GPUs)")
    p.add_argument("--tile", type=POSITIVE_INT, default=512, help="tile sequences longer than this (default 512)")
    p.add_argument("--batch-pixels", type=POSITIVE_INT,
                   help="map pixels per batch (default 2^16 on CPU, 2^22 on GPU)")
    p.add_argument("--shard", type=NON_NEGATIVE_INT, default=0,
                   help="run on shard K of --num-shards (a contiguous block of rows; join with rnastruct merge)")
    p.add_argument("--num-shards", type=POSITIVE_INT, default=1)
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_infer(args) -> int:
    from ..s1.infer import ProposalConfig
    from ..s1.stage import proposals_manifest, shard_rows, write_proposals

    import torch

    shard(args, "input rows")
    cfg = ProposalConfig(args.threshold, args.hloop_factor, args.p_on, args.method,
                         args.vote_top_k, args.vote_min_p_on, args.vote_threshold)
    cfg.validate()
    check_out_dir(args.out, args.overwrite)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible (check CUDA_VISIBLE_DEVICES)")
    started = time.time()
    ids, seqs, carried, source = read_input(args.data, args.fasta)
    rows = shard_rows(len(seqs), args.shard, args.num_shards)
    ids, seqs = ids[rows], seqs[rows]
    carried = {c: v.slice(rows.start, rows.stop - rows.start) for c, v in carried.items()}
    from ..s1.infer import S1Predictor

    predictor = S1Predictor.from_checkpoint(args.model, device=args.device, tile=args.tile,
                                            batch_pixels=args.batch_pixels, bf16=args.bf16)
    tables: list = [None] * len(seqs)
    for k, boxes in predictor.select(seqs, cfg, progress=not args.quiet):
        tables[k] = boxes
    counts = {"sequences": len(seqs), "boxes": int(sum(len(t["type"]) for t in tables))}
    params = {**dataclasses.asdict(cfg), "model": str(args.model), "tile": args.tile,
              "bf16": args.bf16, "device": args.device, "data": args.data, "fasta": args.fasta,
              "shard": args.shard, "num_shards": args.num_shards}
    manifest = proposals_manifest("rnastruct.s1-infer", params, source.get("params", {}), counts,
                         time.time() - started)
    write_proposals(args.out, ids, seqs, carried, tables, manifest, args.overwrite)
    print(f"wrote {counts['boxes']} proposed boxes for {len(seqs)} sequences to {args.out} "
          f"({manifest['run']['seconds']:.1f} s)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# prune


def add_prune_args(p: argparse.ArgumentParser) -> None:
    from ..s1.prune import PruneConfig

    d = PruneConfig()
    p.add_argument("--in", dest="inp", required=True, type=existing_path, help="proposals dataset (rnastruct s1-infer)")
    p.add_argument("--out", required=True, help="output folder (pruned proposals dataset)")
    p.add_argument("--keep-ns-stem", dest="discard_ns_stem", action="store_false",
                   help="keep stems with non-canonical pairs (dropped by default, as the original)")
    p.add_argument("--min-hloop-size", type=NON_NEGATIVE_INT, default=d.min_hloop_size,
                   help=f"smallest hairpin box (box units; 3 = one unpaired base; default {d.min_hloop_size})")
    p.add_argument("--min-pixel-pred", type=NON_NEGATIVE_INT, default=d.min_pixel_pred,
                   help="drop boxes proposed by fewer pixels (0 = off, the default)")
    p.add_argument("--min-prob", type=PROBABILITY, default=d.min_prob,
                   help="drop boxes with a lower median probability (0 = off, the default)")
    p.add_argument("--max-per-nt", type=NON_NEGATIVE, default=d.max_per_nt,
                   help="then keep at most this many boxes per nucleotide, the best by their vote "
                        "(or n_proposal_norm) over the area (0 = off, the default)")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")


def run_prune(args) -> int:
    from ..s1.prune import PRUNE_REASONS, PruneConfig, prune_reasons
    from ..s1.stage import CARRIED, infer_params, proposals_manifest, read_proposals, write_proposals

    check_out_dir(args.out, args.overwrite)
    started = time.time()
    ids, seqs, tables, table, source = read_proposals(args.inp)
    # the budget ranks hairpins as the proposals' own thresholds did
    cfg = PruneConfig(args.discard_ns_stem, args.min_hloop_size, args.min_pixel_pred, args.min_prob,
                      args.max_per_nt, infer_params(source)["hloop_factor"])
    try:
        cfg.validate()
    except ValueError as e:
        raise InputError(f"prune: {e}") from None
    dropped = dict.fromkeys(PRUNE_REASONS, 0)
    kept_tables = []
    for seq, t in zip(seqs, tables):
        reasons = prune_reasons(t, seq, cfg)
        for r, n in zip(*np.unique(reasons[reasons != ""], return_counts=True)):
            dropped[str(r)] += int(n)
        kept_tables.append({c: v[reasons == ""] for c, v in t.items()})
    carried = {c: table.column(c) for c in CARRIED if c in table.column_names}
    kept = int(sum(len(t["type"]) for t in kept_tables))
    manifest = proposals_manifest("rnastruct.prune", {**dataclasses.asdict(cfg), "in": args.inp},
                         source, {"sequences": len(seqs), "boxes": kept, "dropped": dropped},
                         time.time() - started)
    write_proposals(args.out, ids, seqs, carried, kept_tables, manifest, args.overwrite)
    print(f"kept {kept} boxes; dropped " + ", ".join(f"{k} {v}" for k, v in dropped.items())
          + f"; wrote {args.out}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# s1-eval


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="inp", required=True, type=existing_path,
                   help="proposals dataset with true structures (rnastruct s1-infer / prune on a generated dataset)")
    p.add_argument("--out", required=True, help="output folder: summary.csv, curves.csv, curves.png, summary.md")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace files in --out")


def run_eval(args) -> int:
    from ..s1.stage import read_proposals

    ids, seqs, tables, table, manifest = read_proposals(args.inp)
    if "pairs" not in table.column_names:
        raise InputError(f"{args.inp}: no true structures (pairs column): run s1-infer on a "
                         "generated dataset or a FASTA file with structure lines")
    from ..outfiles import Outputs

    with Outputs(args.overwrite, inputs=[args.inp]) as outs:
        out = outs.folder(args.out, "--out")
        outs.record_files([out / n for n in ("summary.csv", "curves.csv", "curves.png", "summary.md")], "--out")
        text = _evaluate(args, out, seqs, tables, table, manifest)
    sys.stdout.write(text)
    return 0


def _evaluate(args, out: Path, seqs, tables, table, manifest) -> str:
    from ..boxes import structure_to_boxes
    from ..s1.recall import curves, join_scores, score_sequence, summarize
    from ..s1.stage import infer_params
    from ..train import write_metrics_csv

    params = infer_params(manifest)
    scores = join_scores([
        score_sequence(structure_to_boxes(pairs, len(seq)), t, params["hloop_factor"], len(seq))
        for seq, pairs, t in zip(seqs, pairs_of_table(table), tables)])
    method = params["method"]
    # what the stored proposals can still answer: thresholds at or above those they passed
    min_thr = params["threshold"] if method != "p_on" else float("inf")
    min_p = params["p_on"] if method not in ("n_proposal", "vote") else float("inf")
    # the union's boxes answer each of its two rules too; any other method only itself
    answerable = ("n_proposal", "p_on", "union") if method == "union" else (method,)
    summary = [summarize(scores, m, params["threshold"], params["p_on"]) for m in answerable]
    curve_rows = curves(scores, min_thr, min_p, params["threshold"], params["p_on"], method)
    write_metrics_csv(out / "summary.csv", summary, list(summary[0]))
    write_metrics_csv(out / "curves.csv", curve_rows, list(summary[0]))  # the same columns
    from ..plots import plot_s1_curves

    plot_s1_curves(curve_rows, out / "curves.png")  # the budget curve is always there
    if all(r["per_nt"] == r["per_nt"] for r in curve_rows):  # only budget rows (not NaN)
        print(f"s1-eval: no threshold curves: {args.inp} was filtered above every threshold of the "
              f"grid (threshold {params['threshold']:g}, p_on {params['p_on']:g}); run s1-infer "
              "lower for them", file=sys.stderr)
    text = _markdown(summary + [r for r in curve_rows if r["per_nt"] == r["per_nt"]], args.inp)
    write_text_atomic(out / "summary.md", text)
    return text


def _markdown(rows: list[dict], source: str) -> str:
    head = ("| method | threshold | p_on | stem | iloop | hloop | stem (IoU>=0.5) | iloop (IoU>=0.5) "
            "| hloop (IoU>=0.5) | all boxes found | proposals / seq | proposals / true box |")
    lines = [f"S1 proposals of {source}: {rows[0]['sequences'] if rows else 0} sequences, box "
             "sensitivity (exact match unless noted)", "", head, "|" + "---|" * 12]
    for r in rows:
        budget = f" (best {r['per_nt']:g} per nt)" if r.get("per_nt") == r.get("per_nt") else ""  # NaN: none
        p_on = "-" if r["method"] in ("n_proposal", "vote") else f"{r['p_on']:g}"  # not a rule of theirs
        lines.append(f"| {r['method']}{budget} | {r['threshold']:g} | {p_on} | " + " | ".join(
            f"{r[k]:.3f}" for k in ("sens_stem", "sens_iloop", "sens_hloop", "sens_stem_overlap",
                                    "sens_iloop_overlap", "sens_hloop_overlap", "all_found"))
            + f" | {r['proposals_per_seq']:.1f} | {r['proposals_per_true_box']:.1f} |")
    return "\n".join(lines) + "\n"

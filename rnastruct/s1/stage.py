"""S1 stage entry points over the library: ``rnastruct s1-infer``, ``prune`` and ``s1-eval``.

Files: a proposals dataset is a folder like ``rnastruct generate`` writes (``segments.parquet``
+ ``manifest.json``), one row per sequence: ``id``, ``seq``, ``len``, the input's ``pairs``,
``mfe_freq`` and ``split`` when it had them, and one list column ``prop_<c>`` per column ``c``
of ``infer.BOX_COLUMNS`` (the proposed boxes, box convention of ``rnastruct.boxes``: top-right
corner ``(bb_x, bb_y)``, sizes including closing bases). Parquet lists, never pickle.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from ..seqio import (InputError, check_out_dir, list_offsets, pairs_column, pairs_of_table, read_fasta,
                     read_table, write_dataset, write_text_atomic)
from ..train import write_metrics_csv
from .infer import BOX_COLUMNS, ProposalConfig, S1Predictor, check_sequences
from .prune import PRUNE_REASONS, PruneConfig, prune_reasons

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "s1_default" / "s1.pt"
_CARRIED = ("pairs", "mfe_freq", "split")  # input columns kept beside the proposals
_OPTIONAL = ("vote", "vote_norm")  # BOX_COLUMNS that older proposals datasets lack


# ---------------------------------------------------------------------------------------------
# proposals dataset I/O


def _read_input(args) -> tuple[list[str], list[str], dict, dict]:
    """-> (ids, sequences, carried pyarrow columns, input manifest) from --data or --fasta."""
    if bool(args.data) == bool(args.fasta):
        raise InputError("give exactly one of --data (a dataset folder) or --fasta (a FASTA file)")
    if args.fasta:
        records = read_fasta(args.fasta)
        ids = [r.name for r in records]
        seqs = check_sequences([r.seq for r in records], ids, args.fasta)
        carried = {}
        if all(r.pairs is not None for r in records):
            carried["pairs"] = pairs_column([r.pairs for r in records])
        return ids, seqs, carried, {}
    table, manifest = read_table(args.data)
    if "seq" not in table.column_names:
        raise InputError(f"{args.data}: dataset lacks the column seq")
    seqs_raw = table.column("seq").to_pylist()
    ids = (table.column("id").to_pylist() if "id" in table.column_names
           else [str(k) for k in range(len(seqs_raw))])
    seqs = check_sequences(seqs_raw, ids, args.data)
    carried = {c: table.column(c) for c in _CARRIED if c in table.column_names}
    return ids, seqs, carried, manifest


def _box_columns(tables: list[dict[str, np.ndarray]]) -> dict:
    """Per-sequence per-box tables -> ``prop_<c>`` list columns."""
    import pyarrow as pa

    offsets = list_offsets([len(t["type"]) for t in tables])
    out = {}
    for c in BOX_COLUMNS:
        values = np.concatenate([np.asarray(t[c]) for t in tables]) if tables else np.zeros(0)
        arr = pa.array(values.tolist() if c == "type" else values,
                       type=pa.string() if c == "type" else None)
        out[f"prop_{c}"] = pa.ListArray.from_arrays(offsets, arr)
    return out


def read_proposals(path) -> tuple[list[str], list[str], list[dict[str, np.ndarray]], object, dict]:
    """A proposals dataset -> (ids, sequences, per-sequence box tables, pyarrow table, manifest)."""
    table, manifest = read_table(path)
    # datasets written before votes existed lack their columns: votes not computed (NaN)
    missing = [f"prop_{c}" for c in BOX_COLUMNS if f"prop_{c}" not in table.column_names
               and c not in _OPTIONAL]
    missing += [c for c in ("id", "seq") if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: not a proposals dataset from rnastruct s1-infer "
                         f"(missing {', '.join(missing[:4])})")
    cols = {}
    box_offsets = table.column("prop_type").combine_chunks().offsets.to_numpy()
    for c in BOX_COLUMNS:
        if f"prop_{c}" not in table.column_names:  # an optional column
            cols[c] = (box_offsets, np.full(box_offsets[-1] - box_offsets[0], np.nan))
            continue
        arr = table.column(f"prop_{c}").combine_chunks()
        offsets = arr.offsets.to_numpy()
        values = arr.values.to_numpy(zero_copy_only=False)
        cols[c] = (offsets, np.asarray(values, dtype="<U5") if c == "type" else values)
    n = table.num_rows
    tables = [{c: v[o[k]:o[k + 1]] for c, (o, v) in cols.items()} for k in range(n)]
    return table.column("id").to_pylist(), table.column("seq").to_pylist(), tables, table, manifest


def _write(out: str, ids, seqs, carried: dict, tables, manifest: dict, overwrite: bool) -> None:
    import pyarrow as pa

    columns = {"id": pa.array(ids, pa.string()), "seq": pa.array(seqs, pa.string()),
               "len": pa.array([len(s) for s in seqs], pa.int32()), **carried, **_box_columns(tables)}
    write_dataset(pa.table(columns), out, manifest, overwrite=overwrite)


def _manifest(kind: str, params: dict, source: dict, counts: dict, seconds: float) -> dict:
    from ..datagen import versions

    return {"kind": kind, "params": params, "versions": versions(), "input": source,
            "counts": counts, "run": {"seconds": round(seconds, 2), "argv": sys.argv,
                                      "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}


# ---------------------------------------------------------------------------------------------
# s1-infer


def add_infer_args(p: argparse.ArgumentParser) -> None:
    d = ProposalConfig()
    p.add_argument("--data", help="dataset folder (rnastruct generate) to run on")
    p.add_argument("--fasta", help="FASTA file to run on (RNAfold-style structure lines are kept as truth)")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="S1 checkpoint (default: the bundled model)")
    p.add_argument("--out", required=True, help="output folder (proposals dataset)")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"keep boxes with n_proposal_norm > this (default {d.threshold})")
    p.add_argument("--hloop-factor", type=float, default=d.hloop_factor,
                   help=f"hairpins use threshold x this (default {d.hloop_factor})")
    p.add_argument("--p-on", type=float, default=d.p_on,
                   help=f"keep boxes proposed by a pixel with p_on >= this (default {d.p_on})")
    p.add_argument("--method", choices=["n_proposal", "p_on", "union", "vote"], default=d.method,
                   help=f"which rule keeps a box (default {d.method}, the original's; 'vote': pixels "
                        "vote with their top-k corners and sizes, and a box is kept when its vote "
                        "over its area > --vote-threshold: more true boxes, fewer proposals)")
    p.add_argument("--vote-threshold", type=float, default=d.vote_threshold,
                   help=f"--method vote: keep boxes with vote_norm > this (hairpins: x --hloop-factor; "
                        f"default {d.vote_threshold})")
    p.add_argument("--vote-top-k", type=int, default=d.vote_top_k,
                   help=f"--method vote: classes per output each pixel votes with (default {d.vote_top_k})")
    p.add_argument("--vote-min-p-on", type=float, default=d.vote_min_p_on,
                   help=f"--method vote: pixels with a lower on-probability do not vote (default {d.vote_min_p_on})")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on CPUs with AMX and on GPUs)")
    p.add_argument("--tile", type=int, default=512, help="tile sequences longer than this (default 512)")
    p.add_argument("--batch-pixels", type=int,
                   help="map pixels per batch (default 2^16 on CPU, 2^22 on GPU)")
    p.add_argument("--shard", type=int, default=0,
                   help="run on shard K of --num-shards (a contiguous block of rows; join with rnastruct merge)")
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def shard_rows(n: int, shard: int, num_shards: int) -> slice:
    """Rows of shard ``shard``: contiguous blocks, so shards joined in order give the input order."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise InputError(f"--shard must be in 0..{num_shards - 1} and --num-shards >= 1")
    return slice(shard * n // num_shards, (shard + 1) * n // num_shards)


def run_infer(args) -> int:
    import torch

    cfg = ProposalConfig(args.threshold, args.hloop_factor, args.p_on, args.method,
                         args.vote_top_k, args.vote_min_p_on, args.vote_threshold)
    cfg.validate()
    check_out_dir(args.out, args.overwrite)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible (check CUDA_VISIBLE_DEVICES)")
    started = time.time()
    ids, seqs, carried, source = _read_input(args)
    rows = shard_rows(len(seqs), args.shard, args.num_shards)
    ids, seqs = ids[rows], seqs[rows]
    carried = {c: v.slice(rows.start, rows.stop - rows.start) for c, v in carried.items()}
    predictor = S1Predictor.from_checkpoint(args.model, device=args.device, tile=args.tile,
                                            batch_pixels=args.batch_pixels, bf16=args.bf16)
    tables: list = [None] * len(seqs)
    for k, boxes in predictor.select(seqs, cfg, progress=not args.quiet):
        tables[k] = boxes
    counts = {"sequences": len(seqs), "boxes": int(sum(len(t["type"]) for t in tables))}
    params = {**dataclasses.asdict(cfg), "model": str(args.model), "tile": args.tile,
              "bf16": args.bf16, "device": args.device, "data": args.data, "fasta": args.fasta,
              "shard": args.shard, "num_shards": args.num_shards}
    manifest = _manifest("rnastruct.s1-infer", params, source.get("params", {}), counts,
                         time.time() - started)
    _write(args.out, ids, seqs, carried, tables, manifest, args.overwrite)
    print(f"wrote {counts['boxes']} proposed boxes for {len(seqs)} sequences to {args.out} "
          f"({manifest['run']['seconds']:.1f} s)", file=sys.stderr)
    return 0


def merge_proposals(datasets: list[tuple]) -> tuple:
    """Join the shards of one s1-infer run ``[(pyarrow.Table, manifest), ...]`` in shard order ->
    ``(table, manifest)``; every shard exactly once, all made with the same parameters."""
    import pyarrow as pa

    from ..datagen import group_shards

    by_shard, ref, _ = group_shards(datasets)
    order = sorted(by_shard)
    first = by_shard[order[0]][1]
    counts = {key: sum(by_shard[s][1]["counts"][key] for s in order) for key in first["counts"]}
    manifest = _manifest("rnastruct.s1-infer", {**ref, "shard": None}, first["input"], counts,
                         sum(by_shard[s][1]["run"]["seconds"] for s in order))
    manifest["merged_shards"] = order
    return pa.concat_tables([by_shard[s][0] for s in order]), manifest


# ---------------------------------------------------------------------------------------------
# prune


def add_prune_args(p: argparse.ArgumentParser) -> None:
    d = PruneConfig()
    p.add_argument("--in", dest="inp", required=True, help="proposals dataset (rnastruct s1-infer)")
    p.add_argument("--out", required=True, help="output folder (pruned proposals dataset)")
    p.add_argument("--keep-ns-stem", dest="discard_ns_stem", action="store_false",
                   help="keep stems with non-canonical pairs (dropped by default, as the original)")
    p.add_argument("--min-hloop-size", type=int, default=d.min_hloop_size,
                   help=f"smallest hairpin box (box units; 3 = one unpaired base; default {d.min_hloop_size})")
    p.add_argument("--min-pixel-pred", type=int, default=d.min_pixel_pred,
                   help="drop boxes proposed by fewer pixels (0 = off, the default)")
    p.add_argument("--min-prob", type=float, default=d.min_prob,
                   help="drop boxes with a lower median probability (0 = off, the default)")
    p.add_argument("--max-per-nt", type=float, default=d.max_per_nt,
                   help="then keep at most this many boxes per nucleotide, the best by their vote "
                        "(or n_proposal_norm) over the area (0 = off, the default)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run_prune(args) -> int:
    check_out_dir(args.out, args.overwrite)
    started = time.time()
    ids, seqs, tables, table, source = read_proposals(args.inp)
    # the budget ranks hairpins as the proposals' own thresholds did
    cfg = PruneConfig(args.discard_ns_stem, args.min_hloop_size, args.min_pixel_pred, args.min_prob,
                      args.max_per_nt, _infer_params(source)["hloop_factor"])
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
    carried = {c: table.column(c) for c in _CARRIED if c in table.column_names}
    kept = int(sum(len(t["type"]) for t in kept_tables))
    manifest = _manifest("rnastruct.prune", {**dataclasses.asdict(cfg), "in": args.inp},
                         source, {"sequences": len(seqs), "boxes": kept, "dropped": dropped},
                         time.time() - started)
    _write(args.out, ids, seqs, carried, kept_tables, manifest, args.overwrite)
    print(f"kept {kept} boxes; dropped " + ", ".join(f"{k} {v}" for k, v in dropped.items())
          + f"; wrote {args.out}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# s1-eval


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="inp", required=True,
                   help="proposals dataset with true structures (rnastruct s1-infer / prune on a generated dataset)")
    p.add_argument("--out", required=True, help="output folder: summary.csv, curves.csv, curves.png, summary.md")
    p.add_argument("--overwrite", action="store_true", help="replace files in --out")


def run_eval(args) -> int:
    from ..boxes import structure_to_boxes
    from .recall import curves, join_scores, score_sequence, summarize

    ids, seqs, tables, table, manifest = read_proposals(args.inp)
    if "pairs" not in table.column_names:
        raise InputError(f"{args.inp}: no true structures (pairs column): run s1-infer on a "
                         "generated dataset or a FASTA file with structure lines")
    out = Path(args.out)
    names = ("summary.csv", "curves.csv", "curves.png", "summary.md")
    if out.exists() and not args.overwrite and any((out / n).exists() for n in names):
        raise InputError(f"{out}: already holds results (pass --overwrite to replace them)")
    params = _infer_params(manifest)
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
    out.mkdir(parents=True, exist_ok=True)
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
    sys.stdout.write(text)
    return 0


def _infer_params(manifest: dict) -> dict:
    """The proposal settings a proposals dataset was made with (its s1-infer manifest, also
    when a prune manifest wraps it)."""
    m = manifest
    while m and m.get("kind") != "rnastruct.s1-infer":
        m = m.get("input") if isinstance(m.get("input"), dict) else None
    params = dataclasses.asdict(ProposalConfig())
    if not m:
        return params
    # a vote's threshold is vote_threshold; manifests from before votes lack the vote keys
    params.update({k: v for k, v in m["params"].items() if k in params})
    if params["method"] == "vote":
        params["threshold"] = params["vote_threshold"]
    return params


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

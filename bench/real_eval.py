"""Real-structure accuracy of the default model against RNAfold in the same run, with an ablation
of each choice (pseudo-energy weight, decoding), and how many real pairs S1's proposal pruning
(the ``mfe`` set's fold decoder) would keep.

    python bench/real_eval.py --sets VL0 VL1 ArchiveII [--limit N] [--out bench/results/real]

Scores are ``rnastruct evaluate``'s defaults: mean per-sequence F1, every reference pair counted
(pseudoknots, non-canonical pairs, multiplets). Letters other than A C G U are folded as N.
Each set's predictions of the default model are written as RNAfold-style FASTA
(``OUT/pred_SET.fa``), so that anyone can rescore them with ``rnastruct evaluate``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = {"VL0": DATA / "real" / "bpRNA_VL0.csv", "VL1": DATA / "real" / "PDB_VL1.csv",
        "ArchiveII": DATA / "benchmarks" / "ArchiveII.csv"}

_JOB: dict = {}


def _variants(chosen, s2_term: tuple[float, float]) -> list[tuple]:
    """(label, weight, offset, decoding, gamma, threshold, s2_weight, s2_offset): RNAfold's
    decodings, the chosen model, the chosen weights with every decoding, the S1 weight halved
    and doubled, and S1 with S2's stem term (``s2_term``: the chosen one, or the given one when
    the model chose none) against S1 alone."""
    w, b, g, t = chosen.weight, chosen.offset, chosen.gamma, chosen.threshold
    w2, b2 = chosen.s2_weight, chosen.s2_offset
    out = [("RNAfold MFE", 0, 0, "mfe", 1, 0.3, 0, 0), ("RNAfold MEA (gamma 1)", 0, 0, "mea", 1, 0.3, 0, 0),
           ("RNAfold centroid", 0, 0, "centroid", 1, 0.3, 0, 0),
           (f"rnastruct default ({chosen.decoding})", w, b, chosen.decoding, g, t, w2, b2)]
    for d in ("mfe", "mea", "centroid", "threshknot"):
        if d != chosen.decoding:
            out.append((f"rnastruct, {d} decoding", w, b, d, g, t, w2, b2))
    out += [(f"rnastruct, S1 weight {w / 2:g}", w / 2, b, chosen.decoding, g, t, w2, b2),
            (f"rnastruct, S1 weight {2 * w:g}", 2 * w, b, chosen.decoding, g, t, w2, b2)]
    if w2:
        out.append(("rnastruct, S1 alone (no S2 term)", w, b, chosen.decoding, g, t, 0, 0))
    elif s2_term[0]:
        out.append((f"rnastruct, S1 + S2 stem term (weight {s2_term[0]:g}, offset {s2_term[1]:g})",
                    w, b, chosen.decoding, g, t, *s2_term))
    return out


def _fold_one(k: int) -> list[np.ndarray]:
    from rnastruct.folding import fold_soft
    from rnastruct.learned import FoldEnergy

    seq, logits = _JOB["seqs"][k], _JOB["logits"][k]
    out = []
    for label, w, b, d, g, t, w2, b2 in _JOB["variants"]:
        if label.startswith("MXfold2"):
            from rnastruct.structure import parse_dot_bracket

            out.append(parse_dot_bracket(_JOB["mxfold2"][k]))
            continue
        if label.startswith("EternaFold"):
            import linearpartition  # benchmark only (non-commercial licence): bench/peers_setup.sh

            from rnastruct.structure import parse_dot_bracket

            out.append(parse_dot_bracket(linearpartition.partition(seq, mode="eterna")["structure"]))
            continue
        energy = FoldEnergy(w, b, s2_weight=w2, s2_offset=b2).pseudo_energies(
            logits, seq, _JOB["stems"][k] if w2 else None)
        out.append(fold_soft(seq, energy, d, g, t)[0])
    return out


def _mxfold2(seqs: list[str], threads: int) -> list[str]:
    """MXfold2's structure of each sequence, from bench/peers.py's worker (run, not imported)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.fa", Path(tmp) / "out.fa"
        src.write_text("".join(f">{k}\n{s}\n" for k, s in enumerate(seqs)))
        subprocess.run([sys.executable, str(REPO / "bench" / "peers.py"), "fold", "MXfold2", str(src), str(dst),
                        "--threads", str(threads)], check=True)
        lines = dst.read_text().splitlines()
    found = {lines[r][1:].split()[0]: lines[r + 2].split()[0] for r in range(0, len(lines) - 2, 3)}
    return [found[str(k)] for k in range(len(seqs))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["VL0", "VL1"], choices=list(SETS))
    ap.add_argument("--model", default="real")
    ap.add_argument("--limit", type=int, help="a seeded random subset of each set")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eternafold", action="store_true",
                    help="also EternaFold (LinearPartition with EternaFold parameters, its MEA structure; "
                         "benchmark only: bash bench/peers_setup.sh)")
    ap.add_argument("--mxfold2", action="store_true",
                    help="also MXfold2 with its shipped weights (TrainSetAB; bash bench/peers_setup.sh). Its "
                         "training sets overlap ArchiveII and bpRNA: not a test of unseen RNAs")
    ap.add_argument("--no-pruning", action="store_true", help="skip the count of pairs the mfe set's pruning keeps")
    ap.add_argument("--short", action="store_true",
                    help="only RNAfold MFE, RNAfold MEA and the default (no ablation): large sets")
    ap.add_argument("--s2-term", type=float, nargs=2, metavar=("WEIGHT", "OFFSET"), default=(0.0, 0.0),
                    help="when the model's settings give S2 no weight: add a row with this S2 stem term "
                         "(learned.FoldEnergy.stem_energies) on the model set's S2")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "real")
    args = ap.parse_args()

    import torch

    from rnastruct.evaluate import ScoringOptions, aggregate, score_records
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.decoders import stem_score_maps
    from rnastruct.realdata import clean_sequence, read_real_csv
    from rnastruct.s1.allowed import allowed_pair_map
    from rnastruct.seqio import Record
    from rnastruct.structure import to_dot_bracket

    torch.set_num_threads(args.workers)
    predictor = load_predictor(model=args.model, threads=1)
    chosen = predictor.decoder.settings.energy
    mfe_set = load_predictor(model="mfe", threads=1)  # its decoder: the proposal-restricted fold
    args.out.mkdir(parents=True, exist_ok=True)
    report = [f"# Real structures: {args.model} model against RNAfold\n",
              f"Command: `python bench/real_eval.py --sets {' '.join(args.sets)}"
              f"{f' --limit {args.limit}' if args.limit else ''}{' --short' if args.short else ''}{' --eternafold' if args.eternafold else ''}{' --mxfold2' if args.mxfold2 else ''}{' --no-pruning' if args.no_pruning else ''}"
              f"{' --s2-term %g %g' % tuple(args.s2_term) if args.s2_term[0] else ''}`. Chosen settings: "
              f"`{dataclasses.asdict(chosen)}`.\n"]
    summary = {}
    for name in args.sets:
        t0 = time.time()
        records, _ = read_real_csv(SETS[name])
        if args.limit and args.limit < len(records):
            keep = np.sort(np.random.default_rng(0).choice(len(records), args.limit, replace=False))
            records = [records[k] for k in keep]
        seqs = [clean_sequence(r.seq)[0] for r in records]
        refs = {r.name: Record(r.name, s, r.pairs) for r, s in zip(records, seqs)}
        logits = [None] * len(seqs)
        for k, lg in predictor.s1.pair_logits(seqs):
            logits[k] = lg.copy()
        variants = _variants(chosen, tuple(args.s2_term))[:4 if args.short else None]
        stems = None
        if any(v[6] for v in variants):  # S2's stem scores of the boxes the box decoder would see
            boxes = load_predictor(model=args.model, decoder="boxes", threads=1)
            maps = dict(stem_score_maps(boxes.s1, boxes.decoder.scorer, seqs, chosen.s2_max_boxes))
            stems = [maps[k] for k in range(len(seqs))]
        if args.short:
            variants = [v for v in variants if v[0] != "RNAfold centroid"]
        if args.eternafold:
            variants.insert(3, ("EternaFold (LinearPartition MEA)", 0, 0, "", 0, 0, 0, 0))
        if args.mxfold2:
            variants.insert(3, ("MXfold2 (shipped TrainSetAB weights)", 0, 0, "", 0, 0, 0, 0))
        _JOB.update(seqs=seqs, logits=logits, variants=variants, stems=stems,
                    mxfold2=_mxfold2(seqs, args.workers) if args.mxfold2 else None)
        with mp.get_context("fork").Pool(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            folded = pool.map(_fold_one, range(len(seqs)), chunksize=2)
        rows = []
        for v, (label, *_rest) in enumerate(variants):
            preds = {r.name: Record(r.name, s, f[v]) for r, s, f in zip(records, seqs, folded)}
            df = score_records(preds, refs, ScoringOptions())
            agg = aggregate(df).iloc[0]
            rows.append({"variant": label, "f1": agg["f1"], "precision": agg["precision"],
                         "recall": agg["recall"], "mcc": agg["mcc"]})
            if label.startswith("rnastruct default"):
                with open(args.out / f"pred_{name}.fa", "w") as fh:
                    for r, s, f in zip(records, seqs, folded):
                        fh.write(f">{r.name}\n{s}\n{to_dot_bracket(f[v], len(s))}\n")
        # the mfe set's fold decoder restricts ViennaRNA to S1's proposals: how many real
        # canonical pairs does that pruning keep?
        kept = total = 0
        for k, tiles in ([] if args.no_pruning else mfe_set.s1.pixel_tiles(seqs, light=True)):
            allowed = allowed_pair_map(tiles, seqs[k], mfe_set.decoder.proposal, mfe_set.decoder.pruning)  # [L, L]
            s = seqs[k]
            canon = [(i, j) for i, j in refs[records[k].name].pairs.tolist()
                     if s[i] + s[j] in ("AU", "UA", "GC", "CG", "GU", "UG")]
            total += len(canon)
            kept += sum(bool(allowed[i, j]) for i, j in canon)
        table = "| variant | F1 | precision | recall | MCC |\n|---|---|---|---|---|\n" + "".join(
            f"| {r['variant']} | {r['f1']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['mcc']:.4f} |\n"
            for r in rows)
        summary[name] = {"n": len(seqs), "variants": rows, "canonical_pairs_kept_by_mfe_set_pruning": kept / max(total, 1),
                         "seconds": round(time.time() - t0, 1)}
        report.append(f"\n## {name}: {len(seqs)} RNAs\n\n" + table + ("" if args.no_pruning else
                      f"\nThe `mfe` set's proposal pruning keeps {kept / max(total, 1):.1%} of the "
                      f"{total} canonical reference pairs (a cap on its recall).\n"))
        print(report[-1], flush=True)
        print(f"{name}: {time.time() - t0:.0f} s", file=sys.stderr)
    tag = "_".join(args.sets) + (f"_limit{args.limit}" if args.limit else "") + ("_short" if args.short else "") + ("_eternafold" if args.eternafold else "") + ("_mxfold2" if args.mxfold2 else "")
    (args.out / f"eval_{tag}.md").write_text("".join(report))
    (args.out / f"eval_{tag}.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()

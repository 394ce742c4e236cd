"""Choose how the learned pair scores enter ViennaRNA (weight, offset, decoding) on validation
structures, and store the choice in a copy of the S1 checkpoint (``state["fold_energy"]``, read
by ``rnastruct.pipeline``).

    python bench/tune_learned.py --s1 runs/real_s1/best.pt --valid ../shared/data/real/bpRNA_VL0.csv \
        --limit 400 --out rnastruct/models/real/s1.pt

For each (weight, offset) of the grid every validation sequence is folded once under Turner 2004
plus ``-weight * (logit - offset)`` per pair (``learned.pair_pseudo_energies``), and decoded by
MFE, MEA (several gamma), centroid and ThreshKnot (several thresholds) from the same partition
function. Scored as ``rnastruct evaluate`` does by default: mean per-sequence F1, every
reference pair counted (pseudoknots, non-canonical pairs and multiplets included). Weight 0 is
RNAfold's own decoding, the baseline, in the same run. The highest mean F1 is chosen. Only
validation sets (bpRNA VL0, PDB VL1) may be given: never ArchiveII or a test set.

With ``--s2 CKPT`` a second grid follows, at the chosen weight and offset: S2's stem term
(``learned.stem_pseudo_energies``; ``--s2-weights``, ``--s2-offsets``) on the boxes that S1
proposes and the predictor's pruning keeps (``Predictor.candidates``), weight 0 being the first
grid's choice again. Its choice is stored too (``s2_weight``, ``s2_offset``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

DECODINGS = ([("mfe", 1.0, 0.0)] + [("mea", g, 0.0) for g in (0.5, 1.0, 2.0, 4.0)] + [("centroid", 1.0, 0.0)]
             + [("threshknot", 1.0, t) for t in (0.2, 0.3, 0.4)])

_JOB: dict = {}


def _score_one(k: int) -> list[float]:
    from rnastruct.evaluate import ScoringOptions, count_pairs, prepare_pairs, scores
    from rnastruct.folding import fold_soft_many
    from rnastruct.learned import pair_pseudo_energies, stem_pseudo_energies

    seq, ref, logits = _JOB["seqs"][k], _JOB["refs"][k], _JOB["logits"][k]
    base = _JOB.get("base")  # the S2 grid: the chosen (weight, offset) under each (s2_weight, s2_offset)
    f1 = []
    for w, b in _JOB["grid"]:
        if base is None:
            energy = pair_pseudo_energies(logits, seq, w, b) if w else None
        else:
            energy = pair_pseudo_energies(logits, seq, *base) + stem_pseudo_energies(_JOB["stems"][k], w, b)
        for pairs, _ in fold_soft_many(seq, energy, DECODINGS):
            prep = prepare_pairs(seq, pairs, ref, ScoringOptions())
            f1.append(scores(count_pairs(prep.pred, prep.ref, len(seq)))["f1"])
    return f1


def _label(decoding: str, gamma: float, threshold: float) -> str:
    return {"mea": f"mea(gamma {gamma})", "threshknot": f"threshknot({threshold})"}.get(decoding, decoding)


def grid_search(seqs: list[str], refs: list[np.ndarray], logits: list, grid: list[tuple[float, float]],
                workers: int = 2, base: tuple[float, float] | None = None, stems: list | None = None) -> list[tuple]:
    """Mean F1 of every (weight, offset) of ``grid`` with every decoding of ``DECODINGS`` ->
    rows ``(weight, offset, decoding, gamma, threshold, mean_f1)``, best first (ties: the
    earlier in grid order, so weight 0, RNAfold's own, wins a tie). With ``base = (weight,
    offset)`` and ``stems`` (``learned.stem_pair_scores`` per sequence) the grid is S2's
    (s2_weight, s2_offset) on top of that S1 term."""
    import torch

    _JOB.update(seqs=seqs, refs=refs, logits=logits, grid=grid, base=base, stems=stems)
    torch.set_num_threads(1)
    with mp.get_context("fork").Pool(workers) as pool:
        f1 = np.array(pool.map(_score_one, range(len(seqs)), chunksize=4))  # [N, grid x decodings]
    mean = f1.mean(axis=0).reshape(len(grid), len(DECODINGS))
    rows = [(w, b, d, g, t, float(f)) for (w, b), row in zip(grid, mean) for (d, g, t), f in zip(DECODINGS, row)]
    return sorted(rows, key=lambda r: -r[5])  # stable: ties keep grid order


def _decoding_order(row: tuple) -> int:
    return DECODINGS.index(tuple(row[2:5]))


def table_lines(rows: list[tuple]) -> list[str]:
    return (["weight\toffset\tdecoding\tgamma\tthreshold\tmean_f1"]
            + [f"{w}\t{b}\t{d}\t{g}\t{t}\t{f:.4f}" for w, b, d, g, t, f in rows])


def best(rows: list[tuple]):
    """The best row of ``grid_search`` -> (``learned.FoldEnergy``, its mean F1)."""
    from rnastruct.learned import FoldEnergy

    w, b, d, g, t, f = rows[0]
    w, b, g, t, f = (float(x) for x in (w, b, g, t, f))  # checkpoints hold plain Python numbers
    return FoldEnergy(weight=w, offset=b, decoding=d, gamma=g, threshold=t if d == "threshknot" else 0.3), f


def s2_stem_scores(s1: str, s2: str, seqs: list[str], max_boxes: int) -> list[np.ndarray]:
    """Per sequence, S2's raw log-odds of the pairs of the stems S1 proposes and the predictor
    keeps (``Predictor.stem_scores``), S2 being the checkpoint at ``s2``."""
    from rnastruct.pipeline import Predictor

    t0 = time.time()
    predictor = Predictor(s1=s1, s2=s2, decoder="boxes", precision="fp32")
    stems = dict(predictor.stem_score_maps(seqs, max_boxes, progress=True))
    print(f"S2 scores of {len(seqs)} sequences in {time.time() - t0:.0f} s", file=sys.stderr)
    return [stems[k] for k in range(len(seqs))]


def load_validation(paths: list[str], limit: int | None, seed: int):
    from rnastruct.realdata import clean_sequence, read_real_csv

    names, seqs, refs = [], [], []
    for p in paths:
        name = Path(p).name.lower()
        if any(bad in name for bad in ("archiveii", "ts0", "ts1", "test")):
            sys.exit(f"{p}: tuning is on validation sets only (VL0, VL1), never ArchiveII or a test set")
        records, _ = read_real_csv(p)
        for r in records:
            names.append(r.name)
            seqs.append(clean_sequence(r.seq)[0])
            refs.append(r.pairs)
    if limit and limit < len(seqs):
        keep = np.sort(np.random.default_rng(seed).choice(len(seqs), limit, replace=False))
        names, seqs, refs = [names[k] for k in keep], [seqs[k] for k in keep], [refs[k] for k in keep]
    return names, seqs, refs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--s1", help="S1 checkpoint with a pair head (without: the RNAfold baselines only)")
    ap.add_argument("--valid", nargs="+", default=["../shared/data/real/bpRNA_VL0.csv"])
    ap.add_argument("--limit", type=int, help="a seeded random subset of this many sequences")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])
    ap.add_argument("--offsets", type=float, nargs="+", default=[-2.0, 0.0, 2.0])
    ap.add_argument("--s2", help="S2 checkpoint: also choose the weight of its stem term")
    ap.add_argument("--s2-weights", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4])
    ap.add_argument("--s2-offsets", type=float, nargs="+", default=[-2.0, 0.0, 2.0])
    ap.add_argument("--max-boxes", type=int, default=256, help="boxes S2 sees per sequence (as s2-data)")
    ap.add_argument("--s2-measure-only", action="store_true",
                    help="grid S2's term and write its table, but store the S1-only choice (S2's term "
                         "costs more time than the speed target allows: the shipped model)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="write a copy of --s1 with the chosen fold_energy here")
    ap.add_argument("--table", help="write the whole grid as TSV here")
    args = ap.parse_args()

    import torch

    from rnastruct.s1.infer import S1Predictor
    from rnastruct.train import load_checkpoint, save_checkpoint

    names, seqs, refs = load_validation(args.valid, args.limit, args.seed)
    t0 = time.time()
    torch.set_num_threads(args.workers)
    logits = [None] * len(seqs)
    if args.s1:
        predictor = S1Predictor.from_checkpoint(args.s1)
        for k, lg in predictor.pair_logits(seqs, progress=True):
            logits[k] = lg.copy()
        print(f"pair logits of {len(seqs)} sequences in {time.time() - t0:.0f} s", file=sys.stderr)
    elif args.out:
        sys.exit("--out needs --s1")

    grid = [(0.0, 0.0)] + [(w, b) for w, b in itertools.product(args.weights, args.offsets) if w and args.s1]
    rows = grid_search(seqs, refs, logits, grid, args.workers)
    lines = table_lines(rows)
    print(f"{len(seqs)} validation sequences from {', '.join(args.valid)}; {time.time() - t0:.0f} s")
    print("baseline (weight 0 = RNAfold): " + ", ".join(
        f"{_label(d, g, t)} {f:.4f}" for w, b, d, g, t, f in sorted(rows, key=_decoding_order) if w == 0))
    print("\n".join(lines[:16]))
    if args.table:
        Path(args.table).write_text("\n".join(lines) + "\n")
    chosen, f = best(rows)
    print(f"chosen: {chosen} (mean F1 {f:.4f})")
    if args.s2:
        stems = s2_stem_scores(args.s1, args.s2, seqs, args.max_boxes)
        s2_grid = [(0.0, 0.0)] + list(itertools.product(args.s2_weights, args.s2_offsets))
        s2_rows = grid_search(seqs, refs, logits, s2_grid, args.workers, (chosen.weight, chosen.offset), stems)
        s2_lines = table_lines(s2_rows)
        print("S2 stem term at the chosen weight and offset (weight, offset: S2's):")
        print("\n".join(s2_lines[:10]))
        if args.table:
            Path(args.table).with_suffix(".s2.tsv").write_text("\n".join(s2_lines) + "\n")
        s2_choice, s2_f = best(s2_rows)
        with_s2 = dataclasses.replace(s2_choice, weight=chosen.weight, offset=chosen.offset,
                                      s2_weight=s2_choice.weight, s2_offset=s2_choice.offset,
                                      s2_max_boxes=args.max_boxes)
        print(f"best with S2: {with_s2} (mean F1 {s2_f:.4f})")
        if not args.s2_measure_only:
            chosen, f = with_s2, s2_f
    if args.out:
        state = load_checkpoint(args.s1)
        state["fold_energy"] = dataclasses.asdict(chosen)
        state["fold_energy_tuning"] = {"valid": [Path(p).name for p in args.valid], "n": len(seqs),
                                       "seed": args.seed, "mean_f1": f}
        state.pop("optimizer", None), state.pop("scheduler", None), state.pop("history", None)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.out, state)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

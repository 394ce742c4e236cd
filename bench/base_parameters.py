"""The learned pair term on top of each of ViennaRNA's RNA parameter sets (Turner 2004,
Andronescu 2007, Langdon 2018), on validation structures only (bpRNA VL0, PDB VL1).

    python bench/base_parameters.py --s1 rnastruct/models/real/s1.pt --limit 300

For each parameter set: RNAfold alone (MFE and centroid) and the S1 checkpoint's learned term
(its ``fold_energy`` weight and offset, or ``--weight/--offset``) with the same decodings, each
sequence folded once per setting; mean per-sequence F1 as ``rnastruct evaluate`` scores it.
The network was trained on top of Turner 2004: the other sets are measured without retraining.

``--write S1`` records the choice in that checkpoint (``energy_parameters``: the set whose learned
term scores the highest mean F1 on the first of ``--sets`` with the checkpoint's decoding, and
every figure measured). The predictor folds with Turner 2004 only and refuses a checkpoint that
chose another set: ViennaRNA keeps the first parameter set a process uses for every later fold
compound of the same model details (2.7.2), so a library cannot switch sets safely.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np

SETS = {"VL0": "../shared/data/real/bpRNA_VL0.csv", "VL1": "../shared/data/real/PDB_VL1.csv"}
DECODINGS = [("mfe", 1.0, 0.3), ("centroid", 1.0, 0.3)]
_JOB: dict = {}


def _init(params: str) -> None:
    from rnastruct.folding import use_energy_parameters

    use_energy_parameters(params)


def _score(k: int) -> list[float]:
    from rnastruct.evaluate import default_f1
    from rnastruct.folding import fold_soft_many
    from rnastruct.learned import FoldEnergy

    seq, ref, logits = _JOB["seqs"][k], _JOB["refs"][k], _JOB["logits"][k]
    out = []
    for w, b in ((0.0, 0.0), _JOB["term"]):
        energy = FoldEnergy(weight=w, offset=b).pair_energies(logits, seq) if w else None
        out += [default_f1(seq, pairs, ref) for pairs, _ in fold_soft_many(seq, energy, DECODINGS)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--s1", default="rnastruct/models/real/s1.pt")
    ap.add_argument("--sets", nargs="+", default=["VL0", "VL1"], choices=list(SETS))
    ap.add_argument("--limit", type=int, help="a seeded random subset of each set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weight", type=float)
    ap.add_argument("--offset", type=float)
    ap.add_argument("--params", nargs="+", help="parameter sets to measure (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the table here (Markdown)")
    ap.add_argument("--write", metavar="S1", help="record the choice in this S1 checkpoint (energy_parameters)")
    args = ap.parse_args()

    import torch

    from rnastruct.folding import ENERGY_PARAMETERS
    from rnastruct.tuning import load_validation
    from rnastruct.s1.infer import S1Predictor
    from rnastruct.checkpoints import load_checkpoint

    fe = load_checkpoint(args.s1).get("fold_energy", {})
    decoding = fe.get("decoding", "centroid")
    if decoding not in [d for d, _, _ in DECODINGS]:
        raise SystemExit(f"{args.s1}: decoding {decoding!r} is not measured here (mfe, centroid)")
    term = (args.weight if args.weight is not None else fe["weight"],
            args.offset if args.offset is not None else fe["offset"])
    torch.set_num_threads(args.workers)
    predictor = S1Predictor.from_checkpoint(args.s1)
    lines = [f"# Learned term on each parameter set ({args.s1}, weight {term[0]:g}, offset {term[1]:g})", "",
             f"CPU: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores; "
             f"command: `python {' '.join(sys.argv)}`", "",
             "| set | n | parameters | RNAfold MFE | RNAfold centroid | learned MFE | learned centroid |",
             "|---|---|---|---|---|---|---|"]
    measured: dict = {}  # set -> parameters -> the four mean F1s
    for name in args.sets:
        _, seqs, refs = load_validation([SETS[name]], args.limit, args.seed)
        logits = [None] * len(seqs)
        for k, lg in predictor.pair_logits(seqs):
            logits[k] = lg.copy()
        _JOB.update(seqs=seqs, refs=refs, logits=logits, term=term)
        for params in args.params or ENERGY_PARAMETERS:
            t0 = time.time()
            with mp.get_context("fork").Pool(args.workers, initializer=_init, initargs=(params,)) as pool:
                f1 = np.array(pool.map(_score, range(len(seqs)), chunksize=4)).mean(axis=0)
            lines.append(f"| {name} | {len(seqs)} | {params} | " + " | ".join(f"{x:.4f}" for x in f1) + " |")
            measured.setdefault(name, {})[params] = dict(zip(
                ["rnafold_mfe", "rnafold_centroid", "learned_mfe", "learned_centroid"], map(float, f1)))
            print(lines[-1], f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.write:
        from rnastruct.checkpoints import save_checkpoint

        first = measured[args.sets[0]]
        chosen = max(first, key=lambda p: first[p][f"learned_{decoding}"])
        state = load_checkpoint(args.write)
        state["energy_parameters"] = {"chosen": chosen, "by": f"learned {decoding} mean F1 on {args.sets[0]}",
                                      "limit": args.limit, "seed": args.seed, "measured": measured}
        save_checkpoint(args.write, state)
        print(f"chose {chosen}; wrote energy_parameters into {args.write}")


if __name__ == "__main__":
    main()

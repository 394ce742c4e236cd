"""Mean F1 of S1 checkpoints trained through the partition function (``ensemble_weight``),
each with the scale and offset it learned, on validation structures only (bpRNA VL0, PDB VL1):
what chooses the epoch of ``configs/s1/real_ensemble*.yaml``.

    python bench/ensemble_checkpoints.py runs/real_ens/checkpoints/epoch_*.pt --sets VL0 --limit 300

A checkpoint without a learned scale (the shipped ``real`` S1) is scored with its
``fold_energy`` weight and offset; one trained with the pair loss alone (no scale of its own)
with ``--terms`` only. ``--scales`` also scores each at multiples of its weight, ``--terms`` at
given weights and offsets.
Decodings: MFE and centroid from one partition function; scored as ``rnastruct evaluate``.
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


def _score(k: int) -> list[float]:
    from rnastruct.evaluate import default_f1
    from rnastruct.folding import fold_soft_many
    from rnastruct.learned import FoldEnergy

    seq, ref, logits = _JOB["seqs"][k], _JOB["refs"][k], _JOB["logits"][k]
    out = []
    for w, b in _JOB["terms"]:
        energy = FoldEnergy(weight=w, offset=b).pair_energies(logits, seq)
        out += [default_f1(seq, pairs, ref) for pairs, _ in fold_soft_many(seq, energy, DECODINGS)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--sets", nargs="+", default=["VL0"], choices=list(SETS))
    ap.add_argument("--limit", type=int, help="a seeded random subset of each set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0])
    ap.add_argument("--terms", type=float, nargs="+", default=[],
                    help="also score every checkpoint at these weight offset pairs (w1 b1 w2 b2 ...)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import torch

    from rnastruct.tuning import load_validation
    from rnastruct.s1.infer import S1Predictor
    from rnastruct.checkpoints import load_checkpoint

    torch.set_num_threads(args.workers)
    print(f"CPU: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores; "
          f"command: python {' '.join(sys.argv)}")
    print("set\tn\tcheckpoint\tweight\toffset\tmfe\tcentroid")
    for name in args.sets:
        _, seqs, refs = load_validation([SETS[name]], args.limit, args.seed)
        for ckpt in args.checkpoints:
            t0 = time.time()
            state = load_checkpoint(ckpt)
            # a checkpoint trained with the pair loss alone has no scale of its own: --terms only
            scale = state.get("energy_scale") or state.get("fold_energy")
            terms = [(scale["weight"] * s, scale["offset"]) for s in args.scales] if scale else []
            terms += list(zip(args.terms[::2], args.terms[1::2]))
            logits = [None] * len(seqs)
            for k, lg in S1Predictor.from_checkpoint(ckpt).pair_logits(seqs):
                logits[k] = lg.copy()
            _JOB.update(seqs=seqs, refs=refs, logits=logits, terms=terms)
            with mp.get_context("fork").Pool(args.workers) as pool:
                f1 = np.array(pool.map(_score, range(len(seqs)), chunksize=4)).mean(axis=0)
            for t, (w, b) in enumerate(terms):
                print(f"{name}\t{len(seqs)}\t{ckpt}\t{w:.4f}\t{b:.4f}\t{f1[2 * t]:.4f}\t{f1[2 * t + 1]:.4f}", flush=True)
            print(f"  ({time.time() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

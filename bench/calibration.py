"""How far can pair probabilities be trusted? ``rnastruct calibrate``'s reliability diagram and
expected calibration error (ECE) of rnastruct's pair probabilities (the default model's energies:
Turner 2004 plus the learned pseudo-energies) at several temperatures, RNAfold's, and
EternaFold's (LinearPartition with EternaFold parameters, benchmark only: bash
bench/peers_setup.sh) when it is installed, on real validation structures.

    python bench/calibration.py [--sets VL0 VL1] [--limit N] [--out bench/results/calibration]

The binning and the ECE: ``rnastruct.calibration``. Writing the chosen temperature into a
checkpoint is the shipping step, ``rnastruct calibrate --write``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rnastruct.calibration import calibrate, table
from rnastruct.plots import reliability_figure, save_png

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real"
SETS = {"VL0": DATA / "bpRNA_VL0.csv", "VL1": DATA / "PDB_VL1.csv"}


def eternafold(seq: str) -> np.ndarray:
    import linearpartition  # benchmark only (non-commercial licence): bench/peers_setup.sh

    P = np.zeros((len(seq), len(seq)))
    for i, j, p in linearpartition.partition(seq, mode="eterna")["bpp"]:
        P[min(i, j), max(i, j)] = p
    return P


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["VL0", "VL1"], choices=list(SETS))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "calibration")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0],
                    help="temperatures (x kT) tried for rnastruct's probabilities; the best on the first set is chosen")
    args = ap.parse_args()

    import importlib.util

    others = {"EternaFold": eternafold} if importlib.util.find_spec("linearpartition") else {}
    summary, _ = calibrate({name: SETS[name] for name in args.sets}, args.scales, args.limit, args.workers, others)
    args.out.mkdir(parents=True, exist_ok=True)
    save_png(reliability_figure(summary), args.out / "reliability.png")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "calibration.md").write_text(table(summary))
    print(table(summary))


if __name__ == "__main__":
    main()

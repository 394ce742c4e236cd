"""Throughput of ``rnastruct generate`` against a bare ViennaRNA loop doing the same folds.

    python bench/generate_throughput.py [--num-seq 4000] [--length 64] [--repeat 2]

Runs, in one process tree and on the same segments:
1. ``rnastruct generate`` (the real CLI, in a subprocess) with 1 and with 2 workers, no filter,
   so every sampled segment is folded and kept;
2. a bare loop over those segments with ViennaRNA's Python API doing the same work per segment
   (MFE, partition function, probability of the MFE structure, ensemble diversity).
Prints segments/s and the ratios the foundation issue sets targets for:
1 worker >= 0.9x the bare loop, 2 workers >= 1.8x 1 worker.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import RNA

HERE = Path(__file__).resolve().parent
DEFAULT_FASTA = HERE.parents[1] / "shared" / "data" / "human" / "chr1_isoforms_hg19.fa"


def run_generate(fasta: Path, out: Path, num_seq: int, length: str, workers: int) -> float:
    cmd = ["rnastruct", "generate", "--fasta", str(fasta), "--length", length,
           "--num-seq", str(num_seq), "--seed", "7", "--workers", str(workers), "--quiet",
           "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def bare_loop(seqs: list[str]) -> float:
    """What a user would write by hand: the same four quantities per segment."""
    t0 = time.perf_counter()
    for s in seqs:
        fc = RNA.fold_compound(s)
        structure, mfe = fc.mfe()
        fc.exp_params_rescale(mfe)
        fc.pf()
        fc.pr_structure(structure)
        fc.mean_bp_distance()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", type=Path, default=DEFAULT_FASTA)
    ap.add_argument("--num-seq", type=int, default=4000)
    ap.add_argument("--length", default="64")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of each; the fastest counts (the others saw more noise)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    t1 = t2 = tb = float("inf")
    for k in range(args.repeat):  # interleaved, so slow phases of the machine hit all three
        with tempfile.TemporaryDirectory() as tmp:
            t1 = min(t1, run_generate(args.fasta, Path(tmp) / "w1", args.num_seq, args.length, 1))
            t2 = min(t2, run_generate(args.fasta, Path(tmp) / "w2", args.num_seq, args.length, 2))
            df1 = pd.read_parquet(Path(tmp) / "w1" / "segments.parquet")
            df2 = pd.read_parquet(Path(tmp) / "w2" / "segments.parquet")
            assert df1.equals(df2), "1 and 2 workers gave different rows"
            seqs = df1["seq"].tolist()
        tb = min(tb, bare_loop(seqs))
    n = len(seqs)
    rate = {"bare": n / tb, "workers_1": n / t1, "workers_2": n / t2}
    ratios = {"1_worker_vs_bare": rate["workers_1"] / rate["bare"],
              "2_workers_vs_1": rate["workers_2"] / rate["workers_1"]}
    print(f"segments: {n} of length {args.length}, cores available: {len(os.sched_getaffinity(0))}, "
          f"best of {args.repeat} runs each")
    print(f"bare ViennaRNA loop : {rate['bare']:8.1f} seg/s ({tb:.1f} s)")
    print(f"generate, 1 worker  : {rate['workers_1']:8.1f} seg/s ({t1:.1f} s, whole CLI run)")
    print(f"generate, 2 workers : {rate['workers_2']:8.1f} seg/s ({t2:.1f} s, whole CLI run)")
    print(f"ratio 1 worker / bare loop : {ratios['1_worker_vs_bare']:.3f}  (target >= 0.9)")
    print(f"ratio 2 workers / 1 worker : {ratios['2_workers_vs_1']:.3f}  (target >= 1.8)")
    if args.json:
        args.json.write_text(json.dumps({"segments": n, "length": args.length, "rates": rate,
                                         "ratios": ratios}, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()

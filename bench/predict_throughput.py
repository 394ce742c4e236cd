"""`rnastruct predict` throughput against RNAfold on ArchiveII, in one run, and time per sequence
by length (log-log PNG).

    python bench/predict_throughput.py [--limit N] [--threads 2] [--out bench/results/predict]

Both tools fold the same ArchiveII sequences (all 3,864 by default; ``--limit`` takes a random
subset with a seed) one at a time with the same number of threads: rnastruct through its Python
API (S1 + S2 + assembly, models loaded once), RNAfold through ViennaRNA's Python API (MFE only)
on as many processes. Prints sequences/s of each and the ratio rnastruct / RNAfold; writes the
per-sequence times as CSV and the log-log plot.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "benchmarks" / "ArchiveII.csv"


def _rnafold_timed(seq: str) -> float:
    import RNA

    t0 = time.perf_counter()
    RNA.fold_compound(seq).mfe()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="random subset of this many sequences (seed 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "predict")
    args = ap.parse_args()

    import torch

    from rnastruct.pipeline import Predictor
    from rnastruct.structure import normalize_sequence

    df = pd.read_csv(ARCHIVE)
    if args.limit:
        df = df.sample(n=min(args.limit, len(df)), random_state=0).sort_index()
    seqs = [normalize_sequence(s, i, ambiguous="n") for s, i in zip(df["sequence"], df["id"])]
    torch.set_num_threads(args.threads)
    predictor = Predictor()
    list(predictor.predict(["warm"], [seqs[0]]))  # warm-up: oneDNN picks its kernels

    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(args.threads) as pool:
        fold_times = pool.map(_rnafold_timed, seqs, chunksize=4)
    fold_wall = time.perf_counter() - t0
    ours = []
    t0 = time.perf_counter()
    for k, s in enumerate(seqs):
        t1 = time.perf_counter()
        list(predictor.predict([str(k)], [s]))
        ours.append(time.perf_counter() - t1)
    ours_wall = time.perf_counter() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    per = pd.DataFrame({"id": df["id"].to_numpy(), "length": [len(s) for s in seqs],
                        "rnafold_s": fold_times, "rnastruct_s": ours})
    per.to_csv(args.out / "times.csv", index=False)
    summary = {"sequences": len(seqs), "threads": args.threads,
               "rnafold_seq_per_s": len(seqs) / fold_wall, "rnastruct_seq_per_s": len(seqs) / ours_wall,
               "ratio_rnastruct_over_rnafold": (len(seqs) / ours_wall) / (len(seqs) / fold_wall)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rnastruct.plots import save_png

    fig = Figure(figsize=(5.5, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.loglog(per["length"], per["rnafold_s"], ".", alpha=0.4, label="RNAfold (MFE)")
    ax.loglog(per["length"], per["rnastruct_s"], ".", alpha=0.4, label="rnastruct predict")
    ax.set_xlabel("sequence length (nt)")
    ax.set_ylabel("seconds per sequence")
    ax.set_title(f"ArchiveII, {len(seqs)} sequences, {args.threads} threads", fontsize="small")
    ax.legend()
    save_png(fig, args.out / "time_by_length.png")


if __name__ == "__main__":
    main()

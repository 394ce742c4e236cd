"""`rnastruct predict` throughput against RNAfold on ArchiveII, in one run, and time per sequence
by length (log-log PNG).

    python bench/predict_throughput.py [--model real|mfe] [--decoding D] [--limit N] [--threads 2]
        [--per-seq 200] [--out bench/results/predict]

Throughput: both tools fold the same ArchiveII sequences (all 3,864 by default; ``--limit``
takes a random subset with a seed) on ``--threads`` cores: rnastruct as ``rnastruct predict``
runs them (its Python API on the whole list: S1 + the default decoder of ``--model``, models
loaded once, as many worker processes), RNAfold through ViennaRNA's Python API on as many
processes, doing the same kind of decoding: the MFE when rnastruct decodes by MFE, else the MFE,
the partition function and the same ensemble decoding (``RNAfold -p --MEA``). Prints the CPU
(and whether it has AMX), sequences/s of each and the ratio rnastruct / RNAfold.

Time by length: ``--per-seq`` random sequences one at a time on one core each (rnastruct with
one thread, RNAfold in this process), written as CSV and drawn log-log.
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


_DECODING = ["mfe", 1.0, 0.3, False]  # decoding, gamma, threshold, pair probabilities


def _rnafold_timed(seq: str) -> float:
    """RNAfold's own decoding of the kind rnastruct uses (``_DECODING``; with pair
    probabilities, ``RNAfold -p``), timed."""
    from rnastruct.folding import fold_full

    t0 = time.perf_counter()
    fold_full(seq, None, [tuple(_DECODING[:3])], probs=_DECODING[3])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="random subset of this many sequences (seed 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-seq", type=int, default=200, help="sequences timed one at a time (seed 1)")
    ap.add_argument("--precision", default="auto", help="rnastruct's S1 precision (auto, bf16, fp32)")
    ap.add_argument("--model", default="real", help="rnastruct's model set (real, mfe or a folder)")
    ap.add_argument("--decoding", help="rnastruct's decoding (default: the model's own)")
    ap.add_argument("--bpp", action="store_true",
                    help="both also compute pair probabilities (rnastruct predict --bpp against RNAfold -p)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "predict")
    args = ap.parse_args()

    import torch

    from rnastruct.hardware import cpu_name
    from rnastruct.predictor import load_predictor
    from rnastruct.structure import normalize_sequence

    archive = pd.read_csv(ARCHIVE)
    df = archive.sample(n=min(args.limit, len(archive)), random_state=0).sort_index() if args.limit else archive
    seqs = [normalize_sequence(s, i, ambiguous="n") for s, i in zip(df["sequence"], df["id"])]
    names = [str(k) for k in range(len(seqs))]
    predictor = load_predictor(threads=args.threads, precision=args.precision, model=args.model,
                               decoding=args.decoding, probs=args.bpp)
    d = predictor.decoder.settings.energy
    _DECODING[:] = [d.decoding, d.gamma, d.threshold, args.bpp]
    list(predictor.predict(["warm"], [seqs[0]]))  # warm-up: oneDNN picks its kernels

    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(args.threads) as pool:
        pool.map(_rnafold_timed, seqs, chunksize=4)
    fold_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = sum(1 for _ in predictor.predict(names, seqs))
    ours_wall = time.perf_counter() - t0
    assert done == len(seqs)

    # one at a time on one core each
    timed = archive.sample(n=min(args.per_seq, len(archive)), random_state=1)
    one = load_predictor(threads=1, precision=args.precision, model=args.model, decoding=args.decoding,
                         probs=args.bpp)
    torch.set_num_threads(1)
    rows = []
    for name, s in zip(timed["id"], timed["sequence"]):
        s = normalize_sequence(s, name, ambiguous="n")
        t1 = time.perf_counter()
        list(one.predict([name], [s]))
        ours = time.perf_counter() - t1
        rows.append({"id": name, "length": len(s), "rnafold_s": _rnafold_timed(s), "rnastruct_s": ours})
    per = pd.DataFrame(rows)

    args.out.mkdir(parents=True, exist_ok=True)
    per.to_csv(args.out / "times.csv", index=False)
    summary = {"cpu": cpu_name(), "model": args.model, "decoding": _DECODING[0], "pair_probabilities": args.bpp,
               "sequences": len(seqs), "threads": args.threads, "precision": "bf16" if predictor.s1 is not None and predictor.s1.bf16 else "fp32",
               "rnafold_seq_per_s": len(seqs) / fold_wall, "rnastruct_seq_per_s": len(seqs) / ours_wall,
               "ratio_rnastruct_over_rnafold": fold_wall / ours_wall,
               "one_core_seconds_per_sequence": {"sequences": len(per), "rnafold": per["rnafold_s"].mean(),
                                                 "rnastruct": per["rnastruct_s"].mean()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rnastruct.plots import save_png

    fig = Figure(figsize=(5.5, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.loglog(per["length"], per["rnafold_s"], ".", alpha=0.4, label=f"RNAfold ({_DECODING[0]})")
    ax.loglog(per["length"], per["rnastruct_s"], ".", alpha=0.4, label="rnastruct predict")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xticks([25, 50, 100, 200, 400])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("sequence length (nt)")
    ax.set_ylabel("seconds per sequence")
    ax.set_title(f"ArchiveII, {len(per)} sequences, one at a time on one core", fontsize="small")
    ax.legend()
    save_png(fig, args.out / "time_by_length.png")


if __name__ == "__main__":
    main()

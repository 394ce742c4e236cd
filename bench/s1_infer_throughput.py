"""S1 inference throughput against ViennaRNA's MFE fold, on the same sequences, in one run.

    python bench/s1_infer_throughput.py [--lengths 100 200 500 1000] [--threads 2] [--method vote] [--json out.json]

For each length: real human sequence windows (../shared/data/human/mrna_20_records.fa; random
sequences if it is absent), timed through rnastruct's whole S1 inference (network, decoding,
selection by ``--method``, union by default, as ``rnastruct s1-infer`` runs it) batched and one sequence at a time, and
through ViennaRNA's MFE fold (``fold_compound(seq).mfe()``) on as many processes as rnastruct
has threads, so both use the same cores. Prints sequences/s and the ratios rnastruct / RNAfold
(> 1: rnastruct is faster).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HUMAN = REPO.parent / "shared" / "data" / "human" / "mrna_20_records.fa"
COUNTS = {100: 48, 200: 24, 500: 6, 1000: 3}  # sequences per length: a few seconds each


def windows(length: int, n: int, seed: int = 0) -> list[str]:
    """``n`` windows of ``length`` nt from the human mRNAs (ACGU only), or random sequences."""
    rng = np.random.default_rng(seed)
    if HUMAN.exists():
        from rnastruct.seqio import read_fasta

        seqs = [r.seq for r in read_fasta(HUMAN) if len(r.seq) >= length]
        out = []
        while len(out) < n and seqs:
            s = seqs[int(rng.integers(len(seqs)))]
            a = int(rng.integers(len(s) - length + 1))
            w = s[a:a + length]
            if "N" not in w:
                out.append(w)
        if len(out) == n:
            return out
    return ["".join(rng.choice(list("ACGU"), length)) for _ in range(n)]


def _mfe(seq: str) -> str:
    import RNA

    return RNA.fold_compound(seq).mfe()[0]


def time_rnafold(seqs: list[str], processes: int) -> float:
    t0 = time.perf_counter()
    if processes == 1:
        [_mfe(s) for s in seqs]
    else:
        with mp.get_context("fork").Pool(processes) as pool:
            pool.map(_mfe, seqs, chunksize=1)
    return len(seqs) / (time.perf_counter() - t0)


def time_rnastruct(predictor, seqs: list[str], batched: bool, method: str = "union") -> float:
    from rnastruct.s1.infer import ProposalConfig

    cfg = ProposalConfig(method=method)
    t0 = time.perf_counter()
    if batched:
        list(predictor.select(seqs, cfg))
    else:
        for s in seqs:
            list(predictor.select([s], cfg))
    return len(seqs) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=list(COUNTS))
    ap.add_argument("--threads", type=int, default=2, help="torch threads = RNAfold processes")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 inference for rnastruct (what predict uses on CPUs with AMX)")
    ap.add_argument("--model", default=str(REPO / "rnastruct" / "models" / "mfe" / "s1.pt"))
    ap.add_argument("--method", default="union", choices=["union", "vote"],
                    help="proposal selection, as s1-infer --method (vote: top-2 soft votes too)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from rnastruct.s1.infer import S1Predictor

    torch.set_num_threads(args.threads)
    predictor = S1Predictor.from_checkpoint(args.model, bf16=args.bf16)
    list(predictor.propose(windows(64, 2)))  # warm-up: oneDNN picks its kernels
    rows = []
    print(f"{'L':>5} {'n':>3} {'RNAfold seq/s':>14} {'batched seq/s':>14} {'single seq/s':>13} "
          f"{'batched/RNAfold':>16} {'single/RNAfold':>15}")
    for L in args.lengths:
        seqs = windows(L, COUNTS.get(L, 4), seed=L)
        fold = time_rnafold(seqs, args.threads)
        batched = time_rnastruct(predictor, seqs, batched=True, method=args.method)
        single = time_rnastruct(predictor, seqs, batched=False, method=args.method)
        rows.append({"length": L, "sequences": len(seqs), "rnafold_seq_per_s": fold,
                     "rnastruct_batched_seq_per_s": batched, "rnastruct_single_seq_per_s": single,
                     "ratio_batched": batched / fold, "ratio_single": single / fold})
        print(f"{L:>5} {len(seqs):>3} {fold:>14.2f} {batched:>14.2f} {single:>13.2f} "
              f"{batched / fold:>16.3f} {single / fold:>15.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "bf16": args.bf16, "model": args.model,
                                         "method": args.method, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""What a base-pair span limit costs in accuracy, on the longest real RNAs we have: ArchiveII's
16S and 23S rRNA entries (the <= 512-nt version: domains and fragments, 66 + 15) and every other
ArchiveII RNA of at least ``--min-length`` nt.

    python bench/span_accuracy.py [--spans 50 100 200 300] [--min-length 400] [--out bench/results/span]

For each limit W (and none), ``rnastruct predict --max-bp-span W`` (default model and settings)
on every selected RNA: mean base-pair F1 against the known structure, the share of the known
pairs that span more than W (no prediction within the limit can find those), and the CPU time.
Measurement only: ArchiveII chooses nothing here (the limit is the user's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "benchmarks" / "ArchiveII.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, nargs="+", default=[50, 100, 200, 300])
    ap.add_argument("--min-length", type=int, default=400)
    ap.add_argument("--archive", default=str(ARCHIVE))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "span"))
    args = ap.parse_args()

    import torch

    from rnastruct.evaluate import pair_scores
    from rnastruct.hardware import cpu_name
    from rnastruct.predictor import load_predictor

    torch.set_num_threads(1)
    table = pd.read_csv(args.archive)
    family = table.id.str.split("_").str[0].str.lower()
    table = table[family.isin(["16s", "23s"]) | (table.sequence.str.len() >= args.min_length)]
    names, seqs = list(table.id), [s.upper().replace("T", "U") for s in table.sequence]
    refs = [np.array(json.loads(b), dtype=np.int64).reshape(-1, 2) - 1 for b in table.base_pairs]
    ref_span = np.concatenate([r[:, 1] - r[:, 0] for r in refs])
    rows = []
    for W in [None, *args.spans]:
        p = load_predictor(threads=1, max_bp_span=W)
        t0 = time.process_time()
        f1 = {k: pair_scores(r.pairs, refs[k], len(seqs[k]))["f1"] for k, r in p.predict(names, seqs)}
        rows.append({"max_bp_span": W, "mean_f1": round(float(np.mean(list(f1.values()))), 4),
                     "known_pairs_beyond_span": round(float((ref_span > W).mean()), 4) if W else 0.0,
                     "cpu_s": round(time.process_time() - t0, 1)})
        print(rows[-1], flush=True)
    summary = {"cpu": cpu_name(), "rnas": len(seqs), "mean_length": round(float(np.mean([len(s) for s in seqs])), 1),
               "families": {str(k): int(v) for k, v in table.id.str.split("_").str[0].value_counts().items()},
               "command": " ".join(["python", "bench/span_accuracy.py", *sys.argv[1:]]), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "span_accuracy.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

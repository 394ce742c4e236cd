"""Does S1's precision change the predictions? `rnastruct predict` in bf16 and in fp32 on the
same sequences, in one run.

    python bench/precision_agreement.py [--data data/heldout_len20_200] [--heldout 600] [--archive 300]

Prints, for each precision, the mean base-pair F1 against the MFE structure on held-out
segments (``--data``, as bench/predict_heldout.py) and against the reference structures on
random ArchiveII RNAs (seed 0), and the share of sequences whose structure is the same in both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "benchmarks" / "ArchiveII.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO / "data" / "heldout_len20_200"))
    ap.add_argument("--heldout", type=int, default=600, help="held-out segments (the first N)")
    ap.add_argument("--archive", type=int, default=300, help="random ArchiveII RNAs (seed 0)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "precision_agreement.json")
    args = ap.parse_args()

    from rnastruct.evaluate import pair_scores
    from rnastruct.predictor import load_predictor
    from rnastruct.seqio import pairs_of_table, read_table
    from rnastruct.structure import normalize_sequence, parse_dot_bracket

    table, _ = read_table(args.data)
    sets = {"heldout": (table.column("seq").to_pylist()[:args.heldout], pairs_of_table(table)[:args.heldout])}
    archive = pd.read_csv(ARCHIVE).sample(n=args.archive, random_state=0)
    sets["archive"] = ([normalize_sequence(s, i, ambiguous="n") for s, i in zip(archive["sequence"], archive["id"])],
                       [parse_dot_bracket(s) for s in archive["structure"]])
    structures, out = {}, {}
    for precision in ("fp32", "bf16"):
        predictor = load_predictor(precision=precision)
        for name, (seqs, refs) in sets.items():
            got = dict(predictor.predict([str(k) for k in range(len(seqs))], seqs))
            structures[precision, name] = [got[k].structure for k in range(len(seqs))]
            f1 = [pair_scores(got[k].pairs, refs[k], len(seqs[k]))["f1"] for k in range(len(seqs))]
            out[f"{name}_f1_{precision}"] = float(np.mean(f1))
    for name, (seqs, _) in sets.items():
        out[f"{name}_sequences"] = len(seqs)
        out[f"{name}_same_structure"] = float(np.mean([a == b for a, b in zip(
            structures["fp32", name], structures["bf16", name])]))
    print(json.dumps(out, indent=2))
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

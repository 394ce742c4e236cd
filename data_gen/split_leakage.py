"""How many training segments share a k-mer (either strand) with a validation or test segment?

Gene splits keep a gene out of training, but a paralog or a segmental duplication elsewhere
(chr9p and chr1p share subtelomeric ones) can bring its sequence back. Run before training on
extra data:

    python data_gen/split_leakage.py --held-out data/s1_chr1_len64 --train data/s1_chr1_len64 data/s1_chr9_len64

Prints, per training dataset, the training rows that share a k-mer with a held-out row, and
with ``--drop`` writes each dataset without them (a new folder beside it, ``*_clean``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rnastruct.realdata import kmers
from rnastruct.seqio import read_table, write_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--held-out", required=True, nargs="+", help="datasets whose valid/test rows are held out")
    ap.add_argument("--train", required=True, nargs="+", help="datasets whose train rows are checked")
    ap.add_argument("-k", type=int, default=20, help="shared k-mer length (default 20)")
    ap.add_argument("--drop", action="store_true", help="write DATASET_clean without the leaking rows")
    args = ap.parse_args()

    held: set[str] = set()
    n_held = 0
    for path in args.held_out:
        t, _ = read_table(path)
        split, seqs = t.column("split").to_pylist(), t.column("seq").to_pylist()
        for sp, s in zip(split, seqs):
            if sp in ("valid", "test"):
                held |= kmers(s, args.k)
                n_held += 1
    print(f"{n_held} held-out segments, {len(held)} distinct {args.k}-mers (both strands)")
    for path in args.train:
        t, manifest = read_table(path)
        split, seqs = t.column("split").to_pylist(), t.column("seq").to_pylist()
        train = np.array([sp == "train" for sp in split])
        leak = np.array([tr and not held.isdisjoint(kmers(s, args.k)) for tr, s in zip(train, seqs)])
        print(f"{path}: {int(leak.sum())} of {int(train.sum())} training segments "
              f"({leak.sum() / max(train.sum(), 1):.2%}) share a {args.k}-mer with a held-out segment")
        if args.drop and leak.any():
            out = Path(str(path).rstrip("/") + "_clean")
            manifest = dict(manifest or {})
            manifest["leakage_filter"] = {"held_out": args.held_out, "k": args.k, "dropped": int(leak.sum())}
            write_dataset(t.filter(~leak), out, manifest)
            print(f"  wrote {out} without them")


if __name__ == "__main__":
    main()

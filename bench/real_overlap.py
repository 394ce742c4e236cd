"""Overlap of every training set with every evaluation set: identical sequences, and sequences
sharing a k-mer (either strand), before and after the leakage filter of ``rnastruct real-data``.

    python bench/real_overlap.py [--train data/real_bprna] [-k 30] [--out bench/results/real/overlap.md]

Training sets: bpRNA TR0 and PDB TR1 as shipped, and the training rows of a ``real-data``
dataset (what S1 was fine-tuned on). Evaluation sets: bpRNA VL0, PDB VL1 (validation, used to
choose settings) and ArchiveII (never trained or tuned on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=str(REPO / "data" / "real_bprna"), help="a real-data dataset folder")
    ap.add_argument("-k", type=int, default=30)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "real" / "overlap.md")
    args = ap.parse_args()

    from rnastruct.realdata import clean_sequence, kmers, read_real_csv
    from rnastruct.seqio import read_table

    def seqs_of(csv):
        return [clean_sequence(r.seq)[0] for r in read_real_csv(csv)[0]]

    train = {"bpRNA TR0 (as shipped)": seqs_of(DATA / "real" / "bpRNA_TR0.csv"),
             "PDB TR1 (as shipped)": seqs_of(DATA / "real" / "PDB_TR1.csv")}
    if Path(args.train).exists():
        t, _ = read_table(args.train)
        split = t.column("split").to_pylist()
        train[f"{Path(args.train).name} train rows (S1's fine-tuning set)"] = [
            s for s, sp in zip(t.column("seq").to_pylist(), split) if sp == "train"]
    evals = {"bpRNA VL0": seqs_of(DATA / "real" / "bpRNA_VL0.csv"), "PDB VL1": seqs_of(DATA / "real" / "PDB_VL1.csv"),
             "ArchiveII": seqs_of(DATA / "benchmarks" / "ArchiveII.csv")}
    lines = [f"| training set | rows | evaluation set | identical | sharing a {args.k}-mer |",
             "|---|---|---|---|---|"]
    for tname, tseqs in train.items():
        for ename, eseqs in evals.items():
            eset = set(eseqs)
            held = set().union(*(kmers(s, args.k) for s in eseqs))
            ident = sum(s in eset for s in tseqs)
            shared = sum(not held.isdisjoint(kmers(s, args.k)) for s in tseqs)
            lines.append(f"| {tname} | {len(tseqs)} | {ename} | {ident} | {shared} |")
            print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

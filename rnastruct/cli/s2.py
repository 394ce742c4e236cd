"""``rnastruct s2-data`` and ``rnastruct s2-train``: the S2 commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..seqio import pairs_of_table
from .checks import POSITIVE_INT, existing_path
from .train import training_args


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="inp", required=True, type=existing_path,
                   help="pruned proposals of generated sequences (rnastruct s1-infer + prune), with pairs")
    p.add_argument("--out", required=True, help="S2 dataset file (.npz)")
    p.add_argument("--max-boxes", type=POSITIVE_INT, default=512,
                   help="keep at most this many boxes per sequence, the best supported (default 512)")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")


def run_data(args) -> int:
    from ..outfiles import Outputs

    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"--out {out}: the S2 dataset is written as NPZ; name it *.npz")

    with Outputs(args.overwrite, inputs=[args.inp]) as outs:
        target = outs.file(out, "--out")
        if target.kind != "file":
            raise InputError(f"--out {out}: the S2 dataset is an NPZ archive: name a regular file")
        return _make(args, target.path)


def _make(args, out: Path) -> int:
    from ..s1.stage import read_proposals
    from ..s2.data import make_dataset, save_npz

    ids, seqs, tables, table, _ = read_proposals(args.inp)
    if "pairs" not in table.column_names:
        raise InputError(f"{args.inp}: no true structures (pairs column) to label the boxes with")
    pairs = pairs_of_table(table)
    splits = table.column("split").to_pylist() if "split" in table.column_names else ["train"] * len(seqs)
    data = make_dataset(ids, seqs, tables, pairs, splits, args.max_boxes)
    save_npz(out, data)
    print(f"wrote {out}: {len(seqs)} sequences, {len(data['labels'])} boxes, "
          f"{int(data['labels'].sum())} true", file=sys.stderr)
    return 0


def add_train_args(p: argparse.ArgumentParser) -> None:
    training_args(p, "s2", "S2 dataset (.npz from rnastruct s2-data)")


def run_train(args) -> int:
    from ..config import load_config
    from ..s2.training import S2Config, run

    cfg = load_config(S2Config, args.config, None, args.set)
    run(cfg, args.data, args.out, resume=args.resume, device_name=args.device, progress=not args.quiet)
    return 0

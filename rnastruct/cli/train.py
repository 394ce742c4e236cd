"""What every training command shares."""

from __future__ import annotations

import argparse

from .checks import existing_file, existing_path


def training_args(p: argparse.ArgumentParser, stage: str, data_help: str, nargs=None) -> None:
    """The options every training command shares (``s1-train``, ``s2-train``)."""
    p.add_argument("--config", type=existing_file, help=f"YAML training config (configs/{stage}/*.yaml); defaults otherwise")
    p.add_argument("--data", required=True, nargs=nargs, type=existing_path, help=data_help)
    p.add_argument("--out", required=True, help="run folder: config.yaml, metrics.csv, checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda uses the GPUs CUDA_VISIBLE_DEVICES shows (one per torchrun process)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set epochs=5 --set model.width=64")
    p.add_argument("--quiet", action="store_true", help="no progress bar")



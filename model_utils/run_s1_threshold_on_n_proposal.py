#!/usr/bin/env python
"""The lab's S1 inference command, on rnastruct: box proposals by n_proposal_norm thresholding.

    python model_utils/run_s1_threshold_on_n_proposal.py --data DATASET --threshold 0.2 \\
        --model CHECKPOINT --out_file OUT_DIR

Same flags as the original script; the files are rnastruct's (a dataset folder from
``rnastruct generate`` in, a proposals dataset folder out). Equivalent to
``rnastruct s1-infer --method n_proposal``; see that command for every option.
"""

import argparse
import sys

from rnastruct.cli import main


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset folder (rnastruct generate)")
    p.add_argument("--threshold", type=float, default=0.2, help="n_proposal_norm threshold (default 0.2)")
    p.add_argument("--model", help="S1 checkpoint (default: the bundled model)")
    p.add_argument("--out_file", required=True, help="output proposals folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse()
    argv = ["s1-infer", "--data", a.data, "--threshold", str(a.threshold), "--method", "n_proposal",
            "--out", a.out_file, "--device", a.device]
    sys.exit(main(argv + (["--model", a.model] if a.model else [])))

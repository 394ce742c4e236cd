#!/usr/bin/env python
"""The lab's pruning command, on rnastruct.

    python model_utils/prune_stage_1.py --in_file PROPOSALS --discard_ns_stem --min_hloop_size 3 \\
        --min_pixel_pred 0 --min_prob 0 --out_file OUT_DIR

Same flags and meaning as the original script (non-canonical stems are dropped only with
``--discard_ns_stem``); the files are rnastruct's proposals folders. Equivalent to
``rnastruct prune``; see that command for every option.
"""

import argparse
import sys

from rnastruct.cli import main


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_file", required=True, help="proposals folder (rnastruct s1-infer)")
    p.add_argument("--discard_ns_stem", action="store_true", help="drop stems with a non-canonical pair")
    p.add_argument("--min_hloop_size", type=int, default=0, help="smallest hairpin box (box units)")
    p.add_argument("--min_pixel_pred", type=int, default=0, help="fewest proposing pixels (0 = off)")
    p.add_argument("--min_prob", type=float, default=0.0, help="lowest median probability (0 = off)")
    p.add_argument("--out_file", required=True, help="output proposals folder")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse()
    argv = ["prune", "--in", a.in_file, "--out", a.out_file, "--min-hloop-size", str(a.min_hloop_size),
            "--min-pixel-pred", str(a.min_pixel_pred), "--min-prob", str(a.min_prob)]
    sys.exit(main(argv + ([] if a.discard_ns_stem else ["--keep-ns-stem"])))

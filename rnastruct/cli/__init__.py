"""``rnastruct``: one console script, a subcommand per stage; the whole command line lives in
this package, a module per stage, and the library never sees argparse.

Each subcommand is a pair ``add_args(parser)`` / ``run(args)``; bad input ends with a one-line
``rnastruct: error: ...`` naming the culprit and exit status 2, and no partial output. Each
module imports the library lazily, inside its ``run``, so ``rnastruct --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from ..errors import InputError
from . import data, evaluate, plot, predict, s1, s2, tune

COMMANDS = {
    "predict": (predict.add_args, predict.run,
                "predict secondary structures (default: S1 trained on real structures + ViennaRNA)"),
    "generate": (data.add_generate_args, data.run_generate,
                 "sample segments, fold them with ViennaRNA, keep confident ones"),
    "merge": (data.add_merge_args, data.run_merge, "join the shards of a generate, s1-infer or predict run"),
    "real-data": (data.add_real_data_args, data.run_real_data,
                  "real structures (bpRNA, PDB, ArchiveII CSVs) -> a training dataset, leakage filtered"),
    "subset": (data.add_subset_args, data.run_subset,
               "a dataset's seeded sample of training rows with all its validation rows, as a new dataset"),
    "boxes": (data.add_boxes_args, data.run_boxes, "print the stem / internal loop / hairpin boxes of structures"),
    "inspect": (data.add_inspect_args, data.run_inspect, "summarise a dataset and its manifest"),
    "s1-train": (s1.add_train_args, s1.run_train, "train the S1 network (pixels -> box predictions)"),
    "s1-infer": (s1.add_infer_args, s1.run_infer, "S1 box proposals for sequences (dataset or FASTA), any length"),
    "prune": (s1.add_prune_args, s1.run_prune, "drop S1 proposals that cannot be in a structure"),
    "s1-eval": (s1.add_eval_args, s1.run_eval, "box sensitivity of S1 proposals against the true structures"),
    "s2-data": (s2.add_data_args, s2.run_data, "S2 training data: labelled, featurised S1 proposals"),
    "s2-train": (s2.add_train_args, s2.run_train, "train the S2 network (box proposals -> box scores)"),
    "tune-energy": (tune.add_energy_args, tune.run_energy,
                    "choose how S1's pair scores enter ViennaRNA on validation structures; store it in S1"),
    "tune-prune": (tune.add_prune_args, tune.run_prune,
                   "choose which pairs the learned term forbids outright (pseudo-energy threshold); store it in S1"),
    "tune-assembly": (tune.add_assembly_args, tune.run_assembly,
                      "choose S2's box threshold and energy weight on validation data; store them in S2"),
    "tune-proposals": (tune.add_proposals_args, tune.run_proposals,
                       "choose the mfe set's S1 proposal thresholds on validation data; store them in S1"),
    "calibrate": (tune.add_calibrate_args, tune.run_calibrate,
                  "fit the temperature of the reported pair probabilities on validation structures; store it in S1"),
    "evaluate": (evaluate.add_args, evaluate.run,
                 "score predicted structures against reference ones (P/R/F1/MCC, per family)"),
    "plot": (plot.add_args, plot.run, "plot runs: training curves (plot metrics RUN_DIR ... --out grid.png)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``rnastruct CMD: error: argument --x: ...``), as
    every other error of rnastruct; the usage is one ``--help`` away."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``command`` of that one only (the others listed,
    their options not built): building a command's options imports what its defaults come
    from, and ``predict``'s own process must not import PyTorch (``predictor.apart``)."""
    parser = _Parser(prog="rnastruct", description="RNA secondary structure prediction as object detection on the base-pair map.")
    parser.add_argument("--version", action="version", version=f"rnastruct {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_args, run, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # the command is the first word that is no option (the only options before it are
    # --version and --help, which take no value)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        return _leave_process_group(args.run(args))
    except InputError as e:
        print(f"rnastruct {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``rnastruct boxes ... | head``): stop quietly, with the status a
        # process killed by SIGPIPE has, as other Unix tools do; stdout goes to /dev/null so
        # that the interpreter's last flush does not fail again
        _quiet_stdout()
        return 128 + 13
    except OSError as e:  # a full disk, a permission, a vanished file: one line naming it
        where = f"{e.filename}: " if e.filename else ""
        print(f"rnastruct {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnastruct {args.command}: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _leave_process_group(code: int) -> int:
    """Under torchrun, exit at once, without the interpreter's teardown. On torch 2.13 CPU,
    gloo's threads sometimes abort a rank there ("terminate called without an active
    exception"), after every rank has done its work and passed the final barrier, and so fail
    a run that succeeded. By then every output is written; it is flushed here. An error raised
    earlier never gets here and exits non-zero as usual."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The steps that write settings into a shipped checkpoint, chosen on validation data:
``rnastruct tune-energy`` (how S1's pair scores enter ViennaRNA), ``rnastruct tune-prune`` (the
pairs it rules out), ``rnastruct calibrate`` (the
temperature of the reported pair probabilities), ``rnastruct tune-assembly`` (S2's box
threshold and energy weight) and ``rnastruct tune-proposals`` (the ``mfe`` set's proposal
thresholds)."""

from __future__ import annotations

import argparse

from .checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, FINITE, PROBABILITY, checkpoint, existing_file, existing_path


def add_energy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--s1", type=checkpoint, help="S1 checkpoint with a pair head (without: the RNAfold baselines only)")
    p.add_argument("--valid", nargs="+", type=existing_file, default=["../shared/data/real/bpRNA_VL0.csv"],
                   help="validation structures (CSV: id, sequence, base_pairs or structure); never a test set")
    p.add_argument("--limit", type=POSITIVE_INT, help="a seeded random subset of this many sequences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=NON_NEGATIVE, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])
    p.add_argument("--offsets", type=FINITE, nargs="+", default=[-2.0, 0.0, 2.0])
    p.add_argument("--s2", type=checkpoint, help="S2 checkpoint: also choose the weight of its stem term")
    p.add_argument("--s2-weights", type=NON_NEGATIVE, nargs="+", default=[0.05, 0.1, 0.2, 0.4])
    p.add_argument("--s2-offsets", type=FINITE, nargs="+", default=[-2.0, 0.0, 2.0])
    p.add_argument("--max-boxes", type=POSITIVE_INT, default=256, help="boxes S2 sees per sequence (as s2-data)")
    p.add_argument("--s2-measure-only", action="store_true",
                   help="grid S2's term and write its table, but store the S1-only choice (S2's term "
                        "costs more time than the speed target allows: the shipped model)")
    p.add_argument("--workers", type=POSITIVE_INT, default=2)
    p.add_argument("--out", help="write a copy of --s1 with the chosen fold_energy here")
    p.add_argument("--table", help="write the whole grid as TSV here")


def run_energy(args) -> int:
    from ..tuning import tune_energy

    tune_energy(args.s1, args.valid, args.limit, args.seed, args.weights, args.offsets, args.s2, args.s2_weights,
                args.s2_offsets, args.max_boxes, args.s2_measure_only, args.workers, args.out, args.table)
    return 0


def add_prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--s1", required=True, type=checkpoint, help="S1 checkpoint with fold_energy settings")
    p.add_argument("--valid", nargs="+", type=existing_file,
                   default=["../shared/data/real/bpRNA_VL0.csv", "../shared/data/real/PDB_VL1.csv"],
                   help="validation structures (CSVs); the threshold must hold on each; never ArchiveII or a test set")
    p.add_argument("--prunes", type=NON_NEGATIVE, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
                   help="thresholds tried (kcal/mol): pairs whose pseudo-energy is at least one are forbidden")
    p.add_argument("--tolerance", type=NON_NEGATIVE, default=0.0,
                   help="the F1 a threshold may lose against folding over every pair (default 0)")
    p.add_argument("--limit", type=POSITIVE_INT, help="a seeded random subset of this many sequences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=POSITIVE_INT, default=2)
    p.add_argument("--write", metavar="S1", type=checkpoint,
                   help="write the chosen threshold into this S1 checkpoint (fold_energy.prune)")


def run_prune(args) -> int:
    from ..tuning import tune_prune

    tune_prune(args.s1, args.valid, args.prunes, args.tolerance, args.limit, args.seed, args.workers, args.write)
    return 0


def add_assembly_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=existing_file, help="S2 dataset (rnastruct s2-data); its valid split is used")
    p.add_argument("--s2", required=True, type=checkpoint, help="S2 checkpoint")
    p.add_argument("--out", required=True, help="write a copy of --s2 with the chosen settings here")
    p.add_argument("--thresholds", type=PROBABILITY, nargs="+", default=[0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5])
    p.add_argument("--energy-weights", type=NON_NEGATIVE, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0, 1.5])


def run_assembly(args) -> int:
    from ..tuning import tune_assembly

    tune_assembly(args.data, args.s2, args.out, args.thresholds, args.energy_weights)
    return 0


def add_calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--valid", nargs="+", type=existing_file, default=["../shared/data/real/bpRNA_VL0.csv", "../shared/data/real/PDB_VL1.csv"],
                   help="validation structures (CSV); the temperature is chosen on the first")
    p.add_argument("--limit", type=POSITIVE_INT, help="a seeded random subset of this many sequences per set")
    p.add_argument("--scales", type=POSITIVE, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0],
                   help="temperatures (x kT) tried for the reported probabilities")
    p.add_argument("--workers", type=POSITIVE_INT, default=2)
    p.add_argument("--write", metavar="S1", type=checkpoint, help="write the chosen temperature into this S1 checkpoint "
                                                 "(fold_energy.prob_scale)")
    p.add_argument("--out", help="folder for the report: summary.json, calibration.md, reliability.png")


def run_calibrate(args) -> int:
    import json
    from pathlib import Path

    from ..calibration import calibrate, table, write_prob_scale
    from ..errors import InputError

    for path in args.valid:
        if any(bad in Path(path).name.lower() for bad in ("archiveii", "ts0", "ts1", "test")):
            raise InputError(f"{path}: calibration is on validation sets only, never ArchiveII or a test set")
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file")
    summary, chosen = calibrate({Path(p).stem: p for p in args.valid}, args.scales, args.limit, args.workers)
    print(table(summary))
    if args.out:
        from ..plots import reliability_figure, save_png

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        save_png(reliability_figure(summary), out / "reliability.png")
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out / "calibration.md").write_text(table(summary))
    if args.write:
        write_prob_scale(args.write, chosen)
        print(f"wrote prob_scale {chosen:g} into {args.write}")
    return 0


def add_proposals_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=existing_path, help="generated dataset with a split column")
    p.add_argument("--s1", required=True, type=checkpoint)
    p.add_argument("--out", required=True, help="write a copy of --s1 with the chosen thresholds here")
    p.add_argument("--split", default="valid")
    p.add_argument("--limit", type=POSITIVE_INT)
    p.add_argument("--thresholds", type=NON_NEGATIVE, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    p.add_argument("--p-on", type=PROBABILITY, nargs="+", default=[0.01, 0.02, 0.05, 0.1, 0.2])


def run_proposals(args) -> int:
    from ..tuning import tune_proposals

    tune_proposals(args.data, args.s1, args.out, args.split, args.limit, args.thresholds, args.p_on)
    return 0

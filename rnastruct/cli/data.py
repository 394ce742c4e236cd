"""``rnastruct generate``, ``merge``, ``real-data``, ``subset``, ``boxes`` and ``inspect``: the data
commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..errors import InputError
from ..seqio import check_out_dir
from .checks import (NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, PROBABILITY, existing_file, existing_path, number,
                     shard)

FRACTION = number(float, 0, 1, high_open=True)


def length_spec(text: str) -> str:
    """``--length``: N or MIN-MAX, whole numbers with 1 <= MIN <= MAX."""
    parts = text.split("-")
    if len(parts) > 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[0]) <= int(parts[-1]):
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX with 1 <= MIN <= MAX, got {text!r}")
    return text


# ---------------------------------------------------------------------------------------------
# generate


def add_generate_args(p: argparse.ArgumentParser) -> None:
    from ..datagen import GenerateConfig

    d = GenerateConfig()
    src = p.add_argument_group("input")
    src.add_argument("--fasta", type=existing_file, help="transcript FASTA (one record per transcript, 5'->3')")
    src.add_argument("--genome", type=existing_file, help="genome FASTA (with --gtf)")
    src.add_argument("--random", type=POSITIVE_INT, metavar="N",
                     help="instead of a FASTA: N random sequences (A C G U uniform, from --seed), "
                          "all in the train split")
    src.add_argument("--gtf", type=existing_file, help="exon annotation: gene ids for --fasta, gene/transcript regions for --genome")
    src.add_argument("--regions", choices=["gene", "transcript"],
                     help=f"with --genome: gene bodies incl. introns, or spliced transcripts (default {d.regions})")
    src.add_argument("--chroms", nargs="+", metavar="CHR", help="use only these chromosomes")
    src.add_argument("--exclude-chroms", nargs="+", metavar="CHR", help="never use these chromosomes")
    src.add_argument("--soft-mask", choices=["upper", "exclude"],
                     help=f"lower-case (repeat-masked) bases: use them, or reject such segments (default {d.soft_mask})")
    src.add_argument("--max-n", type=NON_NEGATIVE_INT, help=f"reject segments with more N/ambiguous bases (default {d.max_n})")
    smp = p.add_argument_group("sampling and filters")
    smp.add_argument("--length", type=length_spec, help=f"segment length N, or a range MIN-MAX (default {d.length})")
    smp.add_argument("--num-seq", type=POSITIVE_INT, help="segments to keep (default: every candidate)")
    smp.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    smp.add_argument("--min-mfe-freq", type=PROBABILITY, help="minimum ensemble frequency of the MFE structure")
    smp.add_argument("--mfe-freq-ref-length", type=POSITIVE_INT, metavar="L0",
                     help="length-aware threshold: min_mfe_freq ** (length / L0)")
    smp.add_argument("--min-pairs", type=NON_NEGATIVE_INT, help="minimum number of base pairs in the MFE structure")
    smp.add_argument("--antisense", action="store_const", const=True,
                     help="also sample the reverse complement of every source")
    smp.add_argument("--tilings", type=POSITIVE_INT,
                     help="independent tilings per gene (default 1); more give overlapping windows")
    smp.add_argument("--no-ens-div", dest="ens_div", action="store_const", const=False,
                     help="skip the ensemble diversity (and the base-pair probability pass it needs)")
    smp.add_argument("--no-dedupe", dest="dedupe", action="store_const", const=False,
                     help="keep segments whose sequence was already sampled")
    spl = p.add_argument_group("splits (a gene or chromosome is in exactly one split)")
    spl.add_argument("--split-by", choices=["gene", "chrom", "none"], help=f"default {d.split_by}")
    spl.add_argument("--valid-frac", type=FRACTION, help=f"share of genes in valid (default {d.valid_frac})")
    spl.add_argument("--test-frac", type=FRACTION, help=f"share of genes in test (default {d.test_frac})")
    spl.add_argument("--valid-chroms", nargs="+", metavar="CHR")
    spl.add_argument("--test-chroms", nargs="+", metavar="CHR", help="default chr1, as the original")
    spl.add_argument("--split-seed", type=int)
    spl.add_argument("--only-splits", nargs="+", choices=["train", "valid", "test"],
                     help="sample only the genes of these splits (e.g. a held-out test set)")
    run = p.add_argument_group("running")
    run.add_argument("--workers", type=POSITIVE_INT, help="folding processes (default: every available core)")
    run.add_argument("--shard", type=NON_NEGATIVE_INT, help="make shard K of --num-shards (join them with rnastruct merge)")
    run.add_argument("--num-shards", type=POSITIVE_INT)
    p.add_argument("--config", type=existing_file, help="YAML file with any of the options above (flags override it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", required=True, help="output folder: segments.parquet + manifest.json")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_generate(args) -> int:
    from ..config import load_config
    from ..datagen import GenerateConfig, generate
    from ..seqio import write_dataset

    shard(args, "candidates")
    fields = {f.name for f in dataclasses.fields(GenerateConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    cfg = load_config(GenerateConfig, args.config, overrides, args.set)
    check_out_dir(args.out, args.overwrite)
    table, manifest = generate(cfg, progress=not args.quiet)
    write_dataset(table, args.out, manifest, overwrite=args.overwrite)
    c = manifest["counts"]
    rejected = ", ".join(f"{k} {v}" for k, v in c["rejected"].items() if v) or "none"
    print(f"wrote {c['kept']} segments to {args.out} (sampled {c['sampled']}; rejected: {rejected}; "
          f"splits: {', '.join(f'{k} {v}' for k, v in c['splits'].items())}) "
          f"in {manifest['run']['seconds']:.1f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# merge


def add_merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="shard folders written by rnastruct generate or s1-infer with "
                                             "--shard, or the --out files of rnastruct predict --shard")
    p.add_argument("--out", required=True,
                   help="where the merged result goes: a dataset folder (generate or s1-infer shards), or "
                        "a file (predict parts; - for standard output)")
    p.add_argument("--allow-partial", action="store_true", help="merge even if some shards are missing")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")


def _merge_kind(inputs: list[str]) -> str:
    """"predict" (parts of predict --shard, each a file with its .shard.json) or "dataset"
    (shard folders) -> which; errors name the input that is neither, or missing."""
    from ..predictor.outputs import SHARD_SUFFIX, is_predict_shard

    for path in inputs:
        if not Path(path).exists():
            raise InputError(f"{path}: no such file or folder")
    predict = [is_predict_shard(p) for p in inputs]
    if any(predict):
        for path, ok in zip(inputs, predict):
            if not ok:
                raise InputError(f"{path}: not a part of a sharded rnastruct predict: its manifest "
                                 f"{Path(path).name}{SHARD_SUFFIX} is missing (the other inputs are parts)")
        return "predict"
    for path in inputs:
        p = Path(path)
        if p.is_file() and p.suffix != ".parquet":
            raise InputError(f"{path}: neither a shard folder (generate, s1-infer) nor a part of a sharded "
                             f"predict (no {p.name}{SHARD_SUFFIX} beside it)")
    return "dataset"


def run_merge(args) -> int:
    from ..datagen import merge
    from ..seqio import read_table, write_dataset

    from ..predictor.outputs import merge_predictions

    if _merge_kind(args.inputs) == "predict":
        from ..outfiles import Outputs

        if args.allow_partial:
            raise InputError("--allow-partial is for generate shards; predict parts must all be there")
        with Outputs(args.overwrite, inputs=args.inputs) as outs:
            n = merge_predictions(args.inputs, outs, outs.file(args.out, "--out"))
        print(f"merged {len(args.inputs)} predict part(s): {n} records -> {args.out}", file=sys.stderr)
        return 0
    check_out_dir(args.out, args.overwrite)
    datasets = []
    for path in args.inputs:
        table, man = read_table(path)
        if not man:
            raise InputError(f"{path}: has no rnastruct manifest")
        datasets.append((table, man))
    if datasets[0][1].get("kind") == "rnastruct.s1-infer":
        from ..s1.stage import merge_proposals

        if args.allow_partial:
            raise InputError("--allow-partial is for generate shards; s1-infer shards must all be there")
        table, manifest = merge_proposals(datasets)
    else:
        table, manifest = merge(datasets, allow_partial=args.allow_partial)
    write_dataset(table, args.out, manifest, overwrite=args.overwrite)
    print(f"merged {len(datasets)} shard(s): {table.num_rows} rows -> {args.out}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# boxes


def add_boxes_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a dot-bracket string, a FASTA with structure lines, a CT or BPSEQ "
                                 "file, or a dataset folder")
    p.add_argument("--format", choices=["tsv", "json"], default="tsv")


def run_boxes(args) -> int:
    from ..boxes import boxes_from_records, structure_to_boxes
    from ..seqio import read_bpseq, read_ct, read_dataset, read_fasta
    from ..structure import parse_dot_bracket

    src = Path(args.input)
    items = []  # (name, length, boxes)
    if src.is_dir() or src.suffix == ".parquet":
        df, _ = read_dataset(src)
        for name, seq, boxes in zip(df["id"], df["seq"], df["boxes"]):
            items.append((name, len(seq), boxes_from_records(boxes)))
    elif src.exists():
        if src.suffix.lower() == ".ct":
            records = read_ct(src)
        elif src.suffix.lower() == ".bpseq":
            records = [read_bpseq(src)]
        else:
            records = read_fasta(src)
        for r in records:
            if r.pairs is None:
                raise InputError(f"{src}: record {r.name} has no structure line")
            items.append((r.name, len(r.seq), structure_to_boxes(r.pairs, len(r.seq))))
    else:
        try:
            pairs = parse_dot_bracket(args.input, "argument")
        except ValueError as e:
            raise InputError(f"{args.input!r} is neither a file nor a dot-bracket structure: {e}") from None
        items.append(("structure", len(args.input), structure_to_boxes(pairs, len(args.input))))
    if args.format == "json":
        print(json.dumps([{"id": n, "length": L, "boxes": [b._asdict() for b in bx]} for n, L, bx in items]))
    else:
        print("id\ttype\tbb_x\tbb_y\tsiz_x\tsiz_y\tpseudoknot")
        for name, _, bx in items:
            for b in bx:
                print(f"{name}\t{b.type}\t{b.bb_x}\t{b.bb_y}\t{b.siz_x}\t{b.siz_y}\t{int(b.pseudoknot)}")
    return 0


# ---------------------------------------------------------------------------------------------
# inspect


def add_subset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="src", required=True, type=existing_path, help="dataset folder (rnastruct real-data or generate)")
    p.add_argument("--out", required=True, help="new dataset folder")
    p.add_argument("--train", type=POSITIVE_INT, required=True, help="training rows to draw (every validation row is kept)")
    p.add_argument("--seed", type=int, default=7)


def run_subset(args) -> int:
    from ..realdata import subset_dataset

    man = subset_dataset(args.src, args.out, args.train, args.seed)
    print(f"{args.out}: {man['subset']['train_rows']} training and {man['subset']['valid_rows']} validation rows")
    return 0


def add_inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", type=existing_path, help="dataset folder or Parquet file")
    p.add_argument("--rows", type=NON_NEGATIVE_INT, default=5, help="example rows to show")


def run_inspect(args) -> int:
    import numpy as np

    from ..seqio import read_dataset

    df, man = read_dataset(args.dataset)
    print(f"{args.dataset}: {len(df)} segments")
    if man:
        c = man.get("counts", {})
        print(f"  made by {man.get('kind')} with rnastruct {man['versions']['rnastruct']}, "
              f"ViennaRNA {man['versions']['viennarna']}")
        if man.get("kind") == "rnastruct.real-data":  # counts per input file
            for path, fc in c.items():
                dropped = {k: v for k, v in fc.items() if k.startswith("dropped") and v}
                print(f"  {path}: {fc.get('split')}, kept {fc.get('kept', 0)} of {fc.get('read')} "
                      f"(left out: {dropped or 'none'})")
        else:
            print(f"  sampled {c.get('sampled')}, kept {c.get('kept')}, rejected {c.get('rejected')}")
        print("  params: " + ", ".join(f"{k}={v}" for k, v in man.get("params", {}).items() if v not in (None, [], "")))
    if len(df):
        lens = df["len"].to_numpy()
        print(f"  length min/median/max: {lens.min()}/{int(np.median(lens))}/{lens.max()}")
        mfe_freq = f"mfe_freq median {df['mfe_freq'].median():.3f}; " if "mfe_freq" in df else ""
        print(f"  {mfe_freq}pairs per segment {df['pairs'].map(len).mean():.1f}; "
              f"splits {df['split'].value_counts().to_dict()}")
        n_boxes = {t: 0 for t in ("stem", "iloop", "hloop")}
        for boxes in df["boxes"]:
            for b in boxes:
                n_boxes[b["type"]] += 1
        print(f"  boxes: {n_boxes}")
        cols = [c for c in ("id", "split", "len", "mfe", "mfe_freq", "structure") if c in df]  # real data: no MFE
        with __import__("pandas").option_context("display.width", 200, "display.max_colwidth", 80):
            print(df[cols].head(args.rows).to_string(index=False))
    return 0


# ---------------------------------------------------------------------------------------------
# real-data


def add_real_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", nargs="*", default=[], metavar="CSV", type=existing_file,
                   help="real-structure CSVs (id, sequence, base_pairs) whose rows are the train split")
    p.add_argument("--valid", nargs="*", default=[], metavar="CSV", type=existing_file, help="CSVs whose rows are the valid split")
    p.add_argument("--exclude", nargs="*", default=[], metavar="CSV", type=existing_file,
                   help="evaluation sets: training rows with an identical sequence are left out")
    p.add_argument("--kmer", type=NON_NEGATIVE_INT, default=0, metavar="K",
                   help="also leave out training rows sharing a K-mer (either strand) with an --exclude "
                        "sequence (0 = identity only); rows identical to a --valid row are always left out")
    p.add_argument("--homology-evalue", type=POSITIVE, default=None, metavar="E",
                   help="also leave out training rows that HMMER's nhmmer finds as homologs of an --exclude "
                        "sequence with E-value <= E (needs pip install 'rnastruct[homology]'); e.g. 1e-3")
    p.add_argument("--filter-valid", action="store_true",
                   help="filter the --valid rows against --exclude too (identity, --kmer, --homology-evalue)")
    p.add_argument("--max-length", type=POSITIVE_INT, default=500, help="leave out longer records (default 500)")
    p.add_argument("--out", required=True, help="output folder: segments.parquet + manifest.json")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace --out if it exists")


def _pyhmmer_version() -> str:
    import pyhmmer

    return f"nhmmer of pyhmmer {pyhmmer.__version__}"


def run_real_data(args) -> int:
    import pyarrow as pa

    from ..datagen import versions
    from ..realdata import build_rows, nhmmer_homologs, read_real_csv, to_table
    from ..seqio import write_dataset

    check_out_dir(args.out, args.overwrite)
    if not args.train and not args.valid:
        raise InputError("give --train and/or --valid CSV files")
    if args.kmer < 0 or args.max_length < 1:
        raise InputError("--kmer must be >= 0 and --max-length >= 1")
    if args.homology_evalue is not None and not args.homology_evalue > 0:
        raise InputError("--homology-evalue must be > 0")
    if (args.homology_evalue is not None or args.filter_valid) and not args.exclude:
        raise InputError("--homology-evalue and --filter-valid filter against --exclude: name the evaluation CSVs")
    valid = [read_real_csv(p) for p in args.valid]
    evaluation = [r.seq for p in args.exclude for r in read_real_csv(p)[0]]
    exclude = {"train": evaluation, "valid": evaluation if args.filter_valid else []}
    # a training row identical to a validation row would inflate every validation figure
    identical = {"train": [r.seq for rs, _ in valid for r in rs], "valid": []}
    tables, counts = [], {}
    for split, paths in (("train", args.train), ("valid", args.valid)):
        for path in paths:
            records, families = read_real_csv(path)
            homologs = set()
            if args.homology_evalue is not None and exclude[split]:
                print(f"{path}: searching homologs of {len(evaluation)} evaluation sequences (nhmmer, "
                      f"E <= {args.homology_evalue:g})", file=sys.stderr)
                homologs = nhmmer_homologs(evaluation, {r.name: r.seq for r in records}, args.homology_evalue)
            cols, c = build_rows(records, split, args.max_length, exclude[split], args.kmer, families, homologs,
                                 identical[split])
            tables.append(to_table(cols))
            counts[str(path)] = {"split": split, **dict(sorted(c.items()))}
    table = pa.concat_tables(tables)
    manifest = {"kind": "rnastruct.real-data", "versions": versions(),
                "params": {"train": args.train, "valid": args.valid, "exclude": args.exclude,
                           "kmer": args.kmer, "homology_evalue": args.homology_evalue,
                           "filter_valid": args.filter_valid, "max_length": args.max_length},
                "homology_search": _pyhmmer_version() if args.homology_evalue is not None else None,
                "counts": counts, "run": {"argv": sys.argv}}
    write_dataset(table, args.out, manifest, overwrite=args.overwrite)
    for path, c in counts.items():
        dropped = {k: v for k, v in c.items() if k.startswith("dropped") and v}
        print(f"{path}: kept {c.get('kept', 0)} of {c['read']} as {c['split']} "
              f"(left out: {dropped or 'none'}; pseudoknotted {c.get('records_with_pseudoknots', 0)}, "
              f"non-canonical pairs {c.get('non_canonical_pairs', 0)}, multiplet pairs "
              f"{c.get('multiplet_pairs', 0)}, records with other letters "
              f"{c.get('records_with_other_letters', 0)})", file=sys.stderr)
    return 0



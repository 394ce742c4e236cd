"""ArchiveII family-fold cross-validation: the default model's recipe on RNA families it never saw,
against RNAfold, EternaFold (run here) and the 11 published tools (per-sequence scores).

    bash bench/peers_setup.sh "$VIRTUAL_ENV"         # once: EternaFold (benchmark only)
    python bench/family_folds.py                     # everything: shared stage, 9 folds, report
    python bench/family_folds.py --stage shared      # the shared S1 only
    python bench/family_folds.py --fold tRNA         # one fold (needs the shared S1), then --report
    python bench/family_folds.py --report            # the report from the folds done so far
    bash bench/family_folds.sbatch                   # on Slurm: shared job, 9-task array, report

What is retrained, and why. The default model learns from real structures in two places: S1's
pair head (fine-tuned on bpRNA TR0) and the integration settings (pseudo-energy weight, offset,
decoding; chosen on validation structures). Here:

- **S1, once for all nine folds, without the nine families** (the ``shared`` stage):
  ``configs/s1/family_free.yaml`` fine-tunes the bundled ``mfe`` S1 (trained on ViennaRNA folds
  of human segments: no real structure) for one epoch on bpRNA TR0 with ArchiveII's nine
  families filtered out: only TR0's Rfam rows (its family databases CRW, SRP, tmRNA, SPR and
  RNP hold the nine families), minus every row identical to, sharing a 16-mer (either strand)
  with, or found by nhmmer (E <= 1e-3) from an ArchiveII sequence (``rnastruct real-data
  --exclude --kmer --homology-evalue``, ``realdata.nhmmer_homologs``), minus every tRNA
  cloverleaf (``cloverleaf``: mitochondrial tRNAs escape the sequence search but not their
  shape). bpRNA VL0, filtered the same way, gives S1's validation metrics. A sequence search
  cannot prove absence: divergent members of a family that share neither sequence nor (for
  tRNAs) the cloverleaf may remain; ``check_filter`` measures what it finds. One S1 training
  (about 40 minutes on 2 cores) instead of nine, and stricter than the protocol (the eight
  training families are absent too).
- **The integration settings, per fold**, on the fold's ``valid`` partition (RNAs of the other
  families; ``--tune-limit`` of them, seeded): the grid search of ``rnastruct tune-energy`` (``rnastruct.tuning``)
  over ``--weights`` x ``--offsets`` and every decoding (weight 0, RNAfold's own decoding, is
  in it, so a fold whose S1 does not help falls back to RNAfold). A few minutes per fold.

Then the fold's test family is predicted with that fold's settings and scored with
``rnastruct.evaluate`` (its defaults: every reference pair counted), beside RNAfold MFE, MEA
(gamma 1) and centroid and, when installed, EternaFold (LinearPartition MEA) on the same RNAs.
Outputs (``--out``, default ``runs/family_folds``): ``folds/NAME/`` (settings.json, tuning.tsv,
scores.csv, predictions .fa per tool, log); the report goes to ``bench/results/family_folds/``
(summary tables, per-family PNG, and rnastruct's predictions as RNAfold-style FASTA, one file
per fold, so that anyone can rescore them) and to the family-fold section of
``docs/benchmarks.md``. Every stage resumes: a finished fold is not recomputed unless
``--force`` or its inputs changed (S1 checkpoint, limits, grid, seed: ``fold_inputs``); the S1
training restarts an epoch that was cut short.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnastruct import reporting, tuning
from rnastruct.hardware import cpu_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

DATA = REPO.parent / "shared" / "data"
FOLDS = ["5s", "srp", "tRNA", "tmRNA", "RNaseP", "grp1", "16s", "telomerase", "23s"]
DOC_HEADING = "## Unseen families: ArchiveII family folds"
#: published methods (peer_scores_ArchiveII_familyfold.csv), best first in the table
PUBLISHED = ["LinearPartitionC", "IPKnot", "LinearFoldV", "LinearPartitionV", "RNAfold", "ProbKnot",
             "RNAstructure", "MxFold2", "REDfold", "UFold", "sincFold"]
#: tools run here: label -> (decoding, gamma) of plain Turner 2004 (weight 0), or EternaFold
RUN_HERE = {"RNAfold MFE (here)": ("mfe", 1.0), "RNAfold MEA (here)": ("mea", 1.0),
            "RNAfold centroid (here)": ("centroid", 1.0), "EternaFold (here)": ("eternafold", 0.0)}
OURS = "rnastruct"

_JOB: dict = {}


def log(msg: str, fold_dir: Path | None = None) -> None:
    """To stderr, and to the fold's log.txt when given."""
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, file=sys.stderr, flush=True)
    if fold_dir is not None:
        with open(fold_dir / "log.txt", "a") as fh:
            fh.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# the shared stage: family-free data and S1


def shared_stage(args) -> Path:
    """Build the family-free dataset and train S1 on it (resuming); -> the checkpoint to use."""
    out = args.out
    best = out / "s1" / "best.pt"
    if (out / "s1" / "done").exists():
        return best
    out.mkdir(parents=True, exist_ok=True)
    if (out / "s1").exists() and not (out / "s1" / "last.pt").exists():
        shutil.rmtree(out / "s1")  # an epoch cut short leaves nothing to resume from
    by_sequence, data = out / "data_sequence_filtered", out / "data"
    if not (by_sequence / "manifest.json").exists():
        for split in ("TR0", "VL0"):
            t = pd.read_csv(args.data / "real" / f"bpRNA_{split}.csv")
            # the family databases of bpRNA-1m hold the nine families: only its Rfam rows remain
            t[t["source"] == "bpRNA-1m/RFAM"].to_csv(out / f"bpRNA_{split}_rfam.csv", index=False)
        run([sys.executable, "-m", "rnastruct", "real-data", "--train", out / "bpRNA_TR0_rfam.csv",
             "--valid", out / "bpRNA_VL0_rfam.csv", "--exclude", args.data / "benchmarks" / "ArchiveII.csv",
             "--kmer", "16", "--homology-evalue", "1e-3", "--filter-valid", "--out", by_sequence, "--overwrite"])
    if not (data / "manifest.json").exists():
        drop_cloverleaves(by_sequence, data)
    if not (args.results / "homology_filter.json").exists():
        check_filter(args)
    resume = ["--resume"] if (out / "s1" / "last.pt").exists() else []
    run([sys.executable, "-m", "rnastruct", "s1-train", "--config", REPO / "configs" / "s1" / "family_free.yaml", "--data", data,
         "--out", out / "s1", *resume, *args.train_args])
    (out / "s1" / "done").write_text("")
    return best


def cloverleaf(structure: str) -> bool:
    """Is this nested dot-bracket a tRNA cloverleaf: one outer stem (the acceptor; interior loops
    allowed) closing a multiloop of 3 or 4 branches (D, anticodon, T, and the variable arm of
    class II tRNAs), each a simple stem-loop? 98.6% of ArchiveII's tRNAs are (55-100 nt), and
    none of its other eight families."""
    pt = [-1] * len(structure)
    stack = []
    for k, c in enumerate(structure):
        if c == "(":
            stack.append(k)
        elif c == ")":
            i = stack.pop()
            pt[i], pt[k] = k, i

    def branches(i: int, j: int) -> list[tuple[int, int]]:  # helices inside the loop closed by (i, j)
        out, k = [], i + 1
        while k < j:
            if pt[k] > k:
                out.append((k, pt[k]))
                k = pt[k] + 1
            else:
                k += 1
        return out

    def stem_loop(i: int, j: int) -> bool:
        while len(b := branches(i, j)) == 1:
            i, j = b[0]
        return not b

    outer = branches(-1, len(structure))
    if not 55 <= len(structure) <= 100 or len(outer) != 1:
        return False
    i, j = outer[0]
    while len(b := branches(i, j)) == 1:
        i, j = b[0]
    return 3 <= len(b) <= 4 and all(stem_loop(*x) for x in b)


def drop_cloverleaves(src: Path, dst: Path) -> None:
    """Mitochondrial tRNAs are too divergent for a sequence search (nhmmer finds few of them from
    ArchiveII's tRNAs) but keep the cloverleaf: leave out every row whose structure is one."""
    import pyarrow as pa

    from rnastruct.seqio import read_table, write_dataset

    table, manifest = read_table(src)
    clover = np.array([cloverleaf(s) for s in table.column("structure").to_pylist()])
    splits = np.array(table.column("split").to_pylist())
    for split in ("train", "valid"):
        n = int((clover & (splits == split)).sum())
        manifest.setdefault("structure_filter", {})[split] = {"dropped_trna_cloverleaf": n}
    manifest["structure_filter_rule"] = "bench/family_folds.py cloverleaf(): tRNA cloverleaves of 55-100 nt"
    write_dataset(table.filter(pa.array(~clover)), dst, manifest, overwrite=True)
    log(f"structure filter: left out {int(clover.sum())} tRNA cloverleaves ({src} -> {dst})")


def check_filter(args) -> dict:
    """How sensitive is the filter? bpRNA TR0's rows from the family databases (CRW, SRP, tmRNA,
    SPR, RNP) are known members of the nine families: the share of them that the filter applied
    to the Rfam rows (identity, 16-mer, nhmmer) would also have found. ArchiveII was drawn from
    those databases, so this is an upper bound on its sensitivity for Rfam's more distant members."""
    from rnastruct.realdata import build_rows, nhmmer_homologs, read_real_csv
    from rnastruct.seqio import write_text_atomic

    archive = [r.seq for r in read_real_csv(args.data / "benchmarks" / "ArchiveII.csv")[0]]
    records, _ = read_real_csv(args.data / "real" / "bpRNA_TR0.csv")
    source = dict(zip(*pd.read_csv(args.data / "real" / "bpRNA_TR0.csv", usecols=["id", "source"]).T.values))
    known = [r for r in records if source[r.name] != "bpRNA-1m/RFAM"]
    # searched among all of TR0, so that E-values count a target set as large as the filter's
    homologs = nhmmer_homologs(archive, {r.name: r.seq for r in records}, 1e-3)
    cols, counts = build_rows(known, "train", exclude=archive, kmer=16, homologs=homologs)
    kept = set(cols["id"])
    by_source = {}
    for r in known:
        s = by_source.setdefault(source[r.name].split("/")[-1], {"rows": 0, "found": 0})
        s["rows"] += 1
        s["found"] += r.name not in kept
    rest = len(known) - counts["dropped_identical_to_evaluation"] - counts["dropped_kmer_shared_with_evaluation"]
    out = {"rows": len(known), "found": len(known) - len(kept), "share_found": (len(known) - len(kept)) / len(known),
           "not_identical_nor_sharing_a_16mer": rest, "of_those_found_by_nhmmer": counts["dropped_homolog_of_evaluation"],
           "by_source": by_source, "counts": dict(counts)}
    args.results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.results / "homology_filter.json", json.dumps(out, indent=1) + "\n")
    log(f"homology filter: finds {out['found']} of {out['rows']} TR0 rows of the family databases")
    return out


def run(cmd: list) -> None:
    cmd = [str(c) for c in cmd]
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


# ---------------------------------------------------------------------------------------------
# one fold


def load_fold(args, name: str) -> tuple[pd.DataFrame, dict]:
    """The fold's partition of ArchiveII (columns id, partition, sequence) and every reference."""
    from rnastruct.evaluate import read_structure_csv
    from rnastruct.realdata import clean_sequence

    folds = pd.read_csv(args.data / "benchmarks" / "ArchiveII_familyfold.csv")
    if name not in set(folds["fold_name"]):
        sys.exit(f"--fold {name}: not a fold of ArchiveII_familyfold.csv ({', '.join(FOLDS)})")
    refs = {r.name: r for r in read_structure_csv(args.data / "benchmarks" / "ArchiveII.csv", multiplets=True)}
    part = folds[folds["fold_name"] == name][["id", "partition"]].copy()
    part["sequence"] = [clean_sequence(refs[i].seq)[0] for i in part["id"]]
    return part, refs


def fold_inputs(args, s1: Path) -> dict:
    """What a fold's results depend on: a fold done with other inputs is recomputed."""
    st = Path(s1).stat()
    return {"s1": str(Path(s1).resolve()), "s1_size": st.st_size, "s1_mtime": int(st.st_mtime),
            "seed": args.seed, "tune_limit": args.tune_limit, "test_limit": args.test_limit,
            "weights": args.weights, "offsets": args.offsets}


def _fold_test(k: int) -> list[np.ndarray]:
    """Every tool's structure of test sequence ``k``."""
    from rnastruct.folding import fold_soft

    seq, logits, chosen = _JOB["seqs"][k], _JOB["logits"][k], _JOB["chosen"]
    energy = chosen.pseudo_energies(logits, seq)
    out = [fold_soft(seq, energy, chosen.decoding, chosen.gamma, chosen.threshold)[0]]
    for decoding, gamma in _JOB["peers"]:
        if decoding == "eternafold":
            import linearpartition  # benchmark only (non-commercial licence): bench/peers_setup.sh

            from rnastruct.structure import parse_dot_bracket

            out.append(parse_dot_bracket(linearpartition.partition(seq, mode="eterna")["structure"]))
        else:
            out.append(fold_soft(seq, None, decoding, gamma)[0])
    return out


def eternafold_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("linearpartition") is not None


def run_fold(args, name: str, s1: Path) -> Path:
    import torch

    from rnastruct.evaluate import ScoringOptions, score_records
    from rnastruct.s1.infer import S1Predictor
    from rnastruct.seqio import Record, write_text_atomic
    from rnastruct.structure import to_dot_bracket

    fold_dir = args.out / "folds" / name
    inputs = fold_inputs(args, s1)
    if (fold_dir / "scores.csv").exists() and not args.force:
        if json.loads((fold_dir / "settings.json").read_text()).get("inputs") == inputs:
            log(f"fold {name}: done already ({fold_dir}; --force recomputes)")
            return fold_dir
        log(f"fold {name}: its inputs changed since it was done: recomputing")
    if fold_dir.exists():
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True)
    t0 = time.time()
    part, refs = load_fold(args, name)
    valid, test = part[part["partition"] == "valid"], part[part["partition"] == "test"]
    if args.tune_limit and args.tune_limit < len(valid):
        valid = valid.iloc[np.sort(np.random.default_rng(args.seed).choice(len(valid), args.tune_limit, replace=False))]
    if args.test_limit and args.test_limit < len(test):
        test = test.iloc[np.sort(np.random.default_rng(args.seed).choice(len(test), args.test_limit, replace=False))]
    log(f"fold {name}: choosing the settings on {len(valid)} validation RNAs of the other families, "
        f"then predicting {len(test)} test RNAs with {s1}", fold_dir)

    torch.set_num_threads(args.workers)
    predictor = S1Predictor.from_checkpoint(s1)

    def logits_of(seqs: list[str]) -> list[np.ndarray]:
        out = [None] * len(seqs)
        for k, lg in predictor.pair_logits(seqs):
            out[k] = lg.copy()
        return out

    vseqs = valid["sequence"].tolist()
    grid = [(0.0, 0.0)] + [(w, b) for w in args.weights for b in args.offsets if w]
    rows = tuning.grid_search(vseqs, [refs[i].pairs for i in valid["id"]], logits_of(vseqs), grid,
                                    args.workers)
    chosen, valid_f1 = tuning.best(rows)
    torch.set_num_threads(args.workers)  # the grid search left torch at one thread per process
    write_text_atomic(fold_dir / "tuning.tsv", "\n".join(tuning.table_lines(rows)) + "\n")
    log(f"fold {name}: chose {chosen} (validation F1 {valid_f1:.4f}, {time.time() - t0:.0f} s)", fold_dir)

    tseqs = test["sequence"].tolist()
    peers = [v for k, v in RUN_HERE.items() if v[0] != "eternafold" or eternafold_available()]
    tools = [OURS] + [k for k, v in RUN_HERE.items() if v in peers]
    _JOB.update(seqs=tseqs, logits=logits_of(tseqs), chosen=chosen, peers=peers)
    torch.set_num_threads(1)
    with mp.get_context("fork").Pool(args.workers) as pool:
        folded = pool.map(_fold_test, range(len(tseqs)), chunksize=2)
    torch.set_num_threads(args.workers)

    scores = []
    ref = {i: Record(i, s, refs[i].pairs) for i, s in zip(test["id"], tseqs)}
    for t, tool in enumerate(tools):
        preds = {i: Record(i, s, f[t]) for i, s, f in zip(test["id"], tseqs, folded)}
        df = score_records(preds, ref, ScoringOptions())
        df.insert(0, "tool", tool)
        scores.append(df)
        fa = "".join(f">{i}\n{s}\n{to_dot_bracket(f[t], len(s))}\n" for i, s, f in zip(test["id"], tseqs, folded))
        write_text_atomic(fold_dir / f"pred_{tool.split(' (')[0].replace(' ', '_')}.fa", fa)
    settings = {"fold": name, "inputs": inputs, "fold_energy": dataclasses.asdict(chosen), "validation_f1": valid_f1,
                "n_valid": len(valid), "n_test": len(test), "valid_ids": valid["id"].tolist(),
                "seconds": round(time.time() - t0, 1), "cpu": cpu_name()}
    write_text_atomic(fold_dir / "settings.json", json.dumps(settings, indent=1) + "\n")
    reporting.write_csv(pd.concat(scores, ignore_index=True), fold_dir / "scores.csv")  # last: marks done
    f1 = pd.concat(scores).groupby("tool", sort=False)["f1"].mean()
    log(f"fold {name}: " + ", ".join(f"{t} {v:.4f}" for t, v in f1.items()) + f" ({time.time() - t0:.0f} s)", fold_dir)
    return fold_dir


# ---------------------------------------------------------------------------------------------
# the report


def collect(args) -> tuple[pd.DataFrame, list[str], dict]:
    """Per-sequence F1 of every tool over the folds done: columns id, family, tool, f1."""
    done = [f for f in FOLDS if (args.out / "folds" / f / "scores.csv").exists()]
    ours = []
    settings = {}
    for f in done:
        df = pd.read_csv(args.out / "folds" / f / "scores.csv")
        df["family"] = f
        ours.append(df[["id", "family", "tool", "f1"]])
        settings[f] = json.loads((args.out / "folds" / f / "settings.json").read_text())
    ours = pd.concat(ours, ignore_index=True) if ours else pd.DataFrame(columns=["id", "family", "tool", "f1"])
    pub = pd.read_csv(args.data / "benchmarks" / "peer_scores_ArchiveII_familyfold.csv")
    folds = pd.read_csv(args.data / "benchmarks" / "ArchiveII_familyfold.csv")
    family_of = dict(zip(folds.loc[folds["partition"] == "test", "id"], folds.loc[folds["partition"] == "test", "fold_name"]))
    pub["family"] = pub["id"].map(family_of)
    pub = pub.rename(columns={"method": "tool"})[["id", "family", "tool", "f1"]]
    ids = set(ours["id"])
    if ids:  # compare on the RNAs predicted here (all of them unless --test-limit)
        pub = pub[pub["id"].isin(ids)]
    return pd.concat([ours, pub], ignore_index=True), done, settings


def report(args) -> None:
    from rnastruct.seqio import write_text_atomic

    scores, done, settings = collect(args)
    if not done:
        sys.exit(f"no fold done yet in {args.out / 'folds'}")
    res = args.results
    (res / "predictions").mkdir(parents=True, exist_ok=True)
    (res / "logs").mkdir(exist_ok=True)
    for f in done:  # rnastruct's predictions and the fold's log, committed: anyone can rescore them
        write_text_atomic(res / "predictions" / f"{f}.fa", (args.out / "folds" / f / "pred_rnastruct.fa").read_text())
        write_text_atomic(res / "logs" / f"{f}.txt", (args.out / "folds" / f / "log.txt").read_text())
    s1_metrics = args.out / "s1" / "metrics.csv"
    if s1_metrics.exists():  # the shared S1's training log
        write_text_atomic(res / "logs" / "s1_metrics.csv", s1_metrics.read_text())
    tools = ([OURS] + [t for t in RUN_HERE if t in set(scores["tool"])]
             + [t for t in PUBLISHED if t in set(scores["tool"])])
    fam = scores.pivot_table(index="family", columns="tool", values="f1", aggfunc="mean")
    fam = fam.reindex(index=[f for f in FOLDS if f in done], columns=tools)
    n = scores[scores["tool"] == OURS].groupby("family").size()
    overall = pd.DataFrame({"mean F1 per sequence": scores.groupby("tool")["f1"].mean(),
                            "mean of family means": fam.mean(axis=0)}).reindex(tools)
    overall = overall.sort_values("mean F1 per sequence", ascending=False)
    gap = fam[OURS] - fam["RNAfold"] if "RNAfold" in fam else None
    reporting.write_csv(scores, res / "scores.csv")
    reporting.write_csv(fam, res / "f1_by_family.csv", index=True)
    reporting.write_csv(overall, res / "f1_overall.csv", index=True)
    plot_cols = [OURS, "EternaFold (here)", "RNAfold", "LinearPartitionC", "IPKnot", "MxFold2", "UFold"]
    reporting.plot_family_f1(fam[[c for c in plot_cols if c in fam]], res / "f1_by_family.png")
    manifest = args.out / "data" / "manifest.json"
    data_manifest = json.loads(manifest.read_text()) if manifest.exists() else {}
    data_counts, structure = data_manifest.get("counts", {}), data_manifest.get("structure_filter")
    filter_check = (json.loads((res / "homology_filter.json").read_text())
                    if (res / "homology_filter.json").exists() else None)
    summary = {"folds_done": done, "n_sequences": int(n.sum()), "settings": settings,
               "s1_training_data": data_counts, "structure_filter": structure, "homology_filter_check": filter_check,
               "overall": overall.round(4).to_dict(orient="index"),
               "by_family": fam.round(4).to_dict(orient="index")}
    write_text_atomic(res / "summary.json", json.dumps(summary, indent=1) + "\n")
    section = docs_section(fam, overall, n, gap, settings, data_counts, filter_check, structure)
    reporting.write_docs(args.docs, section, DOC_HEADING)
    print(section)


def docs_section(fam, overall, n, gap, settings, data_counts: dict, filter_check: dict | None,
                 structure: dict | None) -> str:
    md = reporting.md_table
    chosen = pd.DataFrame({f: {"weight": s["fold_energy"]["weight"], "offset": s["fold_energy"]["offset"],
                               "decoding": s["fold_energy"]["decoding"], "gamma": s["fold_energy"]["gamma"],
                               "validation F1": s["validation_f1"], "validation RNAs": s["n_valid"]}
                           for f, s in settings.items()}).T
    fam_t = fam.copy()
    fam_t.insert(0, "RNAs", n.reindex(fam.index))
    if gap is not None:
        fam_t["rnastruct - RNAfold (published)"] = gap
    limited = any(s["inputs"]["test_limit"] for s in settings.values())
    cpus = sorted({s["cpu"] for s in settings.values()})
    L = [DOC_HEADING, "",
         "Leave-one-family-out on ArchiveII (`ArchiveII_familyfold.csv`): each of the nine families is predicted "
         "by a model trained with that family filtered out of its data. Regenerate with `python bench/family_folds.py` (or fold by fold, "
         "`--fold NAME`, then `--report`; `bash bench/family_folds.sbatch` on Slurm). How the model is retrained "
         "per fold, and why: the docstring of `bench/family_folds.py` (S1 fine-tuned once on bpRNA TR0 with "
         "all nine families filtered out by source database, identity, shared 16-mers, nhmmer and the tRNA "
         "cloverleaf; the "
         "pseudo-energy weight, offset and decoding chosen per fold on RNAs of the other families).",
         "",
         f"Folds done: {len(fam)} of 9 ({', '.join(fam.index)}); {int(n.sum())} RNAs"
         + (" (a seeded subset of each test family: `--test-limit`)" if limited else "") + ". "
         "Scores: mean per-sequence F1, `rnastruct evaluate` defaults (every reference pair counted). "
         "'(here)': run in the same command on the same RNAs; the others are the published per-sequence "
         "scores (`peer_scores_ArchiveII_familyfold.csv`) of the same RNAs. CPU: "
         f"{'; '.join(cpus)}.",
         "", "### Overall", "", md(overall, {c: "{:.4f}" for c in overall.columns}, "tool"),
         "### Per family (mean F1 per sequence)", "",
         md(fam_t, {**{c: "{:.3f}" for c in fam_t.columns}, "RNAs": "{:.0f}", "rnastruct - RNAfold (published)": "{:+.3f}"}, "family"),
         "![F1 by family](../bench/results/family_folds/f1_by_family.png)", "",
         *training_text(data_counts, filter_check, structure),
         "### Settings chosen per fold (on the other families' validation RNAs)", "",
         md(chosen, {"weight": "{:g}", "offset": "{:g}", "gamma": "{:g}", "validation F1": "{:.4f}",
                     "validation RNAs": "{:.0f}"}, "held-out family"),
         "Files: `bench/results/family_folds/` holds rnastruct's predictions per fold (`predictions/FAMILY.fa`, "
         "RNAfold-style: name, sequence, dot-bracket; rescore with `rnastruct evaluate`), scores.csv (every tool "
         "and sequence), f1_by_family.csv, f1_overall.csv and summary.json (the settings of every fold).", ""]
    return "\n".join(L)


def training_text(data_counts: dict, filter_check: dict | None, structure: dict | None) -> list[str]:
    """What the shared S1 was trained on, and how well the family filter finds family members."""
    if not data_counts:
        return []
    train = next((c for c in data_counts.values() if c["split"] == "train"), {})
    valid = next((c for c in data_counts.values() if c["split"] == "valid"), {})
    L = ["### What the shared S1 saw", "",
         f"bpRNA TR0's {train.get('read', 0)} Rfam rows, less {train.get('dropped_identical_to_evaluation', 0)} "
         f"identical to an ArchiveII RNA, {train.get('dropped_kmer_shared_with_evaluation', 0)} sharing a 16-mer "
         f"with one, {train.get('dropped_homolog_of_evaluation', 0)} more found by nhmmer (E <= 1e-3) and "
         f"{train.get('dropped_too_long', 0)} over 500 nt: {train.get('kept', 0)} RNAs (S1 trains on those "
         f"<= 300 nt). Validation (S1's metrics): {valid.get('kept', 0)} of VL0's {valid.get('read', 0)} "
         "Rfam rows, filtered the same way. The training log is `bench/results/family_folds/logs/s1_metrics.csv`."]
    if structure:
        L[-1] += (f" Then the tRNA cloverleaves (mitochondrial tRNAs, which the sequence search misses): "
                  f"{structure['train']['dropped_trna_cloverleaf']} training and "
                  f"{structure['valid']['dropped_trna_cloverleaf']} validation RNAs left out.")
    if filter_check:
        src = ", ".join(f"{k} {v['found']}/{v['rows']}" for k, v in filter_check["by_source"].items())
        L[-1] += (f" How well does the filter find family members? TR0's {filter_check['rows']} rows from the "
                  f"family databases (known members of the nine families, left out by source anyway) are found "
                  f"by it at {filter_check['share_found']:.1%} ({src}); most of them by identity or a shared "
                  f"16-mer, and nhmmer finds {filter_check['of_those_found_by_nhmmer']} of the "
                  f"{filter_check['not_identical_nor_sharing_a_16mer']} that neither finds. ArchiveII was drawn "
                  "from those databases, so Rfam's more distant members are found less often: this is an "
                  "upper bound.")
    return L + [""]


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", nargs="+", choices=FOLDS, help="only these folds (default: all nine, then the report)")
    ap.add_argument("--fold-index", type=int, choices=range(len(FOLDS)), metavar="0-8",
                    help="the fold FOLDS[N] (a Slurm array task's index)")
    ap.add_argument("--stage", choices=["shared", "folds", "report", "all"], default=None,
                    help="shared: the family-free S1 only; folds: the folds only (S1 must exist); "
                         "report: the report only (default: all, or folds when --fold is given)")
    ap.add_argument("--report", action="store_true", help="same as --stage report")
    ap.add_argument("--s1", type=Path, help="use this S1 checkpoint instead of the shared stage's (tests, ablations)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "family_folds")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "family_folds")
    ap.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--seed", type=int, default=0, help="seed of the validation and test subsets")
    ap.add_argument("--tune-limit", type=int, default=120,
                    help="choose the settings on this many validation RNAs of the fold (seeded; 0 = all)")
    ap.add_argument("--test-limit", type=int, default=0, help="predict a seeded subset of each test family (0 = all)")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.05, 0.1, 0.15, 0.2, 0.3])
    ap.add_argument("--offsets", type=float, nargs="+", default=[-3.0, -2.0, -1.0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="recompute folds already done")
    ap.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                    help="passed on to rnastruct s1-train (e.g. --device cuda); last on the line")
    args = ap.parse_args(argv)
    if args.fold_index is not None:
        args.fold = [FOLDS[args.fold_index]]
    stage = "report" if args.report else args.stage or ("folds" if args.fold else "all")
    if not (args.data / "benchmarks" / "ArchiveII_familyfold.csv").exists():
        sys.exit(f"{args.data}: no benchmarks/ArchiveII_familyfold.csv (give --data)")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.workers))

    s1 = args.s1
    if stage in ("shared", "all") and s1 is None:
        s1 = shared_stage(args)
    if stage in ("folds", "all"):
        if s1 is None:
            s1 = args.out / "s1" / "best.pt"
            if not (args.out / "s1" / "done").exists():
                sys.exit(f"{s1}: the shared S1 is not trained yet: run --stage shared first (or give --s1)")
        for name in args.fold or FOLDS:
            run_fold(args, name, s1)
    if stage in ("report", "all"):
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

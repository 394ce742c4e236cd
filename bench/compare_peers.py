"""rnastruct against RNAfold, LinearFold-V and MXfold2 on ArchiveII: accuracy, speed, memory.

    bash bench/peers_setup.sh "$VIRTUAL_ENV"        # once: installs the peers
    python bench/compare_peers.py                   # all 3,864 ArchiveII RNAs (MXfold2: > 1 h)
    python bench/compare_peers.py --limit 150       # a subset, stratified by family

One command, in one run: every available tool folds the selected sequences (each tool in its own
subprocess, one after the other, so that its wall time and peak memory are its own), then every
tool's predictions are scored with ``rnastruct.evaluate`` and ``bench/results/peers/`` and the
peers section of ``docs/benchmarks.md`` are rewritten from the results. No figure in them is
typed by hand.

Resume: predictions are appended per tool to ``predictions/TOOL.fa`` as they are made; a (tool,
id) already there is not folded again, so an interrupted run goes on where it stopped, and a
larger selection reuses the smaller one's predictions. ``runs.jsonl`` logs every fold run (tool,
sequences, wall time, peak RSS). Delete a tool's file to recompute it.

rnastruct itself is registered as a tool (``rnastruct.predictor.fold``); when it cannot be imported it is listed
as "not available yet" (see bench/peers.py).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnastruct import evaluate as ev
from rnastruct.reporting import md_table, plot_family_f1, readable, save_png, write_csv, write_docs
from rnastruct.seqio import write_text_atomic

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

DATA = REPO.parent / "shared" / "data" / "benchmarks"
FOLD_FILES = {"random5": "ArchiveII_random5fold.csv", "family": "ArchiveII_familyfold.csv"}
PEER_FILES = {"random5": "peer_scores_ArchiveII_random5fold.csv",
              "family": "peer_scores_ArchiveII_familyfold.csv"}
#: our tool name -> method name in the published peer score files
PUBLISHED_NAME = {"RNAfold": "RNAfold", "LinearFold-V": "LinearFoldV", "MXfold2": "MxFold2"}
DOC_HEADING = "## Accuracy and speed against peers"
LENGTH_BINS = [0, 100, 200, 300, 400, 520]


# ---------------------------------------------------------------------------------------------
# selection


def load_archive(data: Path, fold: str) -> pd.DataFrame:
    """ArchiveII records with their family and test fold: columns id, sequence, len, family, fold."""
    df = pd.read_csv(data / "ArchiveII.csv")
    df["family"] = df["id"].map(ev.family_of)
    folds = pd.read_csv(data / FOLD_FILES[fold])
    test = folds[folds["partition"] == "test"]
    col = "fold_number" if fold == "random5" else "fold_name"
    fold_of = dict(zip(test["id"], test[col].astype(str)))
    df["fold"] = df["id"].map(fold_of).fillna("-")
    return df


def stratified_subset(df: pd.DataFrame, limit: int | None, seed: int, max_len: int | None) -> pd.DataFrame:
    """``limit`` records drawn per family in proportion to the family's size (largest remainder,
    at least one per family), at random with ``seed``; the file's order is kept."""
    if max_len is not None:
        df = df[df["len"] <= max_len]
    if limit is None or limit >= len(df):
        return df
    sizes = df["family"].value_counts().sort_index()
    if limit < len(sizes):
        raise SystemExit(f"--limit {limit}: need at least one per family ({len(sizes)} families)")
    quota = sizes / sizes.sum() * (limit - len(sizes))
    take = 1 + np.floor(quota).astype(int)
    rest = limit - int(take.sum())
    for fam in (quota - np.floor(quota)).sort_values(ascending=False).index[:rest]:
        take[fam] += 1
    rng = np.random.default_rng(seed)
    keep = []
    for fam, n in take.items():
        idx = df.index[df["family"] == fam].to_numpy()
        keep.extend(rng.choice(idx, size=min(n, len(idx)), replace=False).tolist())
    return df.loc[sorted(keep)]


# ---------------------------------------------------------------------------------------------
# running the tools


def load_predictions(path: Path) -> dict[str, float]:
    """Ids (-> fold seconds) of the complete records in a tool's append-only prediction file.

    A record cut off by a killed run (missing lines, or a structure shorter than its sequence)
    is removed by truncating the file before it.
    """
    if not path.exists():
        return {}
    data = path.read_bytes()
    done: dict[str, float] = {}
    pos = 0
    good_end = 0
    while pos < len(data):
        lines = []
        end = pos
        for _ in range(3):
            nl = data.find(b"\n", end)
            if nl < 0:
                break
            lines.append(data[end:nl].decode())
            end = nl + 1
        if len(lines) < 3 or not lines[0].startswith(">"):
            break
        head = lines[0][1:].split()
        structure = lines[2].split()[0] if lines[2].split() else ""
        if not head or len(structure) != len(lines[1]):
            break
        seconds = next((float(h.split("=", 1)[1]) for h in head[1:] if h.startswith("seconds=")), float("nan"))
        done[head[0]] = seconds
        pos = good_end = end
    if good_end < len(data):
        print(f"{path.name}: dropping a cut-off record at byte {good_end}", file=sys.stderr)
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return done


def run_tool(tool: str, todo: pd.DataFrame, out: Path, threads: int) -> dict:
    """Fold ``todo`` with ``tool`` in a subprocess appending to ``out``; returns the run's log
    entry (wall time, peak RSS of that process, exit status)."""
    with tempfile.NamedTemporaryFile("w", suffix=".fa", delete=False) as fh:
        for rid, seq in zip(todo["id"], todo["sequence"]):
            fh.write(f">{rid}\n{seq}\n")
        src = fh.name
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(HERE / "peers.py"), "fold", tool, src, str(out), "--threads", str(threads)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        os.unlink(src)
    wall = time.perf_counter() - t0
    return {
        "tool": tool, "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "sequences": len(todo), "max_len": int(todo["len"].max()), "wall_s": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "threads": threads,
        "exit": proc.returncode,
    }


def drop_stale(name: str, version: str, out: Path) -> None:
    """Forget ``name``'s predictions and logged runs when they were made by another version of
    it (``predictions/TOOL.version`` records the one that made them)."""
    path, stamp = out / "predictions" / f"{name}.fa", out / "predictions" / f"{name}.version"
    old = stamp.read_text().strip() if stamp.exists() else None
    if path.exists() and old != version:
        print(f"{name}: predictions were made by {old or 'an unrecorded version'}, not {version}; "
              "folding again", file=sys.stderr)
        path.unlink()
        log = out / "runs.jsonl"
        if log.exists():
            kept = [line for line in log.read_text().splitlines(keepends=True)
                    if json.loads(line)["tool"] != name]
            write_text_atomic(log, "".join(kept))
    write_text_atomic(stamp, version + "\n")


@functools.lru_cache(maxsize=1)
def peer_tools() -> dict[str, dict]:
    """bench/peers.py's registry, run rather than imported (bench scripts import only the
    package): {tool: {"description", "why" (None when installed), "version"}}."""
    out = subprocess.run([sys.executable, str(HERE / "peers.py"), "list", "--json"], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def run_all(tools: list[str], sel: pd.DataFrame, out: Path, threads: int) -> dict[str, str]:
    """Fold what is missing for every tool; returns {tool: status}."""
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    status = {}
    for name in tools:
        why = peer_tools()[name]["why"]
        if why:
            status[name] = why
            print(f"{name}: {why}", file=sys.stderr)
            continue
        path = out / "predictions" / f"{name}.fa"
        drop_stale(name, peer_tools()[name]["version"], out)
        done = load_predictions(path)
        todo = sel[~sel["id"].isin(done.keys())]
        print(f"{name}: {len(sel) - len(todo)} of {len(sel)} already predicted; folding {len(todo)}",
              file=sys.stderr)
        if len(todo):
            entry = run_tool(name, todo, path, threads)
            with open(out / "runs.jsonl", "a") as fh:
                fh.write(json.dumps(entry) + "\n")
            print(f"{name}: {entry['sequences']} sequences in {entry['wall_s']:.1f} s, "
                  f"peak RSS {entry['peak_rss_mb']:.0f} MB, exit {entry['exit']}", file=sys.stderr)
        status[name] = "ok"
    return status


# ---------------------------------------------------------------------------------------------
# scoring and tables


def score_tool(name: str, out: Path, ref: dict, ids: list[str], opts) -> pd.DataFrame:
    """Per-sequence scores of ``name``'s predictions for ``ids`` (those it has)."""
    path = out / "predictions" / f"{name}.fa"
    if not path.exists():
        return pd.DataFrame(columns=ev.PER_SEQUENCE_COLUMNS)
    pred = ev.read_structures(path, role="prediction")
    wanted = set(ids)
    pred = {k: r for k, r in pred.items() if k in wanted}
    if not pred:
        return pd.DataFrame(columns=ev.PER_SEQUENCE_COLUMNS)
    return ev.score_records(pred, {k: ref[k] for k in ids}, opts, only_predicted=True,
                            pred_name=str(path), ref_name="ArchiveII.csv")


def published_scores(data: Path, fold: str) -> pd.DataFrame:
    """Published per-sequence F1 (rows: id, columns: our tool names)."""
    peer = pd.read_csv(data / PEER_FILES[fold])
    peer = peer[peer["method"].isin(PUBLISHED_NAME.values())]
    wide = peer.pivot_table(index="id", columns="method", values="f1", aggfunc="first")
    return wide.rename(columns={v: k for k, v in PUBLISHED_NAME.items()})


def timings(out: Path, tools: list[str], sel: pd.DataFrame) -> pd.DataFrame:
    rows = []
    length = dict(zip(sel["id"], sel["len"]))
    for name in tools:
        for rid, sec in load_predictions(out / "predictions" / f"{name}.fa").items():
            if rid in length:
                rows.append({"tool": name, "id": rid, "length": int(length[rid]), "seconds": sec})
    return pd.DataFrame(rows, columns=["tool", "id", "length", "seconds"])


def length_bin(lengths) -> pd.Series:
    labels = [f"{a + 1}-{b}" for a, b in zip(LENGTH_BINS[:-1], LENGTH_BINS[1:])]
    return pd.cut(lengths, LENGTH_BINS, labels=labels)


def run_log(out: Path) -> pd.DataFrame:
    path = out / "runs.jsonl"
    if not path.exists():
        return pd.DataFrame(columns=["tool", "sequences", "wall_s", "peak_rss_mb", "cpu_s", "max_len"])
    return pd.DataFrame([json.loads(l) for l in path.read_text().splitlines() if l.strip()])


def machine_info(args, tools: list[str], status: dict[str, str]) -> dict:
    cpu = ""
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    import rnastruct

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python bench/compare_peers.py " + " ".join(sys.argv[1:]),
        "rnastruct": rnastruct.__version__, "git": commit,
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads_per_tool": args.threads,
        "tools": {t: {"version": peer_tools()[t]["version"] if status.get(t) == "ok" else None,
                      "description": peer_tools()[t]["description"], "status": status.get(t)}
                  for t in tools},
    }


def plot_times(times: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        for k, (name, g) in enumerate(times.groupby("tool", sort=False)):
            color = f"C{k}"
            ax.scatter(g["length"], g["seconds"], s=5, alpha=0.35, color=color)
            med = g.groupby(length_bin(g["length"]), observed=True).agg(length=("length", "median"),
                                                                        seconds=("seconds", "median"))
            ax.plot(med["length"], med["seconds"], "o-", color=color, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [t for t in (25, 50, 100, 200, 300, 500, 1000) if times["length"].min() / 1.5 <= t <= times["length"].max() * 1.5]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("sequence length (nt)")
        ax.set_ylabel("seconds per sequence (one thread)")
        ax.set_title("Folding time by length (lines: median per length bin)")
        ax.legend(fontsize=8)
        save_png(fig, path)
    finally:
        plt.close(fig)


def plot_length_f1(scores: pd.DataFrame, path: Path) -> None:
    """Mean F1 per length bin for each tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    try:
        for k, (name, g) in enumerate(scores.groupby("tool", sort=False)):
            m = g.groupby(length_bin(g["length"]), observed=True).agg(length=("length", "mean"), f1=("f1", "mean"))
            ax.plot(m["length"], m["f1"], "o-", color=f"C{k}", label=name)
        ax.set_xlabel("sequence length (nt; points at the mean length of each bin)")
        ax.set_ylabel("mean F1")
        ax.set_ylim(0, 1)
        ax.set_title("F1 by length")
        ax.legend(fontsize=8)
        save_png(fig, path)
    finally:
        plt.close(fig)


def report(args, archive: pd.DataFrame, sel: pd.DataFrame, status: dict[str, str]) -> None:
    out = args.out
    opts = ev.ScoringOptions()  # the convention of the published peer scores (see the docs)
    ref = {r.name: r for r in ev.read_structure_csv(args.data / "ArchiveII.csv", multiplets=True)}
    ids = sel["id"].tolist()
    ran = [t for t in args.tools if status.get(t) == "ok"]
    fold_of = dict(zip(archive["id"], archive["fold"]))
    published = published_scores(args.data, args.fold)

    per_seq = []
    for name in ran:
        df = score_tool(name, out, ref, ids, opts)
        df.insert(0, "tool", name)
        per_seq.append(df)
    scores = pd.concat(per_seq, ignore_index=True) if per_seq else pd.DataFrame(columns=["tool"] + ev.PER_SEQUENCE_COLUMNS)
    scores["fold"] = scores["id"].map(fold_of)
    write_csv(scores, out / "scores.csv")

    # accuracy, overall / per family / per fold
    acc_rows = []
    for name in args.tools:
        g = scores[scores["tool"] == name]
        row = {"tool": name, "n": len(g)}
        if len(g):
            a = ev.aggregate(g).iloc[0]
            row.update({m: a[m] for m in ev.METRICS})
            row["micro_f1"] = a["micro_f1"]
            if name in published.columns:
                row["published_f1_same_ids"] = float(published.loc[g["id"], name].mean())
        else:
            row["status"] = status.get(name, "not run")
        acc_rows.append(row)
    acc = pd.DataFrame(acc_rows).set_index("tool")
    write_csv(acc, out / "accuracy.csv", index=True)
    fam = scores.pivot_table(index="family", columns="tool", values="f1", aggfunc="mean")
    fam = fam.reindex(sorted(fam.index, key=str.lower))
    fam = fam.reindex(columns=[t for t in args.tools if t in fam.columns])
    fam.insert(0, "n", sel.groupby("family").size().reindex(fam.index))
    write_csv(fam, out / "accuracy_by_family.csv", index=True)
    folds = scores.pivot_table(index="fold", columns="tool", values="f1", aggfunc="mean")
    folds = folds.reindex(index=sorted(folds.index, key=str.lower), columns=[t for t in args.tools if t in folds.columns])
    folds.insert(0, "n", sel.groupby("fold").size().reindex(folds.index))
    write_csv(folds, out / "accuracy_by_fold.csv", index=True)
    if len(scores):
        plot_family_f1(fam.drop(columns="n"), out / "f1_by_family.png")
        plot_length_f1(scores, out / "f1_by_length.png")

    # agreement with the published per-sequence F1 on every id a tool has predicted
    agree = []
    pub5 = published_scores(args.data, "random5")
    every = {}
    for name in ran:
        pred_ids = [k for k in load_predictions(out / "predictions" / f"{name}.fa") if k in ref]
        every[name] = score_tool(name, out, ref, pred_ids, opts).set_index("id")["f1"]
    rnafold = every.get("RNAfold", pd.Series(dtype=float))

    def corr(a, b) -> float:
        return float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and np.std(a) > 0 and np.std(b) > 0 else float("nan")

    for name in ran:
        if name not in pub5.columns or not len(every[name]):
            continue
        ours = every[name]
        pub = pub5.loc[ours.index, name]
        diff = np.abs(ours.to_numpy() - pub.to_numpy())
        both = ours.index.intersection(rnafold.index)
        agree.append({"tool": name, "n": len(ours), "f1": ours.mean(), "published_f1": pub.mean(),
                      "pearson_r": corr(ours, pub), "n_diff_gt_0.01": int((diff > 0.01).sum()),
                      "max_abs_diff": float(diff.max()),
                      "r_ours_vs_our_RNAfold": corr(ours[both], rnafold[both]),
                      "r_published_vs_our_RNAfold": corr(pub[both], rnafold[both])})
    agree = pd.DataFrame(agree, columns=["tool", "n", "f1", "published_f1", "pearson_r", "n_diff_gt_0.01",
                                         "max_abs_diff", "r_ours_vs_our_RNAfold",
                                         "r_published_vs_our_RNAfold"]).set_index("tool")
    write_csv(agree, out / "published_agreement.csv", index=True)

    # speed and memory
    times = timings(out, ran, sel)
    write_csv(times, out / "timing.csv")
    if len(times):
        plot_times(times, out / "time_by_length.png")
    speed = times.assign(bin=length_bin(times["length"])).pivot_table(
        index="tool", columns="bin", values="seconds", aggfunc="median", observed=True)
    speed = speed.reindex([t for t in args.tools if t in speed.index])
    write_csv(speed, out / "time_by_length.csv", index=True)
    log = run_log(out)
    res = []
    for name in ran:
        g = times[times["tool"] == name]
        lg = log[log["tool"] == name] if len(log) else log
        res.append({"tool": name, "sequences": len(g), "fold_s_total": g["seconds"].sum(),
                    "fold_s_per_seq": g["seconds"].mean() if len(g) else float("nan"),
                    "runs": len(lg), "run_wall_s": lg["wall_s"].sum() if len(lg) else float("nan"),
                    "run_sequences": int(lg["sequences"].sum()) if len(lg) else 0,
                    "peak_rss_mb": lg["peak_rss_mb"].max() if len(lg) else float("nan"),
                    "longest_folded": int(lg["max_len"].max()) if len(lg) else 0})
    res = pd.DataFrame(res, columns=["tool", "sequences", "fold_s_total", "fold_s_per_seq", "runs", "run_wall_s",
                                     "run_sequences", "peak_rss_mb", "longest_folded"]).set_index("tool")
    write_csv(res, out / "resources.csv", index=True)

    info = machine_info(args, args.tools, status)
    info["selection"] = {"sequences": len(sel), "of": len(archive), "limit": args.limit,
                         "max_len": args.max_len, "seed": args.seed, "fold": args.fold,
                         "families": sel["family"].value_counts().to_dict()}
    info["scoring"] = asdict_opts(opts)
    # the runs that made the stored predictions may predate this invocation's --threads
    log = run_log(out)
    info["threads_by_tool"] = {t: sorted({int(x) for x in log.loc[log["tool"] == t, "threads"].dropna()})
                               for t in args.tools} if "threads" in log else {}
    write_text_atomic(out / "machine.json", json.dumps(info, indent=2) + "\n")
    readable(out / "machine.json")

    section = docs_section(args, info, acc, fam, folds, agree, speed, res)
    write_docs(args.docs, section, DOC_HEADING)
    print(section)


def asdict_opts(opts) -> dict:
    from dataclasses import asdict

    return asdict(opts)


def docs_section(args, info, acc, fam, folds, agree, speed, res) -> str:
    rel = lambda name: os.path.relpath(args.out / name, args.docs.parent)  # noqa: E731
    sel = info["selection"]
    what = (f"all {sel['of']} ArchiveII sequences" if sel["sequences"] == sel["of"] else
            f"{sel['sequences']} of the {sel['of']} ArchiveII sequences, drawn per family in "
            f"proportion to its size (seed {sel['seed']}"
            + (f", length <= {sel['max_len']}" if sel["max_len"] else "") + ")")
    tools = info["tools"]
    L = [DOC_HEADING, "",
         "<!-- generated by bench/compare_peers.py from bench/results/peers/: do not edit by hand -->", "",
         f"Generated {info['date']} by `{info['command']}` (rnastruct {info['rnastruct']}, "
         f"git {info['git'] or '?'}) on {info['cpu'] or 'unknown CPU'}, {info['cores']} cores, "
         f"{info['memory_gb']} GiB; each tool ran in its own process, one tool at a time, with "
         + (", ".join(f"{t} {'/'.join(map(str, n)) or '?'}" for t, n in info["threads_by_tool"].items())
            + " thread(s) in its logged runs" if info.get("threads_by_tool")
            else f"{info['threads_per_tool']} thread(s)")
         + ". Load average at the start: "
         f"{', '.join(map(str, info['load_average']))} (the machine is shared, so times are indicative).",
         "",
         f"Sequences: {what}. Scoring: `rnastruct evaluate` with its defaults "
         f"({', '.join(f'{k}={v}' for k, v in info['scoring'].items())}): exact pairs, pseudoknot "
         "pairs of the reference included, no slips; F1 is 1 when both structures are empty and 0 "
         "when one is. This is the convention of the published scores in "
         "`peer_scores_ArchiveII_*.csv` (see the agreement table below).",
         "",
         "Tools:", ""]
    for t, d in tools.items():
        L.append(f"- **{t}**: {d['description']}; "
                 + (f"version {d['version']}" if d["status"] == "ok" else f"{d['status']}"))
    L += ["", "### Accuracy (mean over sequences)", "",
          "`published` is the mean of the published per-sequence F1 "
          f"({PEER_FILES[args.fold]}) on the same ids; MXfold2's published "
          "scores come from models retrained on each fold, ours from the model shipped in its "
          "wheel (TrainSetAB).", ""]
    show = acc.rename(columns={"published_f1_same_ids": "published F1", "micro_f1": "micro F1",
                               "f1": "F1", "mcc": "MCC"})
    cols = [c for c in ["n", "precision", "recall", "F1", "MCC", "micro F1", "published F1", "status"] if c in show.columns]
    L.append(md_table(show[cols], {c: "{:.3f}" for c in cols if c not in ("n", "status")} | {"n": "{:.0f}"}, "tool"))
    L += ["Mean F1 per family:", "", md_table(fam, {"n": "{:.0f}"} | {c: "{:.3f}" for c in fam.columns if c != "n"}, "family")]
    L += [f"Mean F1 per test fold of `{FOLD_FILES[args.fold]}` (each sequence is in one test fold):", "",
          md_table(folds, {"n": "{:.0f}"} | {c: "{:.3f}" for c in folds.columns if c != "n"}, "fold")]
    if (args.out / "f1_by_family.png").exists():
        L += [f"![F1 by family]({rel('f1_by_family.png')}) ![F1 by length]({rel('f1_by_length.png')})", ""]
    L += ["### Check of the scorer against the published scores", "",
          "Every prediction a tool has made (not just this selection) scored against ArchiveII and "
          "compared, sequence by sequence, with the published F1 of the same tool "
          f"({PEER_FILES['random5']}). Our RNAfold is the published run's program with its "
          "default parameters, so equal F1 sequence by sequence shows that the scorer and the "
          "convention are the published ones. For the other tools a difference comes from the "
          "tool, not the scorer: the published MXfold2 scores are of models retrained on each "
          "fold (ours: the model shipped in the wheel), and the last two columns show whether "
          "the published LinearFold-V scores behave like a Vienna-model folder (ours follows "
          "RNAfold closely; a much lower r for the published scores means they were made with "
          "another LinearFold build or settings).", ""]
    L.append(md_table(agree.rename(columns={"f1": "our F1", "published_f1": "published F1",
                                             "pearson_r": "r", "max_abs_diff": "max diff",
                                             "n_diff_gt_0.01": "differing > 0.01",
                                             "r_ours_vs_our_RNAfold": "r ours vs our RNAfold",
                                             "r_published_vs_our_RNAfold": "r published vs our RNAfold"}),
                       {"our F1": "{:.4f}", "published F1": "{:.4f}", "r": "{:.4f}", "max diff": "{:.3f}",
                        "n": "{:.0f}", "differing > 0.01": "{:.0f}", "r ours vs our RNAfold": "{:.3f}",
                        "r published vs our RNAfold": "{:.3f}"}, "tool"))
    L += ["### Speed and memory", "",
          "Median seconds to fold one sequence, by length (nt); time of the fold call only, the "
          "model already loaded:", ""]
    L.append(md_table(speed, {c: "{:.4f}" for c in speed.columns}, "tool"))
    L += ["Totals: `fold s` is the sum of the per-sequence times over this selection; `runs`, "
          "`wall s` and `peak RSS` are over every fold run logged in runs.jsonl (process start, "
          "imports and model loading included; peak RSS of the tool's process, "
          "longest sequence of those runs in the last column).", ""]
    L.append(md_table(res.rename(columns={"fold_s_total": "fold s", "fold_s_per_seq": "s / sequence",
                                           "run_wall_s": "wall s", "run_sequences": "sequences in runs",
                                           "peak_rss_mb": "peak RSS MB", "longest_folded": "longest nt"}),
                       {"fold s": "{:.1f}", "s / sequence": "{:.4f}", "wall s": "{:.1f}",
                        "peak RSS MB": "{:.0f}", "sequences": "{:.0f}", "runs": "{:.0f}",
                        "sequences in runs": "{:.0f}", "longest nt": "{:.0f}"}, "tool"))
    if (args.out / "time_by_length.png").exists():
        L += [f"![time by length]({rel('time_by_length.png')})", ""]
    L += [f"Files: `{os.path.relpath(args.out, REPO)}/` holds the predictions of each tool "
          "(`predictions/TOOL.fa`, with the seconds per sequence in the headers), scores.csv "
          "(per tool and sequence), accuracy*.csv, timing.csv, time_by_length.csv, resources.csv, "
          "runs.jsonl, published_agreement.csv and machine.json (versions, machine, selection).", ""]
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help="folder with ArchiveII.csv, the fold files and the peer scores")
    p.add_argument("--fold", choices=list(FOLD_FILES), default="random5",
                   help="fold set to report per fold: random5 (5 random folds) or family (leave one family out)")
    p.add_argument("--limit", type=int, help="stratified subset of this many sequences (default: all)")
    p.add_argument("--max-len", type=int, help="only sequences up to this length")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset draw")
    p.add_argument("--tools", nargs="+", choices=list(peer_tools()), default=list(peer_tools()))
    p.add_argument("--threads", type=int, default=1, help="threads per tool (torch for MXfold2)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "peers")
    p.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md",
                   help="Markdown file whose peers section is rewritten")
    p.add_argument("--no-report", action="store_true", help="only fold; no scores, tables or docs")
    args = p.parse_args(argv)

    archive = load_archive(args.data, args.fold)
    sel = stratified_subset(archive, args.limit, args.seed, args.max_len)
    print(f"{len(sel)} sequences selected", file=sys.stderr)
    status = run_all(args.tools, sel, args.out, args.threads)
    if args.no_report:
        return 0
    report(args, archive, sel, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""rnastruct against RNAfold, whole process against whole process, in one run: wall time and
peak memory of each tool's process tree, and their ratio.

    python bench/speed_vs_rnafold.py [--n 300] [--long 3000] [--genome 10000] [--span 500]
        [--threads 2] [--repeats 1] [--out bench/results/speed]

Four kinds of work, each run by both tools in turn (rnastruct first, then RNAfold, the order
swapped on every other repeat, so a change in the machine's load hits both):

1. ``--n`` ArchiveII RNAs (a seeded random subset): ``rnastruct predict`` with its defaults on
   ``--threads`` cores, against RNAfold's partition function + centroid (``RNAfold -p
   --centroid``, the decoding the default model uses) through ViennaRNA's Python API in as many
   processes;
2. the same RNAs with ``--decoding mfe``, against RNAfold's MFE;
3. one random ``--long``-nt RNA (default decoding, against RNAfold's partition function +
   centroid, each in one process);
4. one random ``--genome``-nt sequence with ``--max-bp-span --span``, against RNAfold with
   ``max_bp_span`` (partition function + centroid).

Each tool runs as a fresh process (``python -m rnastruct predict ...``; a small ViennaRNA script
for RNAfold): the time includes start-up and model loading. Wall time and CPU time (user +
system, children included) are both reported: on a machine shared with other work the wall
time of both tools stretches, the CPU time much less. Peak memory is the largest sum of
proportional set size (resident memory, shared pages split between their sharers) over the
process and its children, sampled from /proc (Linux) every 20 ms for 5 s, then every 250 ms.
Prints and writes (``--out``/speed.json, speed.md) the CPU, whether it has AMX, the load average
before and after (the machine may be shared), each figure and each ratio rnastruct / RNAfold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "benchmarks" / "ArchiveII.csv"

#: RNAfold through ViennaRNA's Python API: argv = fasta, decoding (mfe | centroid), processes, span
RNAFOLD = r'''
import sys, multiprocessing as mp
import RNA

def fold(seq):
    md = RNA.md()
    md.max_bp_span = SPAN
    if DECODING == "mfe":
        return RNA.fold_compound(seq, md).mfe()[0]
    md.compute_bpp = 1
    fc = RNA.fold_compound(seq, md)
    s, mfe = fc.mfe()
    fc.exp_params_rescale(mfe)
    fc.pf()
    return fc.centroid()[0]

path, DECODING, procs, SPAN = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seqs = [l.strip() for l in open(path) if l.strip() and not l.startswith(">")]
if procs > 1:
    with mp.get_context("fork").Pool(procs) as pool:
        out = pool.map(fold, seqs, chunksize=1)
else:
    out = [fold(s) for s in seqs]
sys.stdout.write("".join(s + "\n" for s in out))
'''


def _tree_memory(pid: int) -> int:
    """Proportional set size (bytes) of ``pid`` and all its descendants, from /proc: resident
    memory with each shared page split between its sharers, so forked workers (which share
    their parent's pages until they write them) are not counted twice."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            pass
        todo.extend(children.get(p, []))
    return total


def measure(cmd: list[str]) -> dict:
    """Run ``cmd`` -> its wall time (s), its CPU time (user + system, s, with its children's:
    what a busy shared machine changes least) and the peak memory of its process tree (MB,
    proportional set size)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_memory(proc.pid))
            # walking /proc costs CPU: every 20 ms while short work may end, then every 250 ms
            # (a long run's memory grows with its matrices, slowly; the sampler took 60% of a
            # core at 20 ms on a 20-minute run)
            time.sleep(0.02 if time.perf_counter() - t0 < 5 else 0.25)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read()[-2000:]}")
    return {"seconds": round(wall, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mb": round(peak / 2**20, 1)}


def cpu_name() -> str:
    name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "unknown CPU")
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    amx = "amx_tile" in flags.split()
    bf16 = "avx512_bf16" in flags.split()
    return f"{name}, {os.cpu_count()} cores visible, {'with' if amx else 'no'} AMX, {'with' if bf16 else 'no'} AVX512-BF16"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="ArchiveII RNAs (0: skip works 1 and 2)")
    ap.add_argument("--archive", default=str(ARCHIVE), help="ArchiveII.csv (default: shared/data beside the repo)")
    ap.add_argument("--long", type=int, default=3000, help="length of the long RNA (0: skip)")
    ap.add_argument("--genome", type=int, default=10000, help="length of the span-limited sequence (0: skip)")
    ap.add_argument("--span", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "speed"))
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="speed_vs_rnafold."))
    script = tmp / "rnafold.py"
    script.write_text(RNAFOLD)
    py = sys.executable
    works = []

    def fasta(name: str, seqs: list[str]) -> Path:
        path = tmp / f"{name}.fa"
        path.write_text("".join(f">{name}{k}\n{s}\n" for k, s in enumerate(seqs)))
        return path

    rnastruct = [py, "-m", "rnastruct", "predict", "--quiet", "--threads"]
    if args.n:
        table = pd.read_csv(args.archive).sample(args.n, random_state=args.seed)
        fa = fasta("archiveii", list(table.sequence))
        mean = table.sequence.str.len().mean()
        works.append((f"{args.n} ArchiveII RNAs (mean {mean:.0f} nt), default vs partition function + centroid, "
                      f"{args.threads} processes",
                      rnastruct + [str(args.threads), str(fa)],
                      [py, str(script), str(fa), "centroid", str(args.threads), "-1"]))
        works.append((f"{args.n} ArchiveII RNAs, --decoding mfe vs MFE, {args.threads} processes",
                      rnastruct + [str(args.threads), "--decoding", "mfe", str(fa)],
                      [py, str(script), str(fa), "mfe", str(args.threads), "-1"]))
    if args.long:
        fa = fasta("long", ["".join(rng.choice(list("ACGU"), args.long))])
        works.append((f"one {args.long:,}-nt RNA, default vs partition function + centroid",
                      rnastruct + ["1", str(fa)], [py, str(script), str(fa), "centroid", "1", "-1"]))
    if args.genome:
        fa = fasta("genome", ["".join(rng.choice(list("ACGU"), args.genome))])
        works.append((f"one {args.genome:,}-nt sequence, --max-bp-span {args.span} vs max_bp_span={args.span} "
                      "(partition function + centroid)",
                      rnastruct + ["1", "--max-bp-span", str(args.span), str(fa)],
                      [py, str(script), str(fa), "centroid", "1", str(args.span)]))

    load_before = os.getloadavg()
    rows = []
    for name, ours, theirs in works:
        got = {"rnastruct": [], "RNAfold": []}
        for rep in range(args.repeats):
            order = [("rnastruct", ours), ("RNAfold", theirs)]
            for tool, cmd in order if rep % 2 == 0 else order[::-1]:
                got[tool].append(measure(cmd))
                print(f"{name}: {tool} {got[tool][-1]}", flush=True)
        best = {tool: {"seconds": min(r["seconds"] for r in v), "cpu_seconds": min(r["cpu_seconds"] for r in v),
                       "peak_mb": max(r["peak_mb"] for r in v)} for tool, v in got.items()}
        rows.append({"work": name, **{f"{t}_{k}": v for t, d in best.items() for k, v in d.items()},
                     "time_ratio": round(best["rnastruct"]["seconds"] / best["RNAfold"]["seconds"], 2),
                     "cpu_ratio": round(best["rnastruct"]["cpu_seconds"] / best["RNAfold"]["cpu_seconds"], 2),
                     "memory_ratio": round(best["rnastruct"]["peak_mb"] / best["RNAfold"]["peak_mb"], 2)})
    summary = {"cpu": cpu_name(), "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in os.getloadavg()],
               "command": " ".join(["python", "bench/speed_vs_rnafold.py", *sys.argv[1:]]),
               "repeats": args.repeats, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"CPU: {summary['cpu']}; load average before {summary['load_average_before']}, after "
             f"{summary['load_average_after']} (a shared machine: the ratio is what to read)", "",
             f"`{summary['command']}`", "",
             "| work | rnastruct: wall, CPU, peak memory | RNAfold: wall, CPU, peak memory | wall ratio | "
             "CPU ratio | memory ratio |", "|---|---|---|---|---|---|"]
    for r in rows:
        ours, theirs = (f"{r[t + '_seconds']:.1f} s, {r[t + '_cpu_seconds']:.1f} s, {r[t + '_peak_mb']:.0f} MB"
                        for t in ("rnastruct", "RNAfold"))
        lines.append(f"| {r['work']} | {ours} | {theirs} | {r['time_ratio']:.2f}x | {r['cpu_ratio']:.2f}x | "
                     f"{r['memory_ratio']:.2f}x |")
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

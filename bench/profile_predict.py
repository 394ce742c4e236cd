"""Where the default predictor's time and memory go, by sequence length, against RNAfold in the
same run: S1's 1D encoder and 2D trunk, the pair head, the transfer to numpy, the
pseudo-energies, the soft constraints, and ViennaRNA's dynamic programme (MFE, partition
function, centroid).

    python bench/profile_predict.py [--lengths 100 200 400 800 1600] [--threads 1]
        [--out bench/results/profile]

Each length runs in a fresh process per tool (a random sequence, seeded), so each peak is the
process's own: rnastruct through the same calls as the default predictor (``LearnedFold`` and
``folding.fold_full``: pruned pairs forbidden, no MFE pass up to 1,000 nt), one stage at a time,
RNAfold as ViennaRNA's MFE, partition function and centroid (``RNAfold -p --centroid``).
Per stage: CPU time (``time.process_time``, what a shared machine changes least), wall time, and
the peak resident memory while it ran (the high-water mark reset before it, /proc, Linux).
Writes ``profile.json``, ``profile.csv`` and ``profile.png`` (time and memory by stage and
length, RNAfold drawn over them) and prints the table with the CPU's name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # "5": reset the high-water mark VmHWM
        fh.write("5")


def _peak_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stages:
    """Times and peaks of consecutive stages: ``with stages("name"): ...``."""

    def __init__(self):
        self.rows: list[dict] = []

    def __call__(self, name: str):
        stages = self

        class _Stage:
            def __enter__(self):
                _reset_peak()
                self.cpu, self.wall = time.process_time(), time.perf_counter()

            def __exit__(self, *exc):
                stages.add(name, time.process_time() - self.cpu, time.perf_counter() - self.wall, _peak_mb())

        return _Stage()

    def add(self, name: str, cpu: float, wall: float, peak: float) -> None:
        for row in self.rows:  # a stage run several times (one per tile) adds up
            if row["stage"] == name:
                row["cpu_s"] += cpu
                row["wall_s"] += wall
                row["peak_mb"] = max(row["peak_mb"], peak)
                return
        self.rows.append({"stage": name, "cpu_s": cpu, "wall_s": wall, "peak_mb": peak})


def profile_rnastruct(seq: str, threads: int) -> list[dict]:
    import numpy as np
    import torch

    from rnastruct.folding import UNSCALED_MAX_LENGTH, _forbid, _mfe, _partition, _soft_list, compound
    from rnastruct.predictor import load_predictor
    from rnastruct.predictor.apart import LONG, LONG_TILE
    from rnastruct.s1.infer import release_freed_memory

    torch.set_num_threads(threads)
    stages = Stages()
    with stages("load"):
        p = load_predictor(threads=threads)
    s1, d = p.s1, p.decoder.settings.energy
    if len(seq) >= LONG:  # as rnastruct predict's S1 process for such a sequence
        s1.tile = LONG_TILE
    head = s1.model.pair_prob
    with torch.inference_mode(), s1._autocast():
        warm, lens = s1._batch(["GGGAAACCC" * 4])
        s1.model.trunk(s1.model.features(warm, lens), 0, 36, 0, 36)  # first call's set-up, not per length
        tokens, lens = s1._batch([seq])
        L = tokens.shape[1]
        with stages("S1 1D encoder"):
            feats = s1.model.features(tokens, lens)
        logits = np.zeros((L, L), dtype=np.float32)
        for r0 in range(0, L, s1.tile):
            for c0 in range(r0, L, s1.tile):  # the upper triangle's tiles, as pair_logits
                r1, c1 = min(L, r0 + s1.tile), min(L, c0 + s1.tile)
                with stages("S1 2D trunk"):
                    h = s1.model.trunk(feats, r0, r1, c0, c1, band=(1, None))
                with stages("S1 pair head"):
                    out = head(h)[:, 0]
                with stages("transfer to numpy"):
                    logits[r0:r1, c0:c1] = out[0].float().cpu().numpy()
        del feats, h, out
    release_freed_memory()  # as pair_logits after a tiled sequence
    n = len(seq)
    logits = logits[:n, :n]
    with stages("pseudo-energies"):
        energy = d.pair_energy_list(logits, seq)
        forbid = d.pruned(energy, seq)  # the pairs the model rules out (FoldEnergy.prune)
        energy = d.kept(energy)  # as LearnedFold: a forbidden pair's energy is never read
    with stages("soft constraints"):
        fc = compound(seq, bpp=True, soft=_soft_list(energy))
    if forbid is not None:
        with stages("hard constraints (pruned pairs)"):
            _forbid(fc, forbid)
    del energy, logits
    mfe = None
    if n > UNSCALED_MAX_LENGTH:  # as folding._partition: shorter ones need no MFE pass
        with stages("DP: MFE"):
            mfe = _mfe(fc)[1]
    with stages("DP: partition function"):
        _partition(fc, mfe)
    with stages("DP: centroid"):
        fc.centroid()
    return stages.rows


def profile_rnafold(seq: str) -> list[dict]:
    import RNA

    stages = Stages()
    with stages("DP: MFE"):
        md = RNA.md()
        md.compute_bpp = 1
        fc = RNA.fold_compound(seq, md)
        _, mfe = fc.mfe()
    with stages("DP: partition function"):
        fc.exp_params_rescale(mfe)
        fc.pf()
    with stages("DP: centroid"):
        fc.centroid()
    return stages.rows


def _child(tool: str, length: int, seed: int, threads: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed + length)
    seq = "".join(rng.choice(list("ACGU"), length))
    rows = profile_rnastruct(seq, threads) if tool == "rnastruct" else profile_rnafold(seq)
    print(json.dumps(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "profile"))
    ap.add_argument("--child", nargs=2, metavar=("TOOL", "LENGTH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.seed, args.threads)
        return

    import pandas as pd

    from rnastruct.hardware import cpu_name

    rows = []
    for length in args.lengths:
        for tool in ("rnastruct", "RNAfold"):  # in turn, so both see the same load
            out = subprocess.run([sys.executable, __file__, "--child", tool, str(length), "--seed", str(args.seed),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            for r in json.loads(out.stdout.strip().splitlines()[-1]):
                rows.append({"tool": tool, "length": length, **r})
            print(f"{length} nt {tool}: " + ", ".join(f"{r['stage']} {r['cpu_s']:.3f} s" for r in rows
                                                       if r["tool"] == tool and r["length"] == length), flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(out / "profile.csv", index=False)
    summary = {"cpu": cpu_name(), "threads": args.threads,
               "command": " ".join(["python", "bench/profile_predict.py", *sys.argv[1:]]), "rows": rows}
    (out / "profile.json").write_text(json.dumps(summary, indent=1) + "\n")
    _plot(table, out / "profile.png", summary["cpu"])
    print(f"CPU: {summary['cpu']}, {args.threads} thread(s)")
    wide = table[table.stage != "load"].pivot_table(index="length", columns=["tool", "stage"], values="cpu_s")
    print(wide.round(3).to_string())


def _plot(table, path: Path, cpu: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5), layout="constrained")
    FigureCanvasAgg(fig)
    t_ax, m_ax = fig.subplots(1, 2)
    ours = table[(table.tool == "rnastruct") & (table.stage != "load")]
    theirs = table[table.tool == "RNAfold"]
    for stage, part in ours.groupby("stage", sort=False):
        t_ax.plot(part.length, part.cpu_s, marker="o", label=f"rnastruct: {stage}")
        m_ax.plot(part.length, part.peak_mb, marker="o", label=f"rnastruct: {stage}")
    total = ours.groupby("length").cpu_s.sum()
    t_ax.plot(total.index, total.values, "k-", linewidth=2, label="rnastruct: total")
    rf = theirs.groupby("length").cpu_s.sum()
    t_ax.plot(rf.index, rf.values, "k--", linewidth=2, label="RNAfold (MFE + partition function + centroid)")
    rf_peak = theirs.groupby("length").peak_mb.max()
    m_ax.plot(rf_peak.index, rf_peak.values, "k--", linewidth=2, label="RNAfold")
    for ax, label in ((t_ax, "CPU time (s)"), (m_ax, "peak resident memory during the stage (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (nt)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    t_ax.legend(fontsize="x-small")
    t_ax.set_title("time by stage", fontsize="small")
    m_ax.set_title("memory by stage (whole process)", fontsize="small")
    fig.suptitle(f"rnastruct predict (default) against RNAfold, one sequence at a time; {cpu}", fontsize="small")
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

"""How far can pair probabilities be trusted? A reliability diagram and the expected calibration
error (ECE) of rnastruct's pair probabilities (the default model's energies: Turner 2004 plus the
learned pseudo-energies), RNAfold's and EternaFold's (LinearPartition with EternaFold
parameters, benchmark only: bash bench/peers_setup.sh), on real validation structures.

    python bench/calibration.py [--sets VL0 VL1] [--limit N] [--out bench/results/calibration]

Every pair (i, j) a tool gives probability p >= 0.001 is a prediction "(i, j) is in the
reference with probability p"; pairs are binned by p (10 bins of width 0.1); in each bin the
observed frequency is the share that are reference pairs. ECE = sum over bins of (pairs in bin /
all pairs) * |mean p - observed frequency|. Pairs below 0.001 are left out (they are the vast
majority and almost all false for every tool, which would make every ECE look small).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real"
SETS = {"VL0": DATA / "bpRNA_VL0.csv", "VL1": DATA / "PDB_VL1.csv"}
EDGES = np.linspace(0, 1, 11)
FLOOR = 1e-3

_JOB: dict = {}


def _probs_one(k: int) -> dict:
    from rnastruct.folding import pair_probabilities
    from rnastruct.learned import pair_pseudo_energies, stem_pseudo_energies

    seq, logits, d = _JOB["seqs"][k], _JOB["logits"][k], _JOB["decoding"]
    energy = pair_pseudo_energies(logits, seq, d.weight, d.offset)
    if d.s2_weight:
        energy = energy + stem_pseudo_energies(_JOB["stems"][k], d.s2_weight, d.s2_offset)
    out = {"RNAfold": pair_probabilities(seq)[0]}
    for scale in _JOB["scales"]:
        out[f"rnastruct x{scale:g}"] = pair_probabilities(seq, energy, scale)[0]
    try:
        import linearpartition

        P = np.zeros((len(seq), len(seq)))
        for i, j, p in linearpartition.partition(seq, mode="eterna")["bpp"]:
            P[min(i, j), max(i, j)] = p
        out["EternaFold"] = P
    except ImportError:
        pass
    return {tool: _sparse(P) for tool, P in out.items()}


def _sparse(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j = np.nonzero(np.triu(P, 1) >= FLOOR)
    return i, j, P[i, j]


def reliability(probs: list, refs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-sequence sparse probabilities and reference pair lists -> (pairs per bin, mean p per
    bin, observed frequency per bin, ECE)."""
    p_all, hit_all = [], []
    for (i, j, p), ref in zip(probs, refs):
        keys = {(int(a), int(b)) for a, b in np.asarray(ref).reshape(-1, 2)}
        p_all.append(p)
        hit_all.append(np.array([(int(a), int(b)) in keys for a, b in zip(i, j)], dtype=bool))
    p, hit = np.concatenate(p_all), np.concatenate(hit_all)
    b = np.clip(np.digitize(p, EDGES) - 1, 0, len(EDGES) - 2)
    n = np.bincount(b, minlength=len(EDGES) - 1)
    conf = np.bincount(b, weights=p, minlength=len(EDGES) - 1) / np.maximum(n, 1)
    freq = np.bincount(b, weights=hit, minlength=len(EDGES) - 1) / np.maximum(n, 1)
    ece = float((n / n.sum() * np.abs(conf - freq)).sum())
    return n, conf, freq, ece


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["VL0", "VL1"], choices=list(SETS))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "calibration")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0],
                    help="temperatures (x kT) tried for rnastruct's probabilities; the best on the first set is chosen")
    ap.add_argument("--write", help="write the chosen temperature into this S1 checkpoint (fold_energy.prob_scale)")
    args = ap.parse_args()

    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rnastruct.pipeline import Predictor
    from rnastruct.plots import save_png
    from rnastruct.realdata import clean_sequence, read_real_csv

    torch.set_num_threads(args.workers)
    predictor = Predictor(threads=1)
    predictor.decoding.prob_scale = 1.0  # the fit starts from the uncalibrated ensemble
    args.out.mkdir(parents=True, exist_ok=True)
    summary, lines = {}, []
    fig = Figure(figsize=(5 * len(args.sets), 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    for s, name in enumerate(args.sets):
        records, _ = read_real_csv(SETS[name])
        if args.limit and args.limit < len(records):
            keep = np.sort(np.random.default_rng(0).choice(len(records), args.limit, replace=False))
            records = [records[k] for k in keep]
        seqs = [clean_sequence(r.seq)[0] for r in records]
        logits = [None] * len(seqs)
        for k, lg in predictor.s1.pair_logits(seqs):
            logits[k] = lg.copy()
        stems = None
        if predictor.decoding.s2_weight:  # S2's stem term, as the predictor adds it
            maps = dict(predictor.stem_score_maps(seqs, predictor.decoding.s2_max_boxes))
            stems = [maps[k] for k in range(len(seqs))]
        _JOB.update(seqs=seqs, logits=logits, decoding=predictor.decoding, scales=args.scales, stems=stems)
        with mp.get_context("fork").Pool(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            per_seq = pool.map(_probs_one, range(len(seqs)), chunksize=2)
        ax = fig.add_subplot(1, len(args.sets), s + 1)
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
        summary[name] = {"n": len(seqs)}
        for tool in per_seq[0]:
            n, conf, freq, ece = reliability([d[tool] for d in per_seq], [r.pairs for r in records])
            summary[name][tool] = {"ece": ece, "pairs": int(n.sum()), "bins": n.tolist(),
                                   "mean_p": conf.tolist(), "observed": freq.tolist()}
            lines.append(f"| {name} | {tool} | {ece:.4f} | {int(n.sum())} |")
        if s == 0:  # the temperature is chosen on the first set (the validation split)
            chosen = min(args.scales, key=lambda x: summary[name][f"rnastruct x{x:g}"]["ece"])
        shown = ["RNAfold", "rnastruct x1", f"rnastruct x{chosen:g}"] + [t for t in per_seq[0] if t == "EternaFold"]
        for tool in dict.fromkeys(shown):
            r = summary[name][tool]
            ok = np.asarray(r["bins"]) > 0
            label = tool.replace("rnastruct x1", "rnastruct (uncalibrated)") if tool == "rnastruct x1" else tool
            ax.plot(np.asarray(r["mean_p"])[ok], np.asarray(r["observed"])[ok], "o-",
                    label=f"{label} (ECE {r['ece']:.3f})")
        ax.set_xlabel("predicted pair probability (bin mean)")
        ax.set_ylabel("share that are reference pairs")
        ax.set_title(f"{name}: {len(seqs)} RNAs, pairs with p >= {FLOOR:g}", fontsize="small")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
    summary["chosen_prob_scale"] = chosen
    lines.append(f"\nrnastruct's temperature, chosen on {args.sets[0]}: x{chosen:g} kT")
    if args.write:
        from rnastruct.train import load_checkpoint, save_checkpoint

        state = load_checkpoint(args.write)
        state["fold_energy"]["prob_scale"] = float(chosen)
        save_checkpoint(args.write, state)
        print(f"wrote prob_scale {chosen:g} into {args.write}")
    save_png(fig, args.out / "reliability.png")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = "| set | tool | ECE | pairs |\n|---|---|---|---|\n" + "\n".join(lines) + "\n"
    (args.out / "calibration.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

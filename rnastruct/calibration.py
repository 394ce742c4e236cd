"""Calibrating the reported pair probabilities (``rnastruct calibrate``): a reliability
diagram and the expected calibration error (ECE) of the default model's pair probabilities
(Turner 2004 plus the learned pseudo-energies) at several temperatures, beside RNAfold's, on
real validation structures; the temperature with the lowest ECE on the first set is the one the
predictor reports probabilities at (``FoldEnergy.prob_scale``, written into the S1 checkpoint).

Every pair (i, j) given probability p >= ``FLOOR`` is a prediction "(i, j) is in the reference
with probability p"; pairs are binned by p (10 bins of width 0.1); in each bin the observed
frequency is the share that are reference pairs. ECE = sum over bins of (pairs in bin / all
pairs) * |mean p - observed frequency|. Pairs below ``FLOOR`` are left out (they are the vast
majority and almost all false for every tool, which would make every ECE look small).
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Callable

import numpy as np

EDGES = np.linspace(0, 1, 11)
FLOOR = 1e-3

_JOB: dict = {}  # the work of one set, inherited by the forked workers


def _probs_one(k: int) -> dict:
    from .folding import pair_probabilities

    seq, logits, d = _JOB["seqs"][k], _JOB["logits"][k], _JOB["decoding"]
    energy = d.pseudo_energies(logits, seq, _JOB["stems"][k] if d.s2_weight else None)
    out = {"RNAfold": pair_probabilities(seq)[0]}
    for scale in _JOB["scales"]:
        out[f"rnastruct x{scale:g}"] = pair_probabilities(seq, energy, scale)[0]
    for tool, probs in _JOB["others"].items():
        out[tool] = probs(seq)
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


def calibrate(sets: dict, scales=(1.0, 1.5, 2.0, 2.5, 3.0), limit: int | None = None, workers: int = 2,
              others: dict[str, Callable[[str], np.ndarray]] | None = None) -> tuple[dict, float]:
    """``sets`` ({name: validation CSV}) -> (summary: per set and tool, ECE, pairs, and the
    reliability bins; the temperature chosen on the first set). The default model's
    probabilities are computed at every ``scales`` (x kT) from the uncalibrated ensemble;
    ``others`` adds tools (name -> ``seq -> [L, L]`` probabilities) to compare with."""
    import torch

    from .predictor import load_predictor
    from .predictor.decoders import stem_score_maps
    from .realdata import clean_sequence, read_real_csv

    torch.set_num_threads(workers)
    predictor = load_predictor(threads=1)
    decoding = predictor.decoder.settings.energy
    decoding.prob_scale = 1.0  # the fit starts from the uncalibrated ensemble
    summary, chosen = {}, None
    for s, (name, path) in enumerate(sets.items()):
        records, _ = read_real_csv(path)
        if limit and limit < len(records):
            keep = np.sort(np.random.default_rng(0).choice(len(records), limit, replace=False))
            records = [records[k] for k in keep]
        seqs = [clean_sequence(r.seq)[0] for r in records]
        logits = [None] * len(seqs)
        for k, lg in predictor.s1.pair_logits(seqs):
            logits[k] = lg.copy()
        stems = [None] * len(seqs)
        if decoding.s2_weight:  # S2's stem term, as the predictor adds it
            maps = dict(stem_score_maps(predictor.s1, predictor.decoder.stems, seqs, decoding.s2_max_boxes))
            stems = [maps[k] for k in range(len(seqs))]
        _JOB.update(seqs=seqs, logits=logits, decoding=decoding, scales=list(scales), stems=stems,
                    others=others or {})
        with mp.get_context("fork").Pool(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            per_seq = pool.map(_probs_one, range(len(seqs)), chunksize=2)
        summary[name] = {"n": len(seqs)}
        for tool in per_seq[0]:
            n, conf, freq, ece = reliability([d[tool] for d in per_seq], [r.pairs for r in records])
            summary[name][tool] = {"ece": ece, "pairs": int(n.sum()), "bins": n.tolist(),
                                   "mean_p": conf.tolist(), "observed": freq.tolist()}
        if s == 0:  # the temperature is chosen on the first set (the validation split)
            chosen = min(scales, key=lambda x: summary[name][f"rnastruct x{x:g}"]["ece"])
    summary["chosen_prob_scale"] = chosen
    return summary, chosen


def write_prob_scale(checkpoint: str, scale: float) -> None:
    """Store ``scale`` as the S1 checkpoint's ``fold_energy.prob_scale`` (in place)."""
    from .checkpoints import load_checkpoint, save_checkpoint

    state = load_checkpoint(checkpoint)
    state["fold_energy"]["prob_scale"] = float(scale)
    save_checkpoint(checkpoint, state)


def table(summary: dict) -> str:
    """The summary as a markdown table (set, tool, ECE, pairs) and the chosen temperature."""
    sets = [k for k in summary if k != "chosen_prob_scale"]
    lines = [f"| {name} | {tool} | {r['ece']:.4f} | {r['pairs']} |"
             for name in sets for tool, r in summary[name].items() if tool != "n"]
    lines.append(f"\nrnastruct's temperature, chosen on {sets[0]}: x{summary['chosen_prob_scale']:g} kT")
    return "| set | tool | ECE | pairs |\n|---|---|---|---|\n" + "\n".join(lines) + "\n"

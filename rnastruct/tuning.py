"""Shipping steps that choose settings on validation data and store them in a checkpoint.

``rnastruct tune-assembly`` (``tune_assembly``): the box assembly's box threshold and energy
weight, stored in the S2 checkpoint. ``rnastruct tune-proposals`` (``tune_proposals``): the
proposal thresholds of the proposal-restricted fold (the ``mfe`` set), stored in S1.

``rnastruct tune-prune`` (``tune_prune``): the pseudo-energy above which the fold decoder
forbids a pair outright (``FoldEnergy.prune``), written into the S1 checkpoint.

``rnastruct tune-energy`` (``tune_energy``): the energy settings of a model with a pair head: how
its learned pair scores enter ViennaRNA (weight, offset, decoding), chosen on validation
structures and stored in a copy of the S1 checkpoint (``state["fold_energy"]``, read by the
predictor).

For each (weight, offset) of the grid every validation sequence is folded once under Turner 2004
plus ``-weight * (logit - offset)`` per pair (``learned.FoldEnergy``), and decoded by MFE, MEA
(several gamma), centroid and ThreshKnot (several thresholds) from the same partition function.
Scored as ``rnastruct evaluate`` does by default: mean per-sequence F1, every reference pair
counted (pseudoknots, non-canonical pairs and multiplets included). Weight 0 is RNAfold's own
decoding, the baseline, in the same run. The highest mean F1 is chosen. Only validation sets
(bpRNA VL0, PDB VL1) may be given: never ArchiveII or a test set.

With an S2 checkpoint a second grid follows, at the chosen weight and offset: S2's stem term
(``FoldEnergy.stem_energies``) on the boxes that S1 proposes and the predictor's pruning keeps
(``BoxScorer.stem_scores``), weight 0 being the first grid's choice again. Its choice is stored
too (``s2_weight``, ``s2_offset``), unless only measured.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

DECODINGS = ([("mfe", 1.0, 0.0)] + [("mea", g, 0.0) for g in (0.5, 1.0, 2.0, 4.0)] + [("centroid", 1.0, 0.0)]
             + [("threshknot", 1.0, t) for t in (0.2, 0.3, 0.4)])

_JOB: dict = {}  # the work of a grid search, inherited by its forked workers


def _score_one(k: int) -> list[float]:
    from .evaluate import default_f1
    from .folding import fold_soft_many
    from .learned import FoldEnergy

    seq, ref, logits = _JOB["seqs"][k], _JOB["refs"][k], _JOB["logits"][k]
    base = _JOB.get("base")  # the S2 grid: the chosen (weight, offset) under each (s2_weight, s2_offset)
    f1 = []
    for w, b in _JOB["grid"]:
        if base is None:
            energy = FoldEnergy(weight=w, offset=b).pseudo_energies(logits, seq)
        else:
            energy = FoldEnergy(*base, s2_weight=w, s2_offset=b).pseudo_energies(logits, seq, _JOB["stems"][k])
        f1 += [default_f1(seq, pairs, ref) for pairs, _ in fold_soft_many(seq, energy, DECODINGS)]
    return f1


def _label(decoding: str, gamma: float, threshold: float) -> str:
    return {"mea": f"mea(gamma {gamma})", "threshknot": f"threshknot({threshold})"}.get(decoding, decoding)


def grid_search(seqs: list[str], refs: list[np.ndarray], logits: list, grid: list[tuple[float, float]],
                workers: int = 2, base: tuple[float, float] | None = None, stems: list | None = None) -> list[tuple]:
    """Mean F1 of every (weight, offset) of ``grid`` with every decoding of ``DECODINGS`` ->
    rows ``(weight, offset, decoding, gamma, threshold, mean_f1)``, best first (ties: the
    earlier in grid order, so weight 0, RNAfold's own, wins a tie). With ``base = (weight,
    offset)`` and ``stems`` (``learned.stem_pair_scores`` per sequence) the grid is S2's
    (s2_weight, s2_offset) on top of that S1 term."""
    import torch

    _JOB.update(seqs=seqs, refs=refs, logits=logits, grid=grid, base=base, stems=stems)
    torch.set_num_threads(1)
    with mp.get_context("fork").Pool(workers) as pool:
        f1 = np.array(pool.map(_score_one, range(len(seqs)), chunksize=4))  # [N, grid x decodings]
    mean = f1.mean(axis=0).reshape(len(grid), len(DECODINGS))
    rows = [(w, b, d, g, t, float(f)) for (w, b), row in zip(grid, mean) for (d, g, t), f in zip(DECODINGS, row)]
    return sorted(rows, key=lambda r: -r[5])  # stable: ties keep grid order


def _decoding_order(row: tuple) -> int:
    return DECODINGS.index(tuple(row[2:5]))


def table_lines(rows: list[tuple]) -> list[str]:
    return (["weight\toffset\tdecoding\tgamma\tthreshold\tmean_f1"]
            + [f"{w}\t{b}\t{d}\t{g}\t{t}\t{f:.4f}" for w, b, d, g, t, f in rows])


def best(rows: list[tuple]):
    """The best row of ``grid_search`` -> (``learned.FoldEnergy``, its mean F1)."""
    from .learned import FoldEnergy

    w, b, d, g, t, f = rows[0]
    w, b, g, t, f = (float(x) for x in (w, b, g, t, f))  # checkpoints hold plain Python numbers
    return FoldEnergy(weight=w, offset=b, decoding=d, gamma=g, threshold=t if d == "threshknot" else 0.3), f


def s2_stem_scores(s1: str, s2: str, seqs: list[str], max_boxes: int) -> list[np.ndarray]:
    """Per sequence, S2's raw log-odds of the pairs of the stems S1 proposes and the predictor
    keeps (``BoxScorer.stem_scores``), S2 being the checkpoint at ``s2``."""
    from .predictor import load_predictor
    from .predictor.decoders import stem_score_maps

    t0 = time.time()
    predictor = load_predictor(s1=s1, s2=s2, decoder="boxes", precision="fp32")
    stems = dict(stem_score_maps(predictor.s1, predictor.decoder.scorer, seqs, max_boxes, progress=True))
    print(f"S2 scores of {len(seqs)} sequences in {time.time() - t0:.0f} s", file=sys.stderr)
    return [stems[k] for k in range(len(seqs))]


def load_validation(paths: list[str], limit: int | None, seed: int):
    """Validation CSVs (``realdata.read_real_csv``) -> (names, sequences, reference pairs), a
    seeded random ``limit`` of them."""
    from .errors import InputError
    from .realdata import clean_sequence, read_real_csv

    names, seqs, refs = [], [], []
    for p in paths:
        name = Path(p).name.lower()
        if any(bad in name for bad in ("archiveii", "ts0", "ts1", "test")):
            raise InputError(f"{p}: tuning is on validation sets only (VL0, VL1), never ArchiveII or a test set")
        records, _ = read_real_csv(p)
        for r in records:
            names.append(r.name)
            seqs.append(clean_sequence(r.seq)[0])
            refs.append(r.pairs)
    if limit and limit < len(seqs):
        keep = np.sort(np.random.default_rng(seed).choice(len(seqs), limit, replace=False))
        names, seqs, refs = [names[k] for k in keep], [seqs[k] for k in keep], [refs[k] for k in keep]
    return names, seqs, refs


def tune_energy(s1: str | None, valid: list[str], limit: int | None = None, seed: int = 0,
                weights=(0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0), offsets=(-2.0, 0.0, 2.0), s2: str | None = None,
                s2_weights=(0.05, 0.1, 0.2, 0.4), s2_offsets=(-2.0, 0.0, 2.0), max_boxes: int = 256,
                s2_measure_only: bool = False, workers: int = 2, out: str | None = None,
                table: str | None = None) -> tuple:
    """The whole step (``rnastruct tune-energy``): pair logits of the validation sequences, the
    grid, the choice, and with ``out`` a copy of ``s1`` holding it -> (``FoldEnergy``, mean F1).
    The tables are printed (and written as TSV to ``table``)."""
    import torch

    from .checkpoints import load_checkpoint, save_checkpoint
    from .errors import InputError
    from .s1.infer import S1Predictor

    if out and not s1:
        raise InputError("--out needs --s1")
    names, seqs, refs = load_validation(valid, limit, seed)
    t0 = time.time()
    torch.set_num_threads(workers)
    logits = [None] * len(seqs)
    if s1:
        net = S1Predictor.from_checkpoint(s1)
        for k, lg in net.pair_logits(seqs, progress=True):
            logits[k] = lg.copy()
        print(f"pair logits of {len(seqs)} sequences in {time.time() - t0:.0f} s", file=sys.stderr)

    grid = [(0.0, 0.0)] + [(w, b) for w, b in itertools.product(weights, offsets) if w and s1]
    rows = grid_search(seqs, refs, logits, grid, workers)
    lines = table_lines(rows)
    print(f"{len(seqs)} validation sequences from {', '.join(valid)}; {time.time() - t0:.0f} s")
    print("baseline (weight 0 = RNAfold): " + ", ".join(
        f"{_label(d, g, t)} {f:.4f}" for w, b, d, g, t, f in sorted(rows, key=_decoding_order) if w == 0))
    print("\n".join(lines[:16]))
    if table:
        Path(table).write_text("\n".join(lines) + "\n")
    chosen, f = best(rows)
    print(f"chosen: {chosen} (mean F1 {f:.4f})")
    if s2:
        stems = s2_stem_scores(s1, s2, seqs, max_boxes)
        s2_grid = [(0.0, 0.0)] + list(itertools.product(s2_weights, s2_offsets))
        s2_rows = grid_search(seqs, refs, logits, s2_grid, workers, (chosen.weight, chosen.offset), stems)
        s2_lines = table_lines(s2_rows)
        print("S2 stem term at the chosen weight and offset (weight, offset: S2's):")
        print("\n".join(s2_lines[:10]))
        if table:
            Path(table).with_suffix(".s2.tsv").write_text("\n".join(s2_lines) + "\n")
        s2_choice, s2_f = best(s2_rows)
        with_s2 = dataclasses.replace(s2_choice, weight=chosen.weight, offset=chosen.offset,
                                      s2_weight=s2_choice.weight, s2_offset=s2_choice.offset,
                                      s2_max_boxes=max_boxes)
        print(f"best with S2: {with_s2} (mean F1 {s2_f:.4f})")
        if not s2_measure_only:
            chosen, f = with_s2, s2_f
    if out:
        state = load_checkpoint(s1)
        state["fold_energy"] = dataclasses.asdict(chosen)
        state["fold_energy_tuning"] = {"valid": [Path(p).name for p in valid], "n": len(seqs),
                                       "seed": seed, "mean_f1": f}
        state.pop("optimizer", None), state.pop("scheduler", None), state.pop("history", None)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out, state)
        print(f"wrote {out}")
    return chosen, f


def _score_prune(k: int) -> list[tuple[float, float, float]]:
    """Per threshold of ``_JOB["prunes"]``: (F1, the fold's CPU seconds, the share of formable
    pairs kept)."""
    from dataclasses import replace

    from .evaluate import default_f1
    from .folding import fold_full

    seq, ref, logits, energy = _JOB["seqs"][k], _JOB["refs"][k], _JOB["logits"][k], _JOB["energy"]
    pseudo = energy.pair_energy_list(logits, seq)
    out = []
    for prune in _JOB["prunes"]:
        rule = replace(energy, prune=prune)
        t0 = time.process_time()
        forbid = rule.pruned(pseudo, seq)
        pairs = fold_full(seq, pseudo, [(rule.decoding, rule.gamma, rule.threshold)], forbid=forbid)[0].pairs
        cpu = time.process_time() - t0
        kept = 1.0 - len(forbid) / len(pseudo[1]) if forbid is not None and len(pseudo[1]) else 1.0
        out.append((default_f1(seq, pairs, ref), cpu, kept))
    return out


def tune_prune(s1: str, valid: list[str], prunes=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0), tolerance: float = 0.0,
               limit: int | None = None, seed: int = 0, workers: int = 2, write: str | None = None) -> float | None:
    """The prune threshold (``rnastruct tune-prune``): every sequence of each validation set is
    folded with the checkpoint's ``fold_energy`` (weight, offset, decoding), every pair whose
    pseudo-energy is at least each threshold of ``prunes`` forbidden, and once with none.
    Chosen: the lowest threshold (the most pairs forbidden, the fastest dynamic programme) whose
    mean F1 on every set is at least that set's unpruned one less ``tolerance``; None when no
    threshold qualifies. The table per set (mean F1, the dynamic programme's CPU time, the share
    of formable pairs kept) is printed; with ``write`` the choice is stored in that S1
    checkpoint (``fold_energy.prune``, in place, with ``fold_energy_prune_tuning``) -> the
    threshold."""
    import torch

    from .checkpoints import load_checkpoint, save_checkpoint
    from .config import from_dict
    from .errors import InputError
    from .learned import FoldEnergy
    from .s1.infer import S1Predictor

    state = load_checkpoint(s1)
    if "fold_energy" not in state:
        raise InputError(f"{s1}: has no fold_energy settings (rnastruct tune-energy first)")
    energy = from_dict(FoldEnergy, state["fold_energy"], f"{s1}: fold_energy")
    net = S1Predictor.from_checkpoint(s1)
    prunes = [None] + sorted(prunes, reverse=True)
    f1, report = {}, {}
    for path in valid:
        t0 = time.time()
        _, seqs, refs = load_validation([path], limit, seed)
        torch.set_num_threads(workers)
        logits = [None] * len(seqs)
        for k, lg in net.pair_logits(seqs, progress=True):
            logits[k] = lg.copy()
        _JOB.update(seqs=seqs, refs=refs, logits=logits, energy=energy, prunes=prunes)
        torch.set_num_threads(1)
        with mp.get_context("fork").Pool(workers) as pool:
            res = np.array(pool.map(_score_prune, range(len(seqs)), chunksize=4))  # [N, prunes, (f1, cpu, kept)]
        f1[path] = res[:, :, 0].mean(axis=0)
        cpu, kept = res[:, :, 1].sum(axis=0), res[:, :, 2].mean(axis=0)
        print(f"{len(seqs)} validation sequences from {path}; {energy.decoding} decoding at weight "
              f"{energy.weight}, offset {energy.offset}; {time.time() - t0:.0f} s")
        print("prune (kcal/mol)\tmean F1\tDP CPU s\tformable pairs kept")
        for p, f, c, q in zip(prunes, f1[path], cpu, kept):
            print(f"{'none' if p is None else p}\t{f:.4f}\t{c:.1f}\t{q:.3f}")
        report[Path(path).name] = {"n": len(seqs), "mean_f1": {str(p): float(f) for p, f in zip(prunes, f1[path])}}
    good = [p for k, p in enumerate(prunes)
            if p is not None and all(f[k] >= f[0] - tolerance for f in f1.values())]
    chosen = min(good) if good else None
    print(f"chosen: prune {chosen} (the lowest threshold within {tolerance} of folding over every pair "
          f"on every set)")
    if write:
        state["fold_energy"]["prune"] = chosen
        state["fold_energy_prune_tuning"] = {"valid": report, "seed": seed, "limit": limit, "tolerance": tolerance}
        save_checkpoint(write, state)
        print(f"wrote prune {chosen} into {write}")
    return chosen


def tune_assembly(data: str, s2: str, out: str, thresholds=(0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5),
                  energy_weights=(0.0, 0.3, 0.5, 0.7, 1.0, 1.5)) -> tuple[float, float, float]:
    """Choosing the box assembly's settings (``rnastruct tune-assembly``) for base-pair F1 of the
    exact assembly on the ``valid`` split of an S2 dataset (genes S2 never trained on; F1
    against the true boxes among the proposals, what the assembly can reach), stored in a copy
    of the S2 checkpoint at ``out``:

    * ``box_threshold``: the S2 probability above which a box is worth taking (scores are S2
      log-odds relative to it);
    * ``energy_weight``: how much the ViennaRNA energy of the box's own stack or loop
      (kcal/mol) is subtracted from its score.

    -> (box threshold, energy weight, mean F1). Every grid point's F1 is printed."""
    import torch

    from .boxes import BOX_TYPES
    from .checkpoints import load_checkpoint, save_checkpoint
    from .evaluate import pair_scores
    from .predictor.decoders import unproposed_loop_score
    from .s2.assemble import assemble
    from .s2.data import load_npz
    from .s2.features import FEATURES
    from .s2.loader import batch_of
    from .s2.model import from_checkpoint

    dataset = load_npz(data)
    model, state = from_checkpoint(s2)
    valid = np.flatnonzero(dataset["split"] == "valid")
    off = dataset["offsets"]
    grid = [(g, a) for g in thresholds for a in energy_weights]
    f1 = {key: [] for key in grid}
    energy_col = FEATURES.index("energy")
    for k in valid:
        seq = str(dataset["seqs"][k])
        rows = dataset["boxes"][off[k]:off[k + 1]]
        boxes = {"type": np.array(BOX_TYPES)[rows[:, 0]], "bb_x": rows[:, 1], "bb_y": rows[:, 2],
                 "siz_x": rows[:, 3], "siz_y": rows[:, 4]}
        true = rows[dataset["labels"][off[k]:off[k + 1]] > 0]
        ref = np.array(sorted((x + t, y - t) for c, x, y, s, _ in true.tolist() if c == 0 for t in range(s)),
                       dtype=np.int64).reshape(-1, 2)
        with torch.no_grad():
            b = batch_of(dataset, np.array([k]))
            logits = model(b["features"], b["mask"])[0, :len(rows)].numpy().astype(np.float64)
        energy = dataset["features"][off[k]:off[k + 1], energy_col].astype(np.float64) * 10  # kcal/mol
        for g, a in grid:
            res = assemble(boxes, logits - np.log(g / (1 - g)) - a * energy, seq, unproposed_loop_score(seq, a))
            f1[(g, a)].append(pair_scores(res.pairs, ref, len(seq))["f1"])
    for g, a in grid:
        print(f"box threshold {g:.2f}, energy weight {a:.1f}: mean F1 {np.mean(f1[(g, a)]):.4f}")
    best_g, best_a = max(grid, key=lambda key: np.mean(f1[key]))
    state = load_checkpoint(s2)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "history")}
    state["box_threshold"], state["energy_weight"] = best_g, best_a
    save_checkpoint(out, state)
    best_f1 = float(np.mean(f1[(best_g, best_a)]))
    print(f"chose box threshold {best_g}, energy weight {best_a} (F1 {best_f1:.4f}); wrote {out}")
    return best_g, best_a, best_f1

def tune_proposals(data: str, s1: str, out: str, split: str = "valid", limit: int | None = None,
                   thresholds=(0.02, 0.05, 0.1, 0.2), p_on=(0.01, 0.02, 0.05, 0.1, 0.2)) -> tuple[float, float, float]:
    """Choosing the S1 proposal thresholds of the proposal-restricted fold (``rnastruct
    tune-proposals``) on the ``split`` sequences of a generated dataset (genes S1 never trained
    on), stored in a copy of the S1 checkpoint (``state["fold_proposal"]``).

    ViennaRNA folds over the pairs the selected, pruned proposals put forward
    (``boxes.candidate_pairs``): lower thresholds allow more of the true pairs (higher F1
    against the MFE structure) at the price of more pairs to consider. For every (n_proposal
    threshold, p_on) of the grid it prints mean base-pair F1 against the MFE structure, the share
    of true pairs allowed, allowed pairs per true pair, and chooses the highest F1 (ties: the
    fewer allowed pairs) -> (threshold, p_on, mean F1)."""
    from .boxes import candidate_pairs
    from .checkpoints import load_checkpoint, save_checkpoint
    from .evaluate import pair_scores
    from .folding import fold_within
    from .s1.infer import ProposalConfig, S1Predictor, select
    from .s1.prune import PruneConfig, prune
    from .seqio import pairs_of_table, read_table
    from .structure import canonical_map, parse_dot_bracket

    table, _ = read_table(data)
    rows = np.flatnonzero(np.asarray(table.column("split").to_pylist()) == split)[: limit]
    all_pairs = pairs_of_table(table)
    seqs = [table.column("seq")[int(k)].as_py() for k in rows]
    true_pairs = [all_pairs[int(k)] for k in rows]
    grid = list(itertools.product(thresholds, p_on))
    f1 = {g: np.zeros(len(seqs)) for g in grid}
    allowed_true = {g: np.zeros(len(seqs)) for g in grid}
    n_allowed = {g: np.zeros(len(seqs)) for g in grid}
    canonical_share = {g: np.zeros(len(seqs)) for g in grid}
    net = S1Predictor.from_checkpoint(s1)
    pruning = PruneConfig()
    for k, proposals in net.propose(seqs, progress=True):
        seq, ref = seqs[k], true_pairs[k]
        ref_set = set(map(tuple, ref.tolist()))
        canon = np.triu(canonical_map(seq), 4)  # [L, L] pairs ViennaRNA could form
        for g in grid:
            boxes = prune(select(proposals, ProposalConfig(threshold=g[0], p_on=g[1])), seq, pruning)
            allowed = candidate_pairs(boxes["type"], boxes["bb_x"], boxes["bb_y"], boxes["siz_x"],
                                      boxes["siz_y"], len(seq))
            pairs = parse_dot_bracket(fold_within(seq, allowed)[0])
            f1[g][k] = pair_scores(pairs, ref, len(seq))["f1"]
            hit = sum(tuple(p) in ref_set for p in allowed.tolist())
            allowed_true[g][k] = hit / len(ref) if len(ref) else 1.0
            n_allowed[g][k] = len(allowed) / max(len(ref), 1)
            canonical_share[g][k] = canon[allowed[:, 0], allowed[:, 1]].sum() / max(canon.sum(), 1)
    print(f"{len(seqs)} {split} sequences of {data}")
    print("threshold  p_on   mean F1  true pairs allowed  every true pair  allowed per true pair"
          "  share of canonical pairs allowed")
    for g in grid:
        print(f"{g[0]:9.2f}  {g[1]:4.2f}  {f1[g].mean():8.4f}  {allowed_true[g].mean():18.4f}  "
              f"{(allowed_true[g] == 1).mean():15.3f}  {n_allowed[g].mean():21.1f}"
              f"  {canonical_share[g].mean():32.3f}")
    best = max(grid, key=lambda g: (round(f1[g].mean(), 4), -n_allowed[g].mean()))
    state = load_checkpoint(s1)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    state["fold_proposal"] = {"threshold": best[0], "p_on": best[1], "hloop_factor": 0.5, "method": "union"}
    save_checkpoint(out, state)
    print(f"chose threshold {best[0]}, p_on {best[1]} (F1 {f1[best].mean():.4f}); wrote {out}")
    return best[0], best[1], float(f1[best].mean())


"""S1 losses and per-example metrics.

``S1Criterion`` holds a ``weight_dict`` (the original: every one of the 17 losses weighted 1)
and computes each named loss through a small dispatch on the output's kind. Masks (SPEC
section 3, the original "hard mask"): on/off losses count the upper-triangle pixels within 10
pixels of any box; location and size losses count the pixels inside a box of that type; both
are ANDed with the padding mask by the data collator, so padding never counts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .targets import BOX_TYPES, OUTPUTS


def _mask_of(name: str) -> str:
    return "on" if name.endswith("_on") else name.split("_", 1)[0]


class S1Criterion(nn.Module):
    """``forward(outputs, targets, masks) -> {name: loss, ..., "loss": weighted sum}``.

    outputs: the model's dict (``*_on`` and scalars ``[B, L, L]`` logits/values, class outputs
    ``[B, L, L, C]`` logits); targets: ``*_on`` float ``[B, L, L]``, class ``[B, L, L]`` int64,
    scalar float ``[B, L, L]``; masks: ``"on"`` and one per box type, bool ``[B, L, L]``.
    Each loss is the mean over the masked pixels of the batch (0 when a batch has none).

    ``pair_prob_weight > 0`` adds the auxiliary loss ``"pair_prob"``: binary cross-entropy of
    the output ``"pair_prob"`` against ViennaRNA's base-pair probabilities (target
    ``"pair_prob"``, mask ``"pair"``: the upper triangle inside each sequence), times the weight.

    ``ensemble`` (an ``EnsembleLoss``) adds ``"ensemble"``, ``-log P`` of the reference
    structure (targets ``"seqs"`` and ``"pairs"``: lists) in ViennaRNA's ensemble with the
    output ``"pair_prob"`` as pseudo-energies, times ``ensemble_weight``, and its regulariser
    ``"energy_reg"``.

    ``distill_weight > 0`` adds ``"distill"``: the squared difference between the output
    ``"pair_prob"`` and a teacher network's logits (target ``"teacher"``) over the pairs the
    decoder can form (mask ``"distill"``), times the weight; see ``distill_loss``.
    """

    def __init__(self, weight_dict: dict[str, float] | None = None, pair_prob_weight: float = 0.0,
                 ensemble: nn.Module | None = None, ensemble_weight: float = 1.0,
                 distill_weight: float = 0.0, distill_floor: float = -8.0):
        super().__init__()
        self.weight_dict = {name: 1.0 for name in OUTPUTS}
        for name, w in (weight_dict or {}).items():
            if name not in OUTPUTS:
                raise ValueError(f"unknown loss {name!r} in weight_dict; outputs: {', '.join(OUTPUTS)}")
            self.weight_dict[name] = float(w)
        if pair_prob_weight:
            self.weight_dict["pair_prob"] = float(pair_prob_weight)
        self.ensemble = ensemble
        if ensemble is not None:
            self.weight_dict["ensemble"] = float(ensemble_weight)
            self.weight_dict["energy_reg"] = 1.0  # EnsembleLoss scales it by its own reg
        if distill_weight:
            self.weight_dict["distill"] = float(distill_weight)
        self.distill_floor = distill_floor

    def forward(self, outputs, targets, masks) -> dict[str, torch.Tensor]:
        losses = {}
        for name, (kind, _) in OUTPUTS.items():
            m = masks[_mask_of(name)]  # [B, L, L]
            pred, tgt = outputs[name][m].float(), targets[name][m]  # [M] or [M, C]
            if pred.shape[0] == 0:
                losses[name] = outputs[name].sum() * 0.0  # keeps the graph; no pixel to learn from
            elif kind == "on":
                losses[name] = F.binary_cross_entropy_with_logits(pred, tgt)
            elif kind == "class":
                losses[name] = F.cross_entropy(pred, tgt)
            else:
                losses[name] = F.l1_loss(pred, tgt)
        if "pair_prob" in self.weight_dict:
            m = masks["pair"]  # [B, L, L]
            losses["pair_prob"] = F.binary_cross_entropy_with_logits(
                outputs["pair_prob"][m].float(), targets["pair_prob"][m])
        if self.ensemble is not None:
            losses.update(self.ensemble(outputs["pair_prob"], targets["seqs"], targets["pairs"]))
        if "distill" in self.weight_dict:
            m = masks["distill"]  # [B, L, L]
            losses["distill"] = distill_loss(outputs["pair_prob"][m].float(), targets["teacher"][m],
                                             self.distill_floor)
        losses["loss"] = sum(w * losses[k] for k, w in self.weight_dict.items())
        return losses


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, floor: float) -> torch.Tensor:
    """Mean over pixels ``[M]`` of ``(student - teacher)^2`` where the teacher's logit is above
    ``floor``, and of ``relu(student - floor)^2`` where it is not: below the floor a pair is
    forbidden whatever its exact logit, so the student need only keep it there too. 0 for no
    pixel (keeping the graph)."""
    if student.numel() == 0:
        return student.sum() * 0.0
    err = torch.where(teacher > floor, student - teacher, F.relu(student - floor))  # [M]
    return err.square().mean()


# ---------------------------------------------------------------------------------------------
# metrics: per example, then averaged (the original's convention); the column names are the
# original metrics.csv's.


def metric_names() -> list[str]:
    names = []
    for t in BOX_TYPES:
        for name, (kind, _) in OUTPUTS.items():
            if not name.startswith(t + "_"):
                continue
            if kind == "on":
                names += [f"{name}.auroc", f"{name}.auprc"]
            elif kind == "class":
                names.append(f"{name}.accuracy")
            else:
                names.append(f"{name}.diff")
    return names


def auroc(scores, labels) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); nan without both classes.
    Arrays or tensors; computed where the tensors live (on the GPU while training there)."""
    s = torch.as_tensor(scores).double()
    pos = torch.as_tensor(labels, device=s.device).bool()
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    s_sorted, order = torch.sort(s, stable=True)
    # average ranks over ties
    _, counts = torch.unique_consecutive(s_sorted, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    ranks = torch.repeat_interleave(first + (counts - 1) / 2.0 + 1.0, counts)  # in sorted order
    return float((ranks[pos[order]].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(scores, labels) -> float:
    """Average precision (the step-wise area under the precision-recall curve, as scikit-learn's
    ``average_precision_score``); nan without positives. Arrays or tensors."""
    s = torch.as_tensor(scores).double()
    pos = torch.as_tensor(labels, device=s.device).bool()
    n_pos = int(pos.sum())
    if n_pos == 0:
        return float("nan")
    s_sorted, order = torch.sort(s, descending=True, stable=True)
    y = pos[order]
    # one threshold per distinct score: take the last index of each tie group
    last = torch.cat([torch.nonzero(torch.diff(s_sorted) != 0).flatten(),
                      torch.tensor([len(s) - 1], device=s.device)])
    tp = torch.cumsum(y, 0)[last].double()
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(torch.sum(torch.diff(recall, prepend=recall.new_zeros(1)) * precision))


@torch.no_grad()
def example_metrics(outputs, targets, masks) -> list[dict[str, float]]:
    """Per example: on/off auROC and auPRC over the on-mask, argmax accuracy of class outputs
    and mean absolute error (``diff``) of scalars over the in-box pixels. nan where an example
    has no pixel for that metric (averaged away later). Accuracies and diffs are computed for
    the whole batch at once; only the ranking metrics loop over examples."""
    cols: dict[str, np.ndarray] = {}
    for name, (kind, _) in OUTPUTS.items():
        m = masks[_mask_of(name)]  # [B, L, L]
        n = m.sum(dim=(1, 2)).float()  # [B]
        pred, tgt = outputs[name].detach().float(), targets[name]
        if kind == "class":
            hit = (pred.argmax(-1) == tgt) & m  # [B, L, L]
            cols[f"{name}.accuracy"] = (hit.sum(dim=(1, 2)) / n).cpu().numpy()  # nan when n = 0
        elif kind == "scalar":
            err = ((pred - tgt).abs() * m).sum(dim=(1, 2))  # [B]
            cols[f"{name}.diff"] = (err / n).cpu().numpy()
        else:
            prob = torch.sigmoid(pred)  # [B, L, L], where the model runs
            cols[f"{name}.auroc"] = np.array([auroc(p[k], y[k]) for p, y, k in zip(prob, tgt, m)])
            cols[f"{name}.auprc"] = np.array([auprc(p[k], y[k]) for p, y, k in zip(prob, tgt, m)])
    batch = len(next(iter(cols.values())))
    return [{k: float(v[b]) for k, v in cols.items()} for b in range(batch)]


def average_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the examples where it is defined."""
    result = {}
    for name in metric_names():
        vals = np.array([r[name] for r in rows if name in r], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        result[name] = float(vals.mean()) if len(vals) else float("nan")
    return result


def selection_score(metrics: dict[str, float]) -> float:
    """The original's rule for the best epoch: the sum of the validation metrics with each
    ``diff`` negated."""
    return float(sum(-v if k.endswith(".diff") else v for k, v in metrics.items()
                     if k in metric_names() and not np.isnan(v)))

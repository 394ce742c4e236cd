"""S1's pair head trained through the partition function it feeds (SPEC section 9.1).

The fold decoder adds ``e_ij = -w * (logit_ij - b)`` kcal/mol to every canonical pair ``i < j``
on top of Turner 2004. ``EnsembleLoss`` makes that the model being trained: its loss is the
negative log-probability of the reference structure in the Boltzmann ensemble of those energies
(CONTRAfold/EternaFold's conditional likelihood, with a neural correction on fixed physics),

    -log P(y) = (E(y) - G) / kT,    d(-log P) / d e_ij = (y_ij - p_ij) / kT,

computed exactly by ViennaRNA (``folding.ensemble_nll``), one partition function per example,
in worker processes. Autograd carries the gradient from ``e`` into the scale ``w``, the offset
``b`` (both learned, not grid-searched), the pair head and the trunk. A thermodynamic
regulariser (MXfold2's precedent) adds ``reg`` times the mean squared pseudo-energy over the
canonical pairs, which keeps the term near zero where the data do not pull it away.
"""

from __future__ import annotations

import math
import multiprocessing

import numpy as np
import torch
from torch import nn

from ..learned import pair_term
from ..structure import canonical_map


def _nll_job(args):
    from ..folding import ensemble_nll

    seq, energy, pairs = args
    return ensemble_nll(seq, energy, pairs)


class EnsembleLoss(nn.Module):
    """``forward(logits [B, L, L], seqs, pairs) -> {"ensemble": ..., "energy_reg": ...}``.

    ``ensemble``: the batch mean of ``-log P(y) / L`` (per nucleotide, so that long RNAs do not
    swamp short ones); ``energy_reg``: the mean of ``e_ij ** 2`` over canonical pairs, times
    ``reg``. ``weight`` and ``offset`` start the learned scale (kcal/mol per logit unit, kept
    positive through its log) and offset; ``workers`` > 1 computes the partition functions in
    that many processes."""

    def __init__(self, weight: float = 0.4, offset: float = -2.0, reg: float = 0.0, workers: int = 1):
        super().__init__()
        if not (weight > 0 and reg >= 0 and workers >= 1):
            raise ValueError(f"weight must be > 0, reg >= 0 and workers >= 1; got {weight}, {reg}, {workers}")
        self.log_weight = nn.Parameter(torch.tensor(math.log(weight)))
        self.offset = nn.Parameter(torch.tensor(float(offset)))
        self.reg = reg
        self.workers = workers
        self._pool = None

    @property
    def weight(self) -> float:
        return float(self.log_weight.detach().exp())

    def energies(self, logits: torch.Tensor, canonical: torch.Tensor) -> torch.Tensor:
        """Pair logits ``[B, L, L]`` and the canonical pairs ``i < j`` (bool ``[B, L, L]``) ->
        pseudo-energies ``[B, L, L]`` (kcal/mol; 0 where no pair can form)."""
        return torch.where(canonical, pair_term(logits.float(), self.log_weight.exp(), self.offset), 0.0)

    def _map(self, jobs):
        if self.workers == 1 or len(jobs) == 1:
            return [_nll_job(j) for j in jobs]
        if self._pool is None:
            # forkserver: the workers import ViennaRNA and numpy only, never a forked torch
            self._pool = multiprocessing.get_context("forkserver").Pool(self.workers)
        return self._pool.map(_nll_job, jobs)

    def forward(self, logits: torch.Tensor, seqs: list[str], pairs: list[np.ndarray]) -> dict[str, torch.Tensor]:
        B, L, _ = logits.shape
        canonical = np.zeros((B, L, L), dtype=bool)
        for b, s in enumerate(seqs):
            canonical[b, :len(s), :len(s)] = np.triu(canonical_map(s), 1)
        canonical = torch.from_numpy(canonical).to(logits.device)  # [B, L, L]
        e = self.energies(logits, canonical)  # [B, L, L]
        e_np = e.detach().double().cpu().numpy()
        results = self._map([(s, e_np[b, :len(s), :len(s)], np.asarray(p, np.int64).reshape(-1, 2))
                             for b, (s, p) in enumerate(zip(seqs, pairs))])
        nll = torch.zeros((), device=logits.device)
        for b, (s, (value, grad)) in enumerate(zip(seqs, results)):
            n = len(s)
            g = torch.from_numpy(grad / n).to(e)  # [n, n] d(nll / n) / d e
            surrogate = (e[b, :n, :n] * g).sum()
            # the value is ViennaRNA's; the gradient flows through the surrogate
            nll = nll + surrogate + (value / n - surrogate.detach())
        losses = {"ensemble": nll / B}
        n_canonical = canonical.sum().clamp(min=1)
        losses["energy_reg"] = self.reg * (e.square() * canonical).sum() / n_canonical
        return losses

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

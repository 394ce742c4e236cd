"""S2's criterion and metrics: masked binary cross-entropy over the boxes, auROC and auPRC."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


class S2Criterion(torch.nn.Module):
    """Masked binary cross-entropy over the boxes (padding boxes count for nothing)."""

    def forward(self, logits, labels, mask) -> dict[str, torch.Tensor]:
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")  # [B, N]
        return {"loss": torch.where(mask, loss, 0.0).sum() / mask.sum().clamp(min=1)}


def box_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from ..s1.criterion import auprc, auroc

    both = 0 < labels.sum() < len(labels)
    return {"auroc": auroc(probs, labels) if both else float("nan"),
            "auprc": auprc(probs, labels) if both else float("nan"),
            "positives": int(labels.sum()), "boxes": len(labels)}

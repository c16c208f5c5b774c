"""GCE baseline: generalised cross-entropy (Zhang & Sabuncu, NeurIPS 2018), as in GSD-Net's reference loss code.

Per pixel ``(1 - p_y^q) / q`` with ``p = clamp(softmax(logits), 1e-7, 1)`` (the clamp is the reference's,
utils/loss_functions.py ``GCELoss``), averaged over all pixels. As q -> 0 it tends to cross-entropy; q = 1 gives
the mean absolute error ``1 - p_y``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from methods.base import Batch, LossOutput, Method, StepContext
from methods.options import check_range
from methods.registry import register_method

PROBABILITY_FLOOR = 1e-7
"""Lower clamp of the softmax probabilities (GSD-Net reference, utils/loss_functions.py)."""


def generalized_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, q: float) -> torch.Tensor:
    """Per-pixel GCE ``(1 - p_y^q) / q`` of ``(B, C, H, W)`` logits, shape ``(B, H, W)``."""
    probs = logits.softmax(dim=1).clamp(min=PROBABILITY_FLOOR, max=1.0)
    label_prob = probs.gather(1, labels.unsqueeze(1)).squeeze(1)
    return (1.0 - label_prob.pow(q)) / q


@register_method("gce")
class GeneralizedCrossEntropyMethod(Method):
    """GCE, one network. Option ``q`` (default 0.7: Zhang & Sabuncu 2018 and the GSD-Net reference), in (0, 1]."""

    def __init__(self, q: float = 0.7, **options: Any) -> None:
        super().__init__(**options)
        self.q = check_range("q", q, 0.0, 1.0, low_open=True)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Mean GCE over all pixels of the batch."""
        (net_logits,) = logits
        loss = generalized_cross_entropy(net_logits, batch.labels, self.q).mean()
        return LossOutput(loss=loss, logs={"gce": loss.detach()})

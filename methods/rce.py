"""RCE and SCE baselines: reverse / symmetric cross-entropy (Wang et al., ICCV 2019).

Both follow GSD-Net's reference loss code (utils/loss_functions.py ``RCELoss`` and ``SCELoss``):
``p = clamp(softmax(logits), 1e-7, 1)``, the one-hot label clamped to ``[1e-4, 1]`` so that ``log 0`` becomes
``ln 1e-4 ≈ -9.21``, per pixel ``rce = -Σ_c p_c · log(clamp(onehot_c, 1e-4))``; with two classes this is
``-ln(1e-4) · p_{other class}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from methods.base import Batch, LossOutput, Method, StepContext
from methods.registry import register_method
from methods.selection import pixel_cross_entropy

PROBABILITY_FLOOR = 1e-7
"""Lower clamp of the softmax probabilities (GSD-Net reference, utils/loss_functions.py)."""
ONE_HOT_FLOOR = 1e-4
"""Lower clamp of the one-hot label before its log (Wang et al. 2019 code and the GSD-Net reference)."""


def reverse_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel RCE ``-Σ_c p_c log(clamp(onehot_c, 1e-4))`` of ``(B, C, H, W)`` (or ``(B, C, D, H, W)``) logits,
    shape ``(B, H, W)`` (``(B, D, H, W)``)."""
    probs = logits.softmax(dim=1).clamp(min=PROBABILITY_FLOOR, max=1.0)
    one_hot = F.one_hot(labels, num_classes=logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    return -(probs * one_hot.clamp(min=ONE_HOT_FLOOR, max=1.0).log()).sum(dim=1)


@register_method("rce")
class ReverseCrossEntropyMethod(Method):
    """RCE alone, one network: ``scale · mean(rce)``. Option ``scale`` (default 1.0, the reference's ``RCELoss``)."""

    def __init__(self, scale: float = 1.0, **options: Any) -> None:
        super().__init__(**options)
        self.scale = float(scale)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Scaled mean RCE over all pixels of the batch."""
        (net_logits,) = logits
        loss = self.scale * reverse_cross_entropy(net_logits, batch.labels).mean()
        return LossOutput(loss=loss, logs={"rce": loss.detach()})


@register_method("sce")
class SymmetricCrossEntropyMethod(Method):
    """SCE, one network: ``alpha · mean(ce) + beta · mean(rce)``.

    Options ``alpha`` and ``beta`` (default 1.0 each: the GSD-Net reference's ``SCELoss(alpha=1., beta=1.)``;
    Wang et al. tune them per data set).
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, **options: Any) -> None:
        super().__init__(**options)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Weighted sum of the mean CE and the mean RCE over all pixels of the batch."""
        (net_logits,) = logits
        ce = pixel_cross_entropy(net_logits, batch.labels).mean()
        rce = reverse_cross_entropy(net_logits, batch.labels).mean()
        loss = self.alpha * ce + self.beta * rce
        return LossOutput(loss=loss, logs={"ce": ce.detach(), "rce": rce.detach()})

"""JoCoR baseline (Wei et al., CVPR 2020): joint training with co-regularisation, spec Eq. 1-6.

Two networks see the same images. Per pixel (Eq. 4) ``l_i = ce(p1, y)_i + ce(p2, y)_i + g · skl(p1, p2)_i``;
the ``R(t)·N`` pixels of the whole batch with the smallest ``l_i`` form S(t) (Eq. 5), and the loss is the mean of
``l_i`` over S(t) (Eq. 6). One loss updates both networks.

Weightings (option ``weighting``):
- ``reference`` (default): Eq. 4 as in GSD-Net's reference code, ``g`` = option ``co_weight``, default 0.5 (the
  spec's value for the 2D simulated sets; 0.1 for LIDC). The reference writes g as ``1 - co_lambda``.
- ``authors``: JoCoR's own ``(1 - λ)(ce1 + ce2) + λ (KL(p1||p2) + KL(p2||p1))`` (hongxin001/JoCoR,
  algorithm/loss.py ``loss_jocor``), λ = option ``co_lambda``, default 0.1 (their main.py default; their
  example.sh uses 0.95 on MNIST).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from methods.base import Batch, LossOutput, StepContext
from methods.co_training import SmallLossMethod, clean_share_log
from methods.options import check_choice, check_range
from methods.registry import register_method
from methods.selection import (
    co_regularised_pixel_loss,
    pixel_cross_entropy,
    selected_mean,
    small_loss_mask,
    symmetric_kl,
)

WEIGHTINGS = ("reference", "authors")


@register_method("jocor")
class JoCoRMethod(SmallLossMethod):
    """JoCoR with two networks; small-loss selection over the whole batch with the spec's shared schedule.

    Options: ``weighting`` (``reference`` | ``authors``), ``co_weight`` (g, 0.5), ``co_lambda`` (λ, 0.1; used by
    ``authors`` only), ``ramp_epochs`` (20: R(t) reaches 1 - tau at epoch 19, spec Eq. 5; JoCoR's code ramps
    over ``num_gradual`` = 10 epochs), ``inference`` (``fused``; JoCoR's code scores ``net1``).
    """

    def __init__(self, *, weighting: str = "reference", co_weight: float = 0.5, co_lambda: float = 0.1,
                 **options: Any) -> None:
        super().__init__(**options)
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.co_weight = check_range("co_weight", co_weight, 0.0)
        self.co_lambda = check_range("co_lambda", co_lambda, 0.0, 1.0)

    def pixel_loss(self, logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``l_i`` of the configured weighting, shape ``(B, H, W)``."""
        if self.weighting == "reference":
            return co_regularised_pixel_loss(logits1, logits2, labels, self.co_weight)
        supervised = pixel_cross_entropy(logits1, labels) + pixel_cross_entropy(logits2, labels)
        return (1.0 - self.co_lambda) * supervised + self.co_lambda * symmetric_kl(logits1, logits2)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Eq. 6: mean of ``l_i`` over the batch's small-loss pixels S(t)."""
        logits1, logits2 = logits
        pixel_loss = self.pixel_loss(logits1, logits2, batch.labels)
        keep_ratio = self.keep_ratio(ctx)
        selected = small_loss_mask(pixel_loss, keep_ratio)
        loss = selected_mean(pixel_loss, selected)
        logs = {"jocor": loss.detach(), "keep_ratio": keep_ratio, **clean_share_log(selected, batch)}
        return LossOutput(loss=loss, logs=logs)

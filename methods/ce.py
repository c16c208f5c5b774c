"""CE baseline (GSD-Net Table 4): plain per-pixel cross-entropy on the noisy labels (spec Eq. 1), one network."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from methods.base import Batch, LossOutput, Method, StepContext
from methods.registry import register_method
from methods.selection import pixel_cross_entropy


@register_method("ce")
class CrossEntropyMethod(Method):
    """Per-pixel cross-entropy ``-log p_{i, y_i}`` averaged over all B·H·W pixels (no options)."""

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Mean of Eq. 1 over the batch."""
        (net_logits,) = logits
        loss = pixel_cross_entropy(net_logits, batch.labels).mean()
        return LossOutput(loss=loss, logs={"ce": loss.detach()})

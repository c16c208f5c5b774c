"""Bases of the two-network methods: the inference choice, and the small-loss schedule shared by Co-Teaching,
JoCoR, GSD-Net and the methods that select pixels.

- :class:`CoTrainingMethod`: two networks; option ``inference``: ``fused`` (default, argmax of the summed logits,
  GSD-Net's rule) or ``net1`` (network 1 alone, as the original code of Co-Teaching, JoCoR and SP-Guide scores).
  Table captions name the choice.
- :class:`SmallLossMethod`: adds ``ramp_epochs`` and Eq. 5's keep ratio ``R(t) = 1 - tau · min(t / (ramp - 1), 1)``,
  and the diagnostic share of selected pixels whose noisy label is right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from methods.base import Batch, Method, StepContext, class_argmax
from methods.options import check_at_least, check_choice
from methods.selection import retention

INFERENCE_RULES = ("fused", "net1")


class CoTrainingMethod(Method):
    """Two networks; ``inference`` is ``fused`` (summed logits) or ``net1``."""

    num_networks: ClassVar[int] = 2

    def __init__(self, *, inference: str = "fused", **options: Any) -> None:
        super().__init__(**options)
        self.inference = check_choice("inference", inference, INFERENCE_RULES)

    def predict(self, networks: Sequence[nn.Module], images: torch.Tensor) -> torch.Tensor:
        """Argmax of the summed logits (``fused``) or of network 1's (``net1``)."""
        if self.inference == "net1":
            return class_argmax(networks[0](images))
        return super().predict(networks, images)


class SmallLossMethod(CoTrainingMethod):
    """Two networks trained on small-loss pixels with Eq. 5's ramped keep ratio; option ``ramp_epochs`` (20)."""

    def __init__(self, *, ramp_epochs: int = 20, **options: Any) -> None:
        super().__init__(**options)
        self.ramp_epochs = check_at_least("ramp_epochs", ramp_epochs, 1)

    def keep_ratio(self, ctx: StepContext) -> float:
        """Eq. 5's ``R(t)`` at the step's epoch: the share of pixels kept."""
        return retention(ctx.epoch, ctx.tau, self.ramp_epochs)


def selected_share(part: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """``|part| / max(|selected|, 1)`` of two bool masks as a float64 tensor on their device (no host read)."""
    return part.sum().double() / selected.sum().clamp(min=1).double()


def clean_share_log(selected: torch.Tensor, batch: Batch,
                    key: str = "selected_clean_share") -> dict[str, torch.Tensor]:
    """Diagnostic log ``{key: share of selected pixels whose noisy label equals the clean label}``.

    Empty without clean labels. Only logged, never used in a loss.
    """
    if batch.clean_labels is None:
        return {}
    agrees = batch.labels == batch.clean_labels
    return {key: selected_share(agrees & selected, selected)}

"""Co-Teaching baseline (Han et al., NeurIPS 2018): two networks teach each other on small-loss pixels.

Each network's per-pixel cross-entropy (Eq. 1) ranks the pixels of the whole batch; each network keeps its
``R(t)·N`` smallest (Eq. 5 selection, ``methods.selection.small_loss_mask``), and network 1 is updated on the
pixels network 2 kept, network 2 on those network 1 kept: ``L = mean_{S2} ce1 + mean_{S1} ce2``, each mean
normalised by the number kept. (The authors' loss.py divides the already averaged CE by ``num_remember`` once
more; the paper's and this suite's normalisation is the plain mean.)

Schedule: ``R(t) = 1 - tau · min(t / (ramp_epochs - 1), 1)``. The authors ramp the forget rate linearly over
Tk = 10 epochs (their ``num_gradual``, exponent c = 1); the default here is the spec's 20 epochs, shared by all
small-loss methods, and ``ramp_epochs: 10`` gives the authors' schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from methods.base import Batch, LossOutput, StepContext
from methods.co_training import SmallLossMethod, clean_share_log, selected_share
from methods.registry import register_method
from methods.selection import pixel_cross_entropy, small_loss_mask


@register_method("coteaching")
class CoTeachingMethod(SmallLossMethod):
    """Co-Teaching with two networks and exchanged small-loss selections. Options ``ramp_epochs`` (20),
    ``inference`` (``fused``; the authors score ``net1``)."""

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Sum of each network's mean CE over the pixels its peer selected as small-loss."""
        logits1, logits2 = logits
        ce1 = pixel_cross_entropy(logits1, batch.labels)
        ce2 = pixel_cross_entropy(logits2, batch.labels)
        keep_ratio = self.keep_ratio(ctx)
        selected_by_1 = small_loss_mask(ce1, keep_ratio)
        selected_by_2 = small_loss_mask(ce2, keep_ratio)
        loss1 = ce1[selected_by_2].mean()
        loss2 = ce2[selected_by_1].mean()
        overlap = selected_share(selected_by_1 & selected_by_2, selected_by_1)
        logs = {
            "loss_1": loss1.detach(),
            "loss_2": loss2.detach(),
            "keep_ratio": keep_ratio,
            "selection_overlap": overlap,
            **clean_share_log(selected_by_1, batch, "selected_clean_share_1"),
            **clean_share_log(selected_by_2, batch, "selected_clean_share_2"),
        }
        return LossOutput(loss=loss1 + loss2, logs=logs)

"""GSD-Net (spec ``gsd-net.md``, Eq. 4-20) as one method, ``"gsdnet"``, with every component switchable.

Loss (Eq. 19): before ``kt_start_epoch`` only L_gda (Eq. 10; L_jocor of Eq. 6 when ``gda`` is off); from
``kt_start_epoch`` on, label refinement (Eq. 11-14) and knowledge transfer add ``L_kt + L_con`` (Eq. 15-18).

Table 7 (Kvasir ablation; columns L_jocor, GDA, LR, SGLR, KT) as configurations:

=====  ===================================================================  ===================
row    config                                                               modules
=====  ===================================================================  ===================
1      method ``jocor`` (the JoCoR baseline, Eq. 6)                         L_jocor
2      ``gsdnet`` {refinement: none, knowledge_transfer: false}             + GDA
3      ``gsdnet`` {refinement: pixel, knowledge_transfer: false}            + GDA + LR
4      ``gsdnet`` {refinement: superpixel, knowledge_transfer: false}       + GDA + SGLR
5      ``gsdnet`` {refinement: pixel, knowledge_transfer: true}             + GDA + LR + KT
6      ``gsdnet`` {} (all defaults)                                         + GDA + SGLR + KT
=====  ===================================================================  ===================

Choices the paper leaves open, made here and named:
- Refinement without KT (rows 3-4): Eq. 17-18 are applied to the un-mixed batch with the refined labels and the
  GDA weights (region mask all ones, i.e. no mixing), reusing the first forward pass, since mixing with M = 1
  is the identity. KT without refinement mixes the noisy labels.
- With ``gda`` off, the weights are all one, both in L_jocor and in Eq. 17-18.
- ``logs["search_loss"]`` (Eq. 20) uses the small-loss set at the final retention ``1 - tau`` at every epoch,
  as the authors' search script (``code_for_searching_drop_out_rate.py``) does, not the ramped R(t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from methods.base import Batch, LossOutput, StepContext, TrainingSetView
from methods.co_training import SmallLossMethod
from methods.gsdnet_parts import (
    consistency_loss,
    distance_weights,
    fuse_probabilities,
    gda_loss,
    gda_weight_cap,
    knowledge_transfer_loss,
    knowledge_transfer_mix,
    refine_labels,
    region_masks,
    search_loss,
)
from methods.options import check_at_least, check_choice, check_range
from methods.registry import register_method
from methods.selection import co_regularised_pixel_loss, small_loss_mask, supervised_pixel_loss

_REFINEMENTS = ("superpixel", "pixel", "none")
_SUPERPIXEL_SOURCES = ("slic", "distance_bands")
_REGION_RULES = ("threshold", "random")
_KT_CROSS_ENTROPIES = ("paper", "double_softmax")
#: Eq. 9's w_max at a 256-pixel side (paper Sec. 4.2: 10 at 256x256, 5 at 128x128).
W_MAX_AT_256 = 10.0


@register_method("gsdnet")
class GSDNet(SmallLossMethod):
    """GSD-Net: JoCoR small-loss co-training + GDA weights + (superpixel) label refinement + knowledge transfer.

    Options (defaults and their source):
        co_weight: g of Eq. 4, 0.5 (spec: 2D simulated sets; 0.1 for LIDC).
        gda: use the GDA weights of Eq. 9-10 (paper); False gives plain L_jocor (Eq. 6).
        w_max: Eq. 9's w_max, 10 for 256x256 inputs (paper Sec. 4.2; 5 for 128x128); the workflow derives it from
            the working size by that rule (:meth:`working_size_defaults`) unless a config sets it.
        w_decay_every: epochs per unit decay of the cap, 10 (paper Eq. 9; the reference MMIS script uses 20).
        refinement: "superpixel" (SGLR, Eq. 12-14), "pixel" (Table 7's LR) or "none".
        superpixels: "slic" (paper) or "distance_bands" (reference code: the integer distance map D as labels).
        knowledge_transfer: mix pairs of images (Eq. 15) for Eq. 17-18 (paper).
        kt_start_epoch: first epoch of refinement and KT, 30 (paper and reference code).
        r_cp: foreground-share threshold of the region mask, 0.5 (reference ``--ratecp``; 0.1 for S_E of
            Shenzhen and BU_SUC).
        region_rule: "threshold" (reference code) or "random" (paper wording), see ``region_masks``.
        kt_ce: "paper" (CE of logits) or "double_softmax" (reference: CE of softmax outputs).
        ramp_epochs: epochs of Eq. 5's forget-rate ramp, 20 (spec; reference ``num_gradual``).
        inference: "fused" (Eq. 19's argmax of the summed logits) or "net1".
    """

    uses_jittered_view: ClassVar[bool] = True

    def __init__(
        self,
        *,
        co_weight: float = 0.5,
        gda: bool = True,
        w_max: float = 10.0,
        w_decay_every: int = 10,
        refinement: str = "superpixel",
        superpixels: str = "slic",
        knowledge_transfer: bool = True,
        kt_start_epoch: int = 30,
        r_cp: float = 0.5,
        region_rule: str = "threshold",
        kt_ce: str = "paper",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.co_weight = check_range("co_weight", co_weight, 0.0)
        self.gda = gda
        self.w_max = check_range("w_max", w_max, 0.0)
        self.w_decay_every = check_at_least("w_decay_every", w_decay_every, 1)
        self.refinement = check_choice("refinement", refinement, _REFINEMENTS)
        self.superpixels = check_choice("superpixels", superpixels, _SUPERPIXEL_SOURCES)
        self.knowledge_transfer = knowledge_transfer
        self.kt_start_epoch = check_at_least("kt_start_epoch", kt_start_epoch, 0)
        self.r_cp = check_range("r_cp", r_cp, 0.0, 1.0)
        self.region_rule = check_choice("region_rule", region_rule, _REGION_RULES)
        self.kt_ce = check_choice("kt_ce", kt_ce, _KT_CROSS_ENTROPIES)
        self.num_segments: int | None = None

    def on_train_start(self, training_set: TrainingSetView, device: torch.device) -> None:
        """Count the segment labels of the refinement's source once, so that no step reads a maximum back from
        the device (Eq. 12-13's vote needs only an upper bound of the labels)."""
        super().on_train_start(training_set, device)
        if self.refinement == "superpixel":
            source = training_set.superpixels if self.superpixels == "slic" else training_set.distance
            self.num_segments = int(source.max().item()) + 1

    @classmethod
    def working_size_defaults(cls, spatial_shape: tuple[int, ...]) -> dict[str, Any]:
        """Eq. 9's ``w_max`` by the paper's resolution rule, linear in the image side: 10 at 256, 5 at 128."""
        return {"w_max": W_MAX_AT_256 * max(spatial_shape[-2:]) / 256}

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Eq. 19: L_gda, plus L_kt + L_con from ``kt_start_epoch`` when refinement or KT is on."""
        logits1, logits2 = logits
        keep_ratio = self.keep_ratio(ctx)
        supervised = supervised_pixel_loss(logits1, logits2, batch.labels)
        pixel_loss = co_regularised_pixel_loss(logits1, logits2, batch.labels, self.co_weight, supervised)
        if self.gda:
            weight_cap = gda_weight_cap(ctx.epoch, self.w_max, self.w_decay_every)
            weights = distance_weights(batch.distance, ctx.epoch, self.w_max, self.w_decay_every)
        else:
            weight_cap = 1.0
            weights = torch.ones_like(pixel_loss)
        base_loss, small_loss = gda_loss(pixel_loss, weights, keep_ratio)

        final_keep_ratio = 1.0 - ctx.tau
        search_set = small_loss if keep_ratio == final_keep_ratio else small_loss_mask(pixel_loss, final_keep_ratio)
        logs = {
            "keep_ratio": keep_ratio,
            "weight_cap": weight_cap,
            "search_loss": search_loss(logits1, logits2, batch.labels, search_set, supervised),
            "gda_loss": base_loss.detach(),
        }

        refined = batch.labels
        total = base_loss
        if ctx.epoch >= self.kt_start_epoch and (self.refinement != "none" or self.knowledge_transfer):
            refined = self._refined_labels(logits1, logits2, batch, small_loss, ctx.generator)
            kt_loss, con_loss = self._transfer_losses(logits1, logits2, batch, refined, weights, ctx)
            total = total + kt_loss + con_loss
            logs["kt_loss"] = kt_loss.detach()
            logs["consistency_loss"] = con_loss.detach()
        else:
            logs["kt_loss"] = 0.0
            logs["consistency_loss"] = 0.0

        if batch.clean_labels is not None:
            logs["refined_label_accuracy"] = (refined == batch.clean_labels).float().mean()
            logs["noisy_label_accuracy"] = (batch.labels == batch.clean_labels).float().mean()
        return LossOutput(loss=total, logs=logs)

    def _refined_labels(
        self,
        logits1: torch.Tensor,
        logits2: torch.Tensor,
        batch: Batch,
        small_loss: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Eq. 11-14: the noisy labels on S, the (superpixel-)refined fused prediction elsewhere."""
        if self.refinement == "none":
            return batch.labels
        fused_prob, _ = fuse_probabilities(logits1, logits2, generator)
        segments = None
        if self.refinement == "superpixel":
            segments = batch.superpixels if self.superpixels == "slic" else batch.distance.long()
        return refine_labels(batch.labels, small_loss, fused_prob, segments, self.num_segments)

    def _transfer_losses(
        self,
        logits1: torch.Tensor,
        logits2: torch.Tensor,
        batch: Batch,
        refined: torch.Tensor,
        weights: torch.Tensor,
        ctx: StepContext,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 15-18: (L_kt, L_con) on the mixed batch, or on the un-mixed batch when KT is off."""
        if self.knowledge_transfer:
            region_mask = region_masks(refined, self.r_cp, self.region_rule, ctx.generator)
            permutation = torch.randperm(refined.shape[0], generator=ctx.generator, device=ctx.generator.device)
            mixed_images, mixed_jittered, mixed_labels, mixed_weights = knowledge_transfer_mix(
                batch.images, batch.jittered, refined, weights, region_mask, permutation.to(refined.device)
            )
            mixed_logits1 = ctx.networks[0](mixed_images)
            mixed_logits2 = ctx.networks[1](mixed_jittered)
        else:
            mixed_logits1, mixed_logits2, mixed_labels, mixed_weights = logits1, logits2, refined, weights
        kt_loss = knowledge_transfer_loss(mixed_logits1, mixed_labels, mixed_weights, self.kt_ce)
        kt_loss = kt_loss + knowledge_transfer_loss(mixed_logits2, mixed_labels, mixed_weights, self.kt_ce)
        return kt_loss, consistency_loss(mixed_logits1, mixed_logits2, mixed_weights)

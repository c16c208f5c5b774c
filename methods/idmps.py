"""IDMPS baseline (Zhao et al., "Ultrasound Nodule Segmentation Using Asymmetric Learning with Simple Clinical
Annotation", IEEE TCSVT 34(10), 2024; the inconsistency-aware dynamically mixed pseudo-label supervision of
CRBNet, authors' code NeuronXJTU/CRBNet ``code/train_IDAMP.py``).

Two networks. Network 1 learns the "radical" label R with cross-entropy of class weights [1, 3] plus soft Dice;
network 2 the "conservative" label C with class weights [3, 1] plus soft Dice (the suite's soft Dice, GSD-Net
spec Eq. 16, per image and class, smooth 1). Each step draws ``β ~ U(0, 1)`` from ``ctx.generator``; the
pseudo-label ``argmax(β p1 + (1 - β) p2)`` (detached) supervises each network by cross-entropy averaged over the
inconsistency region M (0 where M is empty). The loss is
``supervised + w(t) · (ce(p1, pseudo)_M + ce(p2, pseudo)_M)`` with
``w(t) = 0.1 · sigmoid_rampup(iteration // 150, 200)``, ``sigmoid_rampup(x, L) = exp(-5 (1 - x / L)^2)`` for
``x < L``, else 1; the 150 and 200 are the authors' iteration constants (options ``rampup_every`` and
``rampup_length``). The ramp reaches 1 only after 150 · 200 = 30 000 iterations (the authors' whole run); at the
suite's scales (100 epochs of a few dozen steps) it barely starts: ``w`` stays near ``0.1 · exp(-5) ≈ 7e-4``
for most of the run, so the pseudo-label terms hardly act and IDMPS is close to its supervised part.

The suite's adaptation (the authors had two annotations per image, a radical and a conservative one; the suite
has one noisy label): both labels derive from the noisy mask y and its capped distance map D (``batch.distance``,
GSD-Net spec Eq. 8, ``priors.distance.capped_distance_map``: each pixel's Euclidean distance to the other class,
floored and capped at 10, so pixels beside the boundary have D = 1 on both sides):
``R = y ∪ {D <= k}``, ``C = y ∩ {D > k}``, hence ``M = R − C = {D <= k}``, the band of width k on both sides of
the noisy boundary. k is option ``boundary_px``; 0 (default) derives it from the batch's spatial size as
``max(1, round(3 · side / 256))`` (3 px at 256², the last axis's size as ``side``), at most 9 so that the band
stays below D's cap. Option ``inconsistency``: ``label_band`` (default, M as above) or ``disagreement`` (M = the
pixels where the two networks' argmax differ). Left out: the authors' axis-projection Dice, which needs box
annotations the suite does not have.

Option ``authors_optimizer`` (default false): the authors' SGD, lr 0.01, momentum 0.9, weight decay 1e-4, one
parameter group per network, with poly decay ``lr = 0.01 · (1 - t / T)^0.9``. The authors decay per iteration
over 30 000 iterations (batch 24); the suite decays per epoch over the run (``t`` the 0-based epoch, ``T`` the
run's epochs), set in ``on_epoch_start`` from the epoch so a resumed run gets the same schedule.
Option ``inference``: ``fused`` (default) or ``net1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import Batch, EpochContext, LossOutput, OptimizerSettings, StepContext, class_argmax
from methods.co_training import CoTrainingMethod
from methods.gsdnet_parts import soft_dice_loss
from methods.options import OptionError, check_at_least, check_choice
from methods.registry import register_method
from priors.distance import DISTANCE_CAP

INCONSISTENCY_RULES = ("label_band", "disagreement")
#: Class weights of the two supervised cross-entropies (authors' code): radical favours the foreground.
RADICAL_CLASS_WEIGHTS = (1.0, 3.0)
CONSERVATIVE_CLASS_WEIGHTS = (3.0, 1.0)
#: w(t)'s maximum and the sigmoid ramp's constants (authors' code, in iterations).
PSEUDO_WEIGHT = 0.1
RAMPUP_EVERY = 150
RAMPUP_LENGTH = 200
#: The boundary band: 3 px at a working size of 256.
BOUNDARY_PX_AT_256 = 3
#: The authors' optimiser: lr, momentum, weight decay, poly power.
AUTHORS_LR = 0.01
AUTHORS_MOMENTUM = 0.9
AUTHORS_WEIGHT_DECAY = 1e-4
AUTHORS_POLY_POWER = 0.9


def sigmoid_rampup(current: float, length: float) -> float:
    """``exp(-5 (1 - current / length)^2)`` for ``current < length``, else 1."""
    if length <= 0 or current >= length:
        return 1.0
    phase = 1.0 - max(current, 0.0) / length
    return math.exp(-5.0 * phase * phase)


def asymmetric_labels(labels: torch.Tensor, distance: torch.Tensor,
                      boundary_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The suite's radical and conservative labels (int64): ``y ∪ {D <= k}`` and ``y ∩ {D > k}``."""
    band = distance <= boundary_px
    noisy = labels.bool()
    return (noisy | band).long(), (noisy & ~band).long()


def default_boundary_px(side: int) -> int:
    """``max(1, round(3 · side / 256))``, at most ``DISTANCE_CAP - 1``."""
    return min(max(1, round(BOUNDARY_PX_AT_256 * side / 256)), DISTANCE_CAP - 1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask`` (0 where it is empty), without a host read."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


@register_method("idmps")
class IDMPSMethod(CoTrainingMethod):
    """Asymmetric supervision of two networks plus a mixed pseudo-label on the inconsistency region.

    Options: ``boundary_px`` (k, 0 = derived from the size), ``inconsistency`` (``label_band`` |
    ``disagreement``), ``rampup_every`` (150), ``rampup_length`` (200), ``authors_optimizer`` (false),
    ``inference`` (``fused`` | ``net1``).
    """

    def __init__(self, *, boundary_px: int = 0, inconsistency: str = "label_band", rampup_every: int = RAMPUP_EVERY,
                 rampup_length: int = RAMPUP_LENGTH, authors_optimizer: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.boundary_px = check_at_least("boundary_px", boundary_px, 0)
        if self.boundary_px >= DISTANCE_CAP:
            raise OptionError(f"option 'boundary_px' must be < {DISTANCE_CAP} (the distance map's cap); "
                              f"got {boundary_px!r}")
        self.inconsistency = check_choice("inconsistency", inconsistency, INCONSISTENCY_RULES)
        self.rampup_every = check_at_least("rampup_every", rampup_every, 1)
        self.rampup_length = check_at_least("rampup_length", rampup_length, 1)
        self.authors_optimizer = bool(authors_optimizer)
        # On the method's device with it (the engine moves the method), so that a step copies nothing from the host.
        self.register_buffer("radical_weights", torch.tensor(RADICAL_CLASS_WEIGHTS), persistent=False)
        self.register_buffer("conservative_weights", torch.tensor(CONSERVATIVE_CLASS_WEIGHTS), persistent=False)

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """The protocol's SGD, or the authors' (lr 0.01, momentum 0.9, weight decay 1e-4, a group per network)."""
        if not self.authors_optimizer:
            return super().configure_optimizer(networks, settings)
        groups = [{"params": list(network.parameters())} for network in networks]
        return torch.optim.SGD(groups, lr=AUTHORS_LR, momentum=AUTHORS_MOMENTUM, weight_decay=AUTHORS_WEIGHT_DECAY)

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """With ``authors_optimizer``: the epoch's poly learning rate ``0.01 · (1 - epoch / epochs)^0.9``."""
        if self.authors_optimizer:
            lr = AUTHORS_LR * (1.0 - ctx.epoch / ctx.num_epochs) ** AUTHORS_POLY_POWER
            for group in ctx.optimizer.param_groups:
                group["lr"] = lr

    def band_width(self, labels: torch.Tensor) -> int:
        """k: the option, or derived from the batch's last spatial axis."""
        return self.boundary_px or default_boundary_px(labels.shape[-1])

    def pseudo_weight(self, iteration: int) -> float:
        """``w(t) = 0.1 · sigmoid_rampup(iteration // rampup_every, rampup_length)``."""
        return PSEUDO_WEIGHT * sigmoid_rampup(iteration // self.rampup_every, self.rampup_length)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Asymmetric CE + Dice of both networks, plus ``w(t)`` times the mixed pseudo-label CE over M."""
        logits1, logits2 = logits
        radical, conservative = asymmetric_labels(batch.labels, batch.distance, self.band_width(batch.labels))
        probs1, probs2 = logits1.float().softmax(dim=1), logits2.float().softmax(dim=1)
        supervised1 = (F.cross_entropy(logits1.float(), radical, weight=self.radical_weights)
                       + soft_dice_loss(probs1, radical))
        supervised2 = (F.cross_entropy(logits2.float(), conservative, weight=self.conservative_weights)
                       + soft_dice_loss(probs2, conservative))
        if self.inconsistency == "label_band":
            region = (radical != conservative).float()
        else:
            region = (class_argmax(logits1) != class_argmax(logits2)).float()
        beta = torch.rand((), generator=ctx.generator, device=ctx.generator.device)
        pseudo = class_argmax(beta * probs1 + (1.0 - beta) * probs2).detach()
        pseudo1 = masked_mean(F.cross_entropy(logits1.float(), pseudo, reduction="none"), region)
        pseudo2 = masked_mean(F.cross_entropy(logits2.float(), pseudo, reduction="none"), region)
        weight = self.pseudo_weight(ctx.iteration)
        loss = supervised1 + supervised2 + weight * (pseudo1 + pseudo2)
        logs = {"supervised_radical": supervised1.detach(), "supervised_conservative": supervised2.detach(),
                "pseudo_net1": pseudo1.detach(), "pseudo_net2": pseudo2.detach(), "pseudo_weight": weight,
                "inconsistent_share": region.mean().detach()}
        return LossOutput(loss=loss, logs=logs)

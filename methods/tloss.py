"""T-Loss baseline (Gonzalez-Jimenez et al., MICCAI 2023, "Robust T-Loss for Medical Image Segmentation").

The loss of one image is the negative log-likelihood of a D-dimensional Student-t distribution (D = H·W; D·H·W
voxels for a volume) of the
residual ``δ = p - y`` between the foreground probabilities ``p = softmax(logits)[:, 1]`` and the noisy mask
``y``, with zero mean, diagonal precision ``Λ`` and ``ν`` degrees of freedom. Textbook form:

    NLL = -lgamma((ν + D) / 2) + lgamma(ν / 2) + (D / 2) log(π ν) - (1 / 2) Σ_d log Λ_d
          + ((ν + D) / 2) · log(1 + Σ_d Λ_d δ_d² / ν)

This module computes it exactly as the authors' ``TLoss.forward`` (github.com/Digital-Dermatology/t-loss,
tloss.py), which stores the precision in log space and ``ν`` as ``ν = exp(nu) + ε``:

    NLL = -lgamma((ν + D) / 2) + lgamma(ν / 2) - (1 / 2) Σ_d (l_d + ε) + (D / 2) log π + (D / 2) (nu + ε)
          + ((ν + D) / 2) · log(1 + Σ_d exp(l_d + ε) δ_d² / ν)

with the log-precisions ``l_d`` fixed at ones (their ``self.lambdas = torch.ones(...)``, not learnt), so
``Λ_d = e``; and ``(D / 2) log ν`` taken as ``(D / 2)(nu + ε)``, i.e. ``log(exp(nu))`` with ε added to the log.

Reduction: the authors' default ``reduction="mean"`` is ``total_losses.mean()`` over the B images of the batch,
with no division by D (``reduction: image_mean``). Because the per-image NLL is a sum over D pixels, its
gradient is about D times that of a per-pixel mean loss; the authors train with Adam, which is insensitive to
that scale, whereas this suite's shared protocol uses SGD (lr 5e-3), under which ``image_mean`` diverged to an
all-background prediction (Dice 0 on the synthetic set, measured). This method's default is therefore
``reduction: pixel_mean``, the batch mean divided by D, which puts the loss on the per-pixel scale of CE (it
also divides ν's gradient by D, so ν moves slowly at the authors' ν lr).

Settings and their sources (the authors' code and ISIC configs): ν parameter initialised at 1.0 (``nu``),
ε = 1e-8, ν trained in its own optimiser group with lr 1e-3 (``config.student.lr``) and no weight decay (their
Adam has none). Not reproduced: the authors also cut the network's lr tenfold whenever ν plateaus
(train.py ``check_nu_plateau``); here the engine's schedule is shared by all methods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from methods.base import Batch, LossOutput, Method, StepContext
from methods.options import check_choice, check_range
from methods.registry import register_method

EPSILON = 1e-8
"""ε of the authors' TLoss (tloss.py default ``epsilon=1e-8``)."""
LOG_PRECISION = 1.0
"""Fixed log-precision of every pixel: the authors' ``self.lambdas = torch.ones(...)``."""
REDUCTIONS = ("image_mean", "pixel_mean")


def t_loss_per_image(fg_probs: torch.Tensor, targets: torch.Tensor, nu_param: torch.Tensor) -> torch.Tensor:
    """Per-image Student-t NLL, shape ``(B,)``, of ``(B, H, W)`` foreground probabilities vs ``(B, H, W)`` targets
    (or ``(B, D, H, W)`` volumes).

    Computed term by term as the authors' ``TLoss.forward`` (see the module docstring), with D = H·W (voxels).
    """
    spatial_dims = tuple(range(1, fg_probs.dim()))
    dim = float(fg_probs[0].numel())
    delta = fg_probs - targets
    nu = torch.exp(nu_param) + EPSILON
    log_gamma_terms = -torch.lgamma((nu + dim) / 2) + torch.lgamma(nu / 2)
    log_det_term = -0.5 * dim * (LOG_PRECISION + EPSILON)
    log_pi_term = (dim / 2) * math.log(math.pi)
    log_nu_term = (dim / 2) * (nu_param + EPSILON)
    mahalanobis = math.exp(LOG_PRECISION + EPSILON) * delta.pow(2).sum(dim=spatial_dims)
    tail_term = ((nu + dim) / 2) * torch.log1p(mahalanobis / nu)
    return log_gamma_terms + log_det_term + log_pi_term + log_nu_term + tail_term


@register_method("tloss")
class TLossMethod(Method):
    """T-Loss, one network, with a learnable degrees-of-freedom parameter ``nu`` (used as ``exp(nu) + ε``).

    Options: ``nu_init`` (1.0, the authors' ``config.student.nu``), ``nu_lr`` (1e-3, the authors'
    ``config.student.lr``), ``reduction`` (``pixel_mean``, default: the batch mean / D; ``image_mean``: the
    authors' batch mean).
    """

    def __init__(
        self, nu_init: float = 1.0, nu_lr: float = 1e-3, reduction: str = "pixel_mean", **options: Any
    ) -> None:
        super().__init__(**options)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.nu_lr = check_range("nu_lr", nu_lr, 0.0, low_open=True)
        self.nu = nn.Parameter(torch.tensor(float(nu_init)))

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Mean over the batch's images of the per-image NLL (divided by D for ``pixel_mean``)."""
        (net_logits,) = logits
        fg_probs = net_logits.float().softmax(dim=1)[:, 1]
        per_image = t_loss_per_image(fg_probs, batch.labels.to(fg_probs.dtype), self.nu)
        loss = per_image.mean()
        if self.reduction == "pixel_mean":
            loss = loss / fg_probs[0].numel()
        nu_value = torch.exp(self.nu.detach()) + EPSILON  # a device tensor: summed in float64, read once per epoch
        return LossOutput(loss=loss, logs={"tloss": loss.detach(), "nu": nu_value})

    def parameter_groups(self) -> list[dict[str, Any]]:
        """ν in its own group: lr ``nu_lr`` and no weight decay, as the authors' separate Adam group."""
        return [{"params": [self.nu], "lr": self.nu_lr, "weight_decay": 0.0}]

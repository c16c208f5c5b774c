"""CDR baseline (Xia et al., "Robust early-learning: hindering the memorization of noisy labels", ICLR 2021).

One network trained with plain per-pixel cross-entropy (spec Eq. 1). Between ``backward()`` and
``optimizer.step()`` (authors' code: xiaoboxia/CDR, ``main.py``, ``train_one_step``) the gradients are pruned:

- every weight tensor of dimension >= 2 (linear weights, and conv weights of any dimension: 3D convs have 5D
  weights; biases and norm layers, all 1D, are untouched) scores each element by ``|w · grad|``;
- ONE global threshold over all those tensors keeps the top ``int((1 - tau) · N)`` elements (``N`` their total
  size, ``tau`` the run's noise rate). The threshold comes from ``torch.kthvalue`` on the concatenated scores
  (``torch.quantile`` fails above 16 M elements). Ties at the threshold are broken by position (parameter order
  of the network, then element order), so the kept set is deterministic and has exactly that size;
- kept elements get ``grad · (1 - tau)`` (the authors' ``clip``, which their loop sets to ``1 - tau`` every epoch;
  their ``num_gradual`` schedule is dead code), the others a zero gradient, so only weight decay and momentum
  move them.

With the shared protocol's weight decay 1e-5 (the default) the pruned weights are nearly frozen: weight decay
pulls them towards zero only by ``lr · 1e-5`` per step. The authors' weight decay is 1e-3.

Option ``authors_optimizer`` (default false): the authors' optimiser, SGD lr 0.01, momentum 0.9, weight decay
1e-3 (``main.py`` defaults) with ``MultiStepLR(gamma=0.1)``. Their milestones are [40, 80] of 200 epochs on
CIFAR-10/100 ([10, 20] on MNIST/F-MNIST); the suite keeps the CIFAR fractions, milestones at ``round(0.2 · E)``
and ``round(0.4 · E)`` of the run's ``E`` epochs (20 and 40 at 100 epochs). Their loop calls
``scheduler.step()`` before each epoch's training, so 0-based epoch ``e`` trains at
``0.01 · 0.1^{#milestones <= e + 1}``; the suite reproduces that. The lr is derived from the epoch in
``on_epoch_start`` (no scheduler object), so a resumed run gets the same schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from methods.base import Batch, EpochContext, LossOutput, Method, OptimizerSettings, StepContext
from methods.registry import register_method
from methods.selection import pixel_cross_entropy, smallest_mask

#: The authors' optimiser (xiaoboxia/CDR ``main.py``): lr, momentum, weight decay, MultiStepLR gamma.
AUTHORS_LR = 0.01
AUTHORS_MOMENTUM = 0.9
AUTHORS_WEIGHT_DECAY = 1e-3
AUTHORS_GAMMA = 0.1
#: Their CIFAR milestones [40, 80] of 200 epochs, as fractions of the run.
AUTHORS_MILESTONE_FRACTIONS = (0.2, 0.4)


def prunable_parameters(networks: Sequence[nn.Module]) -> list[nn.Parameter]:
    """The weights CDR prunes: every parameter of dimension >= 2 that has a gradient, in parameter order."""
    return [parameter for network in networks for parameter in network.parameters()
            if parameter.dim() >= 2 and parameter.grad is not None]


def top_share_mask(scores: torch.Tensor, num_keep: int) -> torch.Tensor:
    """Bool mask of the ``num_keep`` largest entries of the 1D ``scores``; ties at the threshold go to the
    earliest positions (the smallest of the negated scores, :func:`methods.selection.smallest_mask`)."""
    return smallest_mask(-scores, num_keep)


def prune_gradients(parameters: Sequence[nn.Parameter], tau: float) -> None:
    """CDR's surgery in place: the top ``int((1 - tau) · N)`` elements by ``|w · grad|`` over all ``parameters``
    keep ``grad · (1 - tau)``, the others get zero."""
    if not parameters:
        return
    scores = torch.cat([(parameter.detach() * parameter.grad).abs().reshape(-1).float() for parameter in parameters])
    keep = top_share_mask(scores, int((1.0 - tau) * scores.numel()))
    start = 0
    for parameter in parameters:
        size = parameter.numel()
        kept = keep[start:start + size].view(parameter.shape)
        parameter.grad.mul_(kept.to(parameter.grad.dtype) * (1.0 - tau))
        start += size


def authors_lr(epoch: int, num_epochs: int) -> float:
    """The authors' MultiStepLR at 0-based ``epoch`` of ``num_epochs``, stepped before each epoch as in their loop."""
    milestones = [round(fraction * num_epochs) for fraction in AUTHORS_MILESTONE_FRACTIONS]
    return AUTHORS_LR * AUTHORS_GAMMA ** sum(milestone <= epoch + 1 for milestone in milestones)


@register_method("cdr")
class CDRMethod(Method):
    """Cross-entropy with CDR's gradient pruning after each backward; option ``authors_optimizer`` (false)."""

    def __init__(self, *, authors_optimizer: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.authors_optimizer = bool(authors_optimizer)

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """The protocol's SGD, or the authors' (lr 0.01, momentum 0.9, weight decay 1e-3)."""
        if not self.authors_optimizer:
            return super().configure_optimizer(networks, settings)
        return self.sgd(networks, lr=AUTHORS_LR, momentum=AUTHORS_MOMENTUM, weight_decay=AUTHORS_WEIGHT_DECAY)

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """With ``authors_optimizer``: set the epoch's MultiStepLR learning rate."""
        if self.authors_optimizer:
            for group in ctx.optimizer.param_groups:
                group["lr"] = authors_lr(ctx.epoch, ctx.num_epochs)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Mean per-pixel cross-entropy over the batch."""
        (net_logits,) = logits
        loss = pixel_cross_entropy(net_logits, batch.labels).mean()
        return LossOutput(loss=loss, logs={"ce": loss.detach()})

    def after_backward(self, networks: Sequence[nn.Module], ctx: StepContext) -> None:
        """Keep the top ``1 - tau`` share of weight gradients by ``|w · grad|``, scaled by ``1 - tau``; zero the
        rest."""
        prune_gradients(prunable_parameters(networks), ctx.tau)

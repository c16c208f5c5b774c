"""The method interface: what a noise-robust learning method adds to the shared training engine.

The engine (``training.engine``) owns everything that is the same for every method: data loading and
augmentation, the optimiser, the epoch loop, evaluation on the test split, checkpoints and outputs. A method
owns only what differs: how many networks it trains, its loss (including any sample selection, label
refinement or mixing), extra learnable parameters, and how its networks' outputs fuse at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class Batch:
    """One training batch, already augmented (rot90 + flip applied jointly to every field).

    images: ``(B, C, H, W)`` float, scaled as configured, the input of network 1.
    jittered: ``(B, C, H, W)`` float colour-jittered copy of ``images`` (same geometry), the input of network 2
        for methods with ``uses_jittered_view``; equal to ``images`` otherwise.
    labels: ``(B, H, W)`` int64 noisy labels in {0, 1}.
    distance: ``(B, H, W)`` float32 capped distance map D of the noisy mask (Eq. 8).
    superpixels: ``(B, H, W)`` int64 SLIC labels per image, starting at 0.
    clean_labels: ``(B, H, W)`` int64 clean labels, for diagnostics only; a method must never train on them.
    """

    images: torch.Tensor
    jittered: torch.Tensor
    labels: torch.Tensor
    distance: torch.Tensor
    superpixels: torch.Tensor
    clean_labels: torch.Tensor | None = None


@dataclass
class StepContext:
    """What a method may know about the current step besides the batch.

    epoch: 0-based epoch index; num_epochs: total epochs of the run; tau: the noise rate (forget rate target);
    networks: the method's networks, for methods that run extra forward passes (e.g. on mixed images);
    generator: the run's seeded ``torch.Generator`` (on the batch's device) for any randomness in the loss.
    """

    epoch: int
    num_epochs: int
    tau: float
    networks: Sequence[nn.Module]
    generator: torch.Generator


@dataclass
class LossOutput:
    """The scalar to back-propagate, plus named scalars logged per epoch (means over steps)."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of every method. Subclasses set the class attributes and implement :meth:`loss`.

    A ``Method`` is an ``nn.Module`` so that learnable loss parameters (T-Loss's nu) are saved in checkpoints;
    the networks themselves are owned by the engine and passed in.

    Class attributes:
        num_networks: how many networks the engine builds (1 or 2).
        uses_jittered_view: whether network 2 sees the colour-jittered view (GSD-Net, as in the reference).
    Options come from the config entry of the method (all keys but ``method``) as keyword arguments.
    """

    num_networks: ClassVar[int] = 1
    uses_jittered_view: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        super().__init__()
        if options:
            raise TypeError(f"unknown option(s) for {type(self).__name__}: {', '.join(sorted(options))}")

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Return the training loss for ``logits`` (one ``(B, 2, H, W)`` tensor per network) on ``batch``."""
        raise NotImplementedError

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Extra optimiser parameter groups for the method's own learnable parameters (default: none)."""
        return []

    def fuse(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fuse the networks' logits at inference into ``(B, H, W)`` int64 labels: argmax of their sum."""
        return torch.stack(list(logits)).sum(dim=0).argmax(dim=1)

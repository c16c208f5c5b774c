"""The method interface: what a noise-robust learning method adds to the shared training engine.

The engine (``training.engine``) owns what is the same for every method: data loading and augmentation, the
epoch loop, evaluation on the test split, checkpoints and outputs. A method overrides only the hooks where it
differs, as an nnU-Net trainer variant does; every hook's default reproduces the plain one-network recipe.

Hooks, in the order the engine calls them (``training.engine.training_step`` is one step):

======================  ===========================================================================================
``build_networks``      once: the method's networks (default ``num_networks`` backbones, seeded per index)
``configure_optimizer`` once: the optimiser (default SGD over the networks plus :meth:`parameter_groups`)
``on_train_start``      once per process, before a checkpoint is restored: allocate per-sample state (buffers)
``on_epoch_start``      every epoch, before its first step (e.g. a learning-rate schedule)
``training_labels``     every batch, before augmentation: the labels to train on (default the noisy labels;
                        a label store returns its corrected labels for the batch's sample indices)
``forward_batch``       every step: the networks' outputs (default each network on ``images``, network 2 on the
                        colour-jittered view for methods with ``uses_jittered_view``)
``loss``                every step: the loss to back-propagate and the scalars to log
``after_backward``      every step, between ``backward()`` and ``optimizer.step()`` (e.g. gradient surgery)
``after_step``          every step, after ``optimizer.step()``
``on_epoch_end``        every epoch, after its last step; ``EpochContext.infer_training_set`` runs the networks
                        over the training set without augmentation; returns scalars for the epoch's log row
``predict``             at test time: ``(B, H, W)`` labels from the networks (default argmax of summed logits)
======================  ===========================================================================================

A method's per-sample state (a label store, statistics across epochs) lives in registered buffers or in
:meth:`get_extra_state`, so it is saved in every checkpoint and restored on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from methods.options import OptionError, known_options

#: Index of the network that sees the colour-jittered view (network 2) for methods with ``uses_jittered_view``.
JITTERED_NETWORK = 1


def class_argmax(scores: torch.Tensor) -> torch.Tensor:
    """``scores.argmax(dim=1)`` of ``(B, C, ...)`` scores, int64, the same values: the first maximum on a tie, NaN
    counted as the maximum. Two classes take one comparison: torch's CPU argmax over a short axis that is not the
    innermost costs about 20 ms on a contiguous ``(16, 2, 128, 128)`` batch, this under 0.5 ms
    (``benchmarks/loss_timing.py``)."""
    if scores.shape[1] != 2:
        return scores.argmax(dim=1)
    background, foreground = scores[:, 0], scores[:, 1]
    return (~background.isnan() & ((foreground > background) | foreground.isnan())).long()


@dataclass
class Batch:
    """One training batch, already augmented (rot90 + flip applied jointly to every field).

    images: ``(B, C, H, W)`` float, scaled as configured, the input of network 1.
    jittered: ``(B, C, H, W)`` float colour-jittered copy of ``images`` (same geometry), the input of network 2
        for methods with ``uses_jittered_view``; equal to ``images`` otherwise.
    labels: ``(B, H, W)`` int64 labels in {0, 1}: the noisy labels, or a method's corrected ones
        (:meth:`Method.training_labels`).
    distance: ``(B, H, W)`` float32 capped distance map D of the noisy mask (Eq. 8).
    superpixels: ``(B, H, W)`` int64 SLIC labels per image, starting at 0.
    clean_labels: ``(B, H, W)`` int64 clean labels, for diagnostics only; a method must never train on them.
    indices: ``(B,)`` int64 positions of the batch's samples in the training set (keys of per-sample state).
    """

    images: torch.Tensor
    jittered: torch.Tensor
    labels: torch.Tensor
    distance: torch.Tensor
    superpixels: torch.Tensor
    clean_labels: torch.Tensor | None = None
    indices: torch.Tensor | None = None


@dataclass
class StepContext:
    """What a method may know about the current step besides the batch.

    epoch: 0-based epoch index; num_epochs: total epochs of the run; tau: the noise rate (forget rate target);
    networks: the method's networks, for methods that run extra forward passes (e.g. on mixed images);
    generator: the run's seeded ``torch.Generator`` (on the batch's device) for any randomness in the loss;
    iteration: 0-based index of the step in the run; steps_per_epoch: full batches per epoch.
    """

    epoch: int
    num_epochs: int
    tau: float
    networks: Sequence[nn.Module]
    generator: torch.Generator
    iteration: int = 0
    steps_per_epoch: int = 1


@dataclass
class TrainingSetView:
    """The training set as the epoch hooks see it: un-augmented fields on the device, in training-set order.

    labels: ``(N, H, W)`` uint8 noisy labels; superpixels ``(N, H, W)`` int32; distance ``(N, H, W)``.
    """

    labels: torch.Tensor
    superpixels: torch.Tensor
    distance: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class EpochContext:
    """What ``on_epoch_start`` / ``on_epoch_end`` receive.

    infer_training_set: runs every network, in eval mode and without gradients, over the training set without
    augmentation (inputs scaled as in training); returns one ``(N, 2, H, W)`` float32 logits tensor per network.
    generator: a seeded ``torch.Generator`` of the epoch hooks (on the device), apart from the steps' streams.
    """

    epoch: int
    num_epochs: int
    tau: float
    networks: Sequence[nn.Module]
    optimizer: torch.optim.Optimizer
    training_set: TrainingSetView
    infer_training_set: Callable[[], list[torch.Tensor]]
    generator: torch.Generator


@dataclass(frozen=True)
class NetworkFactory:
    """Builds the run's networks: ``factory(index, **options)`` is the configured backbone (``options`` go to its
    constructor, e.g. ``dropout``) initialised under the global torch seed of ``(run seed, index)``; a method with
    networks of its own calls :meth:`seed` before building them."""

    backbone: str
    in_channels: int
    seed_of: Callable[[int], int]
    make: Callable[..., nn.Module]

    def seed(self, index: int) -> None:
        """Seed the global torch RNG for network ``index``."""
        torch.manual_seed(self.seed_of(index))

    def __call__(self, index: int, **options: Any) -> nn.Module:
        self.seed(index)
        return self.make(self.backbone, self.in_channels, **options)


@dataclass(frozen=True)
class OptimizerSettings:
    """The shared protocol's optimiser settings of the run (SGD lr, momentum, weight decay) and its length."""

    lr: float
    momentum: float
    weight_decay: float
    epochs: int


@dataclass
class LossOutput:
    """The scalar to back-propagate, plus named scalars logged per epoch (means over steps).

    A log value may be a float or a 0-dimensional tensor; tensors are summed on the device and read once per epoch.
    """

    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of every method: override :meth:`loss` and any hook where the method differs (module docstring).

    A ``Method`` is an ``nn.Module`` so that its learnable parameters (T-Loss's nu) and per-sample state are saved
    in checkpoints; its networks are built by :meth:`build_networks` and owned by the engine.

    Class attributes:
        num_networks: how many networks the default :meth:`build_networks` builds.
        uses_jittered_view: whether batches carry a colour-jittered view and network 2 sees it (GSD-Net).
        supports_volumes: whether the method trains on 3D volumes ``(B, C, D, H, W)`` as well as images.
    Options come from the config entry of the method (all keys but ``method``) as keyword arguments.
    """

    num_networks: ClassVar[int] = 1
    uses_jittered_view: ClassVar[bool] = False
    supports_volumes: ClassVar[bool] = True
    registry_name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        if options:
            known = ", ".join(known_options(type(self))) or "none"
            raise OptionError(f"unknown option(s) {', '.join(sorted(options))}; known options: {known}")

    def build_networks(self, factory: NetworkFactory) -> list[nn.Module]:
        """The method's networks: ``num_networks`` backbones, network ``i`` seeded with ``(run seed, i)``."""
        return [factory(index) for index in range(self.num_networks)]

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """SGD over every network's parameters (one group) plus the method's own :meth:`parameter_groups`."""
        return self.sgd(networks, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)

    def sgd(self, networks: Sequence[nn.Module], *, lr: float, momentum: float,
            weight_decay: float) -> torch.optim.SGD:
        """SGD with these settings over every network's parameters (one group) and :meth:`parameter_groups`, e.g.
        for a method's ``authors_optimizer``."""
        groups: list[dict[str, Any]] = [{"params": [p for network in networks for p in network.parameters()]}]
        groups.extend(self.parameter_groups())
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Extra optimiser parameter groups for the method's own learnable parameters (default: none)."""
        return []

    def on_train_start(self, training_set: TrainingSetView, device: torch.device) -> None:
        """Once per process, before a checkpoint is restored: allocate per-sample state (default: nothing)."""

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Before the epoch's first step (default: nothing)."""

    def training_labels(self, indices: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The ``(B, H, W)`` labels to train the samples at ``indices`` on, before augmentation (default ``labels``,
        the noisy ones)."""
        return labels

    def forward_batch(self, networks: Sequence[nn.Module], batch: Batch, ctx: StepContext) -> list[torch.Tensor]:
        """Each network's logits on its input: ``batch.images``, or ``batch.jittered`` for network 2 of a method
        with ``uses_jittered_view``."""
        return [network(batch.jittered if self.uses_jittered_view and index == JITTERED_NETWORK else batch.images)
                for index, network in enumerate(networks)]

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """The training loss for ``logits`` (the outputs of :meth:`forward_batch`) on ``batch``."""
        raise NotImplementedError

    def after_backward(self, networks: Sequence[nn.Module], ctx: StepContext) -> None:
        """Between ``backward()`` and ``optimizer.step()``: the gradients are in place (default: nothing)."""

    def after_step(self, networks: Sequence[nn.Module], ctx: StepContext) -> None:
        """After ``optimizer.step()`` (default: nothing)."""

    def on_epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """After the epoch's last step; returns scalars for the epoch's log row (default: none)."""
        return {}

    def predict(self, networks: Sequence[nn.Module], images: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` int64 labels at test time (networks in eval mode): argmax of the networks' summed logits."""
        return class_argmax(torch.stack([network(images) for network in networks]).sum(dim=0))

    @classmethod
    def working_size_defaults(cls, spatial_shape: tuple[int, ...]) -> dict[str, Any]:
        """Option defaults that depend on the data set's working size ``spatial_shape`` (``(H, W)`` or
        ``(D, H, W)``), used where a config does not set them (default: none)."""
        return {}

    @classmethod
    def check_config(cls, options: dict[str, Any], key: str) -> None:
        """Checks of config ``options`` beyond their types and values, run before any job (e.g. that a weights file
        exists); a problem is an InputError naming ``key`` (default: none). Not called for unavailable runs."""

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """Why a run of the method with config ``options`` cannot be trained here and is left out of the DAG (its
        table cells say so), e.g. ``"not run: no SAM checkpoint"``; None (the default) when it can run."""
        return None

    @classmethod
    def contract_options(cls) -> dict[str, Any]:
        """Options the registry-wide contract test builds the method with (default: its defaults, ``{}``); a method
        that needs external files (weights) returns a small self-contained configuration."""
        return {}

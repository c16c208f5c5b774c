"""RMD baseline: Reliable Mutual Distillation (Fang et al., IEEE TMI 42(6), 2023), spec ``baselines.md`` (RMD).

Two peer U-Nets, no EMA teacher (authors' code: github Amber-Believe/ReliableMutualDistillation,
``lib/train/p_train_our.py``; settings ``tests/train_with_trainer_class.py``). Each step:

1. Co-teaching part, on the weak pass o1, o2 (dropout off, the engine's forward): per-pixel cross-entropy over
   the whole batch's pixels; network 1's loss is its mean CE over the pixels network 2 finds small-loss and vice
   versa; the share kept is ``1 - f_e``, the forget rate f_e rising linearly from 0 at epoch 0 to tau at epoch
   ``ramp_epochs - 1`` (authors' ``num_gradual`` 10, exponent 1: ``ramp_epochs = 10``).
2. Distillation part: one random flip (none, either axis or both, uniform; every subset of the spatial axes in
   3D) of the input and of both weak logit maps; from epoch ``deform_start_epoch`` (authors: ``epoch > 9``, i.e.
   10) also Gaussian noise N(0, ``noise_std`` = 0.02) on the input and one elastic deformation per sample, shared
   by the image and both logit maps: rotation U(0, 60 deg), zoom U(1, 2) and a random displacement on a 3x3
   (3x3x3) control grid with standard deviation U(1, 26) pixels (authors' ``augment.py`` ``deform``). A strong
   pass a1, a2 of both networks on that input with dropout on; certainty_k = (a_k - T(o_k))^2, detached; with
   w_e = sigmoid_rampup(epoch, ``rampup_epochs`` = 10) = exp(-5 (1 - e / 10)^2) (1 from epoch 10), network 1
   gets the KL(T(o2) || a1) averaged over the ``int(min(w_e * consist_factor, 1) * N)`` pixels of the batch where
   network 2 is most certain (smallest certainty_2), network 2 likewise with the roles swapped.
3. loss_k = coteaching_k + ``distill_weight`` (0.0009) * w_e * KL_k (authors' constant; ``consist_factor`` 1
   is their LIDC setting); the engine back-propagates loss_1 + loss_2, which gives each network the same
   gradients as the authors' two backward passes.

Adaptations, named:
- The authors' networks output one sigmoid channel; the suite's output two softmax logits. The sigmoid logit's
  counterpart is the margin ``z_fg - z_bg`` (its sigmoid is the softmax foreground probability), so the binary
  KL is the two-class softmax KL, and certainty is measured on the margin (``certainty: margin``, default; the
  authors square logit differences) or on the foreground probability (``certainty: probability``).
- As in the authors' code the distillation targets T(o_k) are not detached: the peer's weak pass also receives
  the KL's gradient (spec). The certainty maps are detached.
- The elastic deformation runs on the device with ``grid_sample`` (bilinear, border padding: the authors' mode
  ``nearest`` edges) and a bicubic (2D) / trilinear (3D) upsampled control grid, instead of the authors' CPU
  ``elasticdeform`` cubic splines per sample, which explain their 19.6x CE cost (Table 10). The field is
  ``source = c + R(theta) (x - c) / zoom + u(x)`` in pixels (c the centre); in 3D the rotation turns the H-W
  plane and the zoom and displacement act on every axis. The noise is not clamped to [0, 1] (the suite's inputs
  are scaled per data set); with ``count == 0`` (tiny batches early in the ramp) the KL term is zero, where the
  authors' mean over no pixel is NaN.
- Small-loss keep counts use the suite's ``round(R * N)`` (``methods.selection.small_loss_mask``), the authors
  ``int(R * N)``.
- Dropout of the strong pass: ``SmallUNet``'s optional encoder dropout (``training.networks``) with ``dropout``
  0.5, which gives the authors' Unet2D rates 0.05, 0.1, 0.2, 0.3, 0.5 from the input level to the bottleneck
  (element-wise ``F.dropout`` after each encoder block, strong pass only). Their deep-supervision heads are
  unused in their loss and left out.
- Optimiser: the shared protocol's SGD by default; ``authors_optimizer: true`` gives the authors' Adam, lr 1e-3,
  betas (0.9, 0.999), no weight decay, one group per network (their two Adams: Adam acts per parameter), and from
  epoch ``decay_start_epoch`` (10) lr = 1e-3 (E - e) / (E - 10) and beta1 = 0.1 (their ``alpha_plan`` and
  ``beta1_plan``: lr reaches 1e-3 / (E - 10) at the last epoch, not 0), set from the epoch in
  ``on_epoch_start`` so a resumed run is exact. Their batch 20 and 50 epochs are run-config settings.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import InputError
from methods.base import Batch, EpochContext, LossOutput, NetworkFactory, OptimizerSettings, StepContext
from methods.co_training import SmallLossMethod, clean_share_log, selected_share
from methods.options import check_at_least, check_choice, check_range
from methods.registry import register_method
from methods.selection import peer_selected_losses, pixel_cross_entropy, selected_mean, smallest_mask

#: Elastic deformation (authors' ``augment.py``): rotation U(0, 60) degrees, zoom U(1, 2), displacement standard
#: deviation U(1, 26) pixels on a 3-point control grid per axis.
MAX_ROTATION_DEGREES = 60.0
ZOOM_RANGE = (1.0, 2.0)
DISPLACEMENT_STD_RANGE = (1.0, 26.0)
CONTROL_POINTS = 3
#: Authors' Adam: lr 1e-3, beta1 0.9 before the decay and 0.1 from its start, beta2 0.999.
ADAM_LR = 1e-3
ADAM_BETA1 = (0.9, 0.1)
ADAM_BETA2 = 0.999
CERTAINTIES = ("margin", "probability")


def sigmoid_rampup(epoch: float, length: int) -> float:
    """Laine & Aila's ramp (authors' ``ramps.sigmoid_rampup``): ``exp(-5 (1 - e / length)^2)``, 1 from ``length``."""
    if length == 0:
        return 1.0
    phase = 1.0 - min(max(epoch, 0.0), length) / length
    return math.exp(-5.0 * phase * phase)


def distillation_count(weight: float, consist_factor: float, num_pixels: int) -> int:
    """Pixels distilled per network: ``int(min(weight * consist_factor, 1) * num_pixels)`` (authors' rule)."""
    return int(min(weight * consist_factor, 1.0) * num_pixels)


def authors_schedule(epoch: int, num_epochs: int, decay_start_epoch: int) -> tuple[float, float]:
    """The authors' Adam ``(lr, beta1)`` at 0-based ``epoch`` of ``num_epochs``: (1e-3, 0.9) before
    ``decay_start_epoch``, then ``(1e-3 (E - e) / (E - start), 0.1)``."""
    if epoch < decay_start_epoch:
        return ADAM_LR, ADAM_BETA1[0]
    return ADAM_LR * (num_epochs - epoch) / (num_epochs - decay_start_epoch), ADAM_BETA1[1]


def random_flip(tensors: Sequence[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    """``tensors`` ``(B, C, *spatial)`` all flipped along one random subset of the spatial axes (uniform over the
    subsets: none, H, W, both in 2D), drawn on the device without a host read."""
    dims = tensors[0].dim() - 2
    code = torch.randint(0, 2**dims, (), generator=generator, device=generator.device)
    flipped = list(tensors)
    for axis in range(dims):
        bit = (code >> axis) & 1 == 1
        flipped = [torch.where(bit, tensor.flip(2 + axis), tensor) for tensor in flipped]
    return flipped


def deformation_grid(angles: torch.Tensor, zooms: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """The ``grid_sample`` grid ``(B, *spatial, dims)`` (align_corners) of ``source = c + R (x - c) / zoom + u(x)``.

    angles: ``(B,)`` radians, turning the plane of the last two axes; zooms: ``(B,)``; displacement:
    ``(B, dims, *spatial)`` u in pixels, axes in tensor order (D, H, W).
    """
    batch, dims, *spatial = displacement.shape
    half = [(size - 1) / 2 for size in spatial]
    axes = [torch.arange(size, device=displacement.device, dtype=displacement.dtype) - centre
            for size, centre in zip(spatial, half, strict=True)]
    offsets = torch.stack(torch.meshgrid(*axes, indexing="ij")).unsqueeze(0)
    view = (batch, *[1] * dims)
    offsets = offsets / zooms.to(displacement.dtype).view(view).unsqueeze(1)
    cos, sin = angles.cos().view(view), angles.sin().view(view)
    rows, cols = offsets[:, -2], offsets[:, -1]
    turned = torch.stack([cos * rows - sin * cols, sin * rows + cos * cols], dim=1)
    source = torch.cat([offsets[:, :-2].expand(batch, -1, *spatial), turned], dim=1) + displacement
    # Each axis divided by a Python number: nothing is copied from the host on a step.
    normalised = torch.stack([source[:, axis] / max(centre, 0.5) for axis, centre in enumerate(half)], dim=1)
    return normalised.flip(1).movedim(1, -1)  # grid_sample wants (x, y[, z]) = (W, H[, D]) last


def random_deformation(batch: int, spatial: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """One random elastic deformation grid per sample (rotation, zoom, smooth displacement), on the device."""
    dims = len(spatial)
    device = generator.device
    draws = torch.rand((batch, 3), generator=generator, device=device)
    angles = torch.deg2rad(MAX_ROTATION_DEGREES * draws[:, 0])
    zooms = ZOOM_RANGE[0] + (ZOOM_RANGE[1] - ZOOM_RANGE[0]) * draws[:, 1]
    stds = DISPLACEMENT_STD_RANGE[0] + (DISPLACEMENT_STD_RANGE[1] - DISPLACEMENT_STD_RANGE[0]) * draws[:, 2]
    coarse = torch.randn((batch, dims, *[CONTROL_POINTS] * dims), generator=generator, device=device)
    coarse = coarse * stds.view(batch, *[1] * (dims + 1))
    displacement = F.interpolate(coarse, size=tuple(spatial), mode="bicubic" if dims == 2 else "trilinear",
                                 align_corners=True)
    return deformation_grid(angles, zooms, displacement)


def deform(tensor: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``tensor`` ``(B, C, *spatial)`` resampled (float32, bilinear, border padding) at ``grid``."""
    return F.grid_sample(tensor.float(), grid.float(), mode="bilinear", padding_mode="border", align_corners=True)


@contextlib.contextmanager
def strong_pass(networks: Sequence[nn.Module]) -> Iterator[None]:
    """Dropout on (``dropout_enabled``) in every network that has it, restored afterwards."""
    switchable = [network for network in networks if hasattr(network, "dropout_enabled")]
    previous = [network.dropout_enabled for network in switchable]
    for network in switchable:
        network.dropout_enabled = True
    try:
        yield
    finally:
        for network, state in zip(switchable, previous, strict=True):
            network.dropout_enabled = state


def margin(logits: torch.Tensor) -> torch.Tensor:
    """Two-class logits' margin ``z_1 - z_0`` ``(B, *spatial)``: the sigmoid logit of the foreground."""
    return logits[:, 1].float() - logits[:, 0].float()


def pixel_kl(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel two-class KL(softmax(target) || softmax(logits)) ``(B, *spatial)``, the authors' binary KL."""
    log_target = F.log_softmax(target_logits.float(), dim=1)
    log_prediction = F.log_softmax(logits.float(), dim=1)
    return (log_target.exp() * (log_target - log_prediction)).sum(dim=1)


@register_method("rmd")
class RMDMethod(SmallLossMethod):
    """RMD: co-teaching on the weak pass plus certainty-selected mutual distillation on a strong pass.

    Options (defaults and sources in the module docstring): ``ramp_epochs`` (10), ``dropout`` (0.5),
    ``rampup_epochs`` (10), ``consist_factor`` (1), ``distill_weight`` (0.0009), ``deform_start_epoch`` (10),
    ``noise_std`` (0.02), ``certainty`` (``margin`` | ``probability``), ``authors_optimizer`` (False),
    ``decay_start_epoch`` (10), ``inference`` (``fused``).
    """

    def __init__(self, *, ramp_epochs: int = 10, dropout: float = 0.5, rampup_epochs: int = 10,
                 consist_factor: float = 1.0, distill_weight: float = 0.0009, deform_start_epoch: int = 10,
                 noise_std: float = 0.02, certainty: str = "margin", authors_optimizer: bool = False,
                 decay_start_epoch: int = 10, **options: Any) -> None:
        super().__init__(ramp_epochs=ramp_epochs, **options)
        self.dropout = check_range("dropout", dropout, 0.0, 1.0, high_open=True)
        self.rampup_epochs = check_at_least("rampup_epochs", rampup_epochs, 0)
        self.consist_factor = check_range("consist_factor", consist_factor, 0.0)
        self.distill_weight = check_range("distill_weight", distill_weight, 0.0)
        self.deform_start_epoch = check_at_least("deform_start_epoch", deform_start_epoch, 0)
        self.noise_std = check_range("noise_std", noise_std, 0.0)
        self.certainty = check_choice("certainty", certainty, CERTAINTIES)
        self.authors_optimizer = authors_optimizer
        self.decay_start_epoch = check_at_least("decay_start_epoch", decay_start_epoch, 0)

    def build_networks(self, factory: NetworkFactory) -> list[nn.Module]:
        """Two backbones with the strong pass's ``dropout`` (off in the weak pass)."""
        options = {"dropout": self.dropout} if self.dropout > 0.0 else {}
        try:
            return [factory(index, **options) for index in range(self.num_networks)]
        except TypeError as error:
            raise InputError(f"method 'rmd': backbone {factory.backbone!r} takes no dropout option (the strong "
                             f"pass needs one: unet_small, unet3d_small); set dropout: 0 to run without") from error

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """The protocol's SGD, or with ``authors_optimizer`` the authors' Adam (one group per network)."""
        if not self.authors_optimizer:
            return super().configure_optimizer(networks, settings)
        groups: list[dict[str, Any]] = [{"params": list(network.parameters())} for network in networks]
        groups.extend(self.parameter_groups())
        return torch.optim.Adam(groups, lr=ADAM_LR, betas=(ADAM_BETA1[0], ADAM_BETA2))

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """With ``authors_optimizer``: the epoch's lr and beta1 (derived from the epoch alone)."""
        if not self.authors_optimizer:
            return
        lr, beta1 = authors_schedule(ctx.epoch, ctx.num_epochs, self.decay_start_epoch)
        for group in ctx.optimizer.param_groups:
            group["lr"] = lr
            group["betas"] = (beta1, ADAM_BETA2)

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Each network's co-teaching loss plus its weighted distillation loss, summed over both networks."""
        weak1, weak2 = logits
        ce1 = pixel_cross_entropy(weak1, batch.labels)
        ce2 = pixel_cross_entropy(weak2, batch.labels)
        keep_ratio = self.keep_ratio(ctx)
        coteaching1, coteaching2, selected_by_1, selected_by_2 = peer_selected_losses(ce1, ce2, keep_ratio)

        weight = sigmoid_rampup(ctx.epoch, self.rampup_epochs)
        count = distillation_count(weight, self.consist_factor, batch.labels.numel())
        distill1, distill2 = self.distillation(weak1, weak2, batch.images, count, ctx)
        loss1 = coteaching1 + self.distill_weight * weight * distill1
        loss2 = coteaching2 + self.distill_weight * weight * distill2
        logs = {
            "coteaching_1": coteaching1.detach(),
            "coteaching_2": coteaching2.detach(),
            "distillation_1": distill1.detach(),
            "distillation_2": distill2.detach(),
            "keep_ratio": keep_ratio,
            "distill_ramp": weight,
            "distill_share": count / batch.labels.numel(),
            "selection_overlap": selected_share(selected_by_1 & selected_by_2, selected_by_1),
            **clean_share_log(selected_by_1, batch, "selected_clean_share_1"),
            **clean_share_log(selected_by_2, batch, "selected_clean_share_2"),
        }
        return LossOutput(loss=loss1 + loss2, logs=logs)

    def strong_view(self, images: torch.Tensor, weak1: torch.Tensor, weak2: torch.Tensor,
                    ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The strong pass's input and the weak logits moved alike: flip, then from ``deform_start_epoch`` noise
        on the image and one elastic deformation per sample shared by the three."""
        images, weak1, weak2 = random_flip([images, weak1, weak2], ctx.generator)
        if ctx.epoch >= self.deform_start_epoch:
            noise = torch.randn(images.shape, generator=ctx.generator, device=ctx.generator.device)
            images = images + self.noise_std * noise.to(images.dtype)
            grid = random_deformation(images.shape[0], images.shape[2:], ctx.generator)
            images, weak1, weak2 = deform(images, grid), deform(weak1, grid), deform(weak2, grid)
        return images, weak1, weak2

    def distillation(self, weak1: torch.Tensor, weak2: torch.Tensor, images: torch.Tensor, count: int,
                     ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(KL_1, KL_2): each network's strong-pass KL to its peer's moved weak logits over the ``count`` pixels
        where the peer is most certain; zeros when ``count`` is 0."""
        if count == 0:
            zero = weak1.new_zeros((), dtype=torch.float32)
            return zero, zero
        strong_input, target1, target2 = self.strong_view(images, weak1, weak2, ctx)
        with strong_pass(ctx.networks):
            strong1 = ctx.networks[0](strong_input)
            strong2 = ctx.networks[1](strong_input)
        certain1 = smallest_mask(self.uncertainty(strong1, target1), count)
        certain2 = smallest_mask(self.uncertainty(strong2, target2), count)
        distill1 = selected_mean(pixel_kl(target2, strong1), certain2)
        distill2 = selected_mean(pixel_kl(target1, strong2), certain1)
        return distill1, distill2

    def uncertainty(self, strong: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """certainty_k = (a_k - T(o_k))^2 per pixel on the margin or foreground probability, detached (smaller is
        more certain)."""
        strong, target = margin(strong.detach()), margin(target.detach())
        if self.certainty == "probability":
            strong, target = strong.sigmoid(), target.sigmoid()
        return (strong - target) ** 2

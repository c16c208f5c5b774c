"""Training-time augmentation (spec, "Training inputs per sample") and input scaling.

Geometry: a random 90-degree rotation (k in 0..3; k in {0, 2} for non-square images, so the batch keeps its
shape) followed by a horizontal flip with probability 1/2, applied identically to every field of a sample; for
square images the eight outcomes are the dihedral group, each with probability 1/8.
Volumes ``(B, C, D, H, W)`` get the same rotation and flip in their axial H-W plane (every slice alike).
Colour: torchvision's ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) semantics (factors drawn uniformly, the four
operations in a random order per image), applied on [0, 1] floats with torchvision's functional kernels restated
here, batched over the samples (equal to torchvision's ops image by image, ``tests/test_training_data.py``); grey
images get brightness and contrast only. Unlike the reference, which jitters uint8 tensors, the result is not
rounded to integers. Volumes and images with other than 1 or 3 channels (BraTS: 4 MRI sequences) get brightness
and contrast only, each channel on its own: brightness ``clamp(f x, 0, 1)``, contrast
``clamp(f x + (1 - f) mean_c, 0, 1)`` with ``mean_c`` the channel's mean over the volume (torchvision's grey
contrast, per channel, since the sequences are not colours of one picture).
Second view (network 2's input, run config ``second_view``): ``jitter`` (the colour jitter above, the paper's),
``gaussian_noise`` (the reference's BraTS loader: additive noise N(mean, std) on the [0, 1] intensity scale, i.e.
``x + 255 * N(mean, std)`` on the stored 0-255 scale, ``second_view_noise: [mean, std]``, default [0.05, 0.02];
not clamped) or ``none`` (the augmented image itself, the reference's MMIS loader).
All random numbers come from a caller's CPU ``torch.Generator``, so the draws are the same on every device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from common.errors import InputError
from methods.base import Batch

#: Intensity range of the stored uint8 images.
PIXEL_MAX = 255.0
#: Network 2's view: colour jitter (paper), additive Gaussian noise (reference BraTS loader), or none (MMIS).
SECOND_VIEWS = ("jitter", "gaussian_noise", "none")
#: The reference BraTS loader's additive noise N(mean, std), on the [0, 1] intensity scale.
DEFAULT_SECOND_VIEW_NOISE = (0.05, 0.02)


@dataclass(frozen=True)
class GeometryParams:
    """Per-sample geometry: ``rotations`` (B,) int64 quarter turns, ``flips`` (B,) bool horizontal flips."""

    rotations: torch.Tensor
    flips: torch.Tensor


@dataclass(frozen=True)
class JitterParams:
    """Per-sample colour jitter: ``factors`` (B, 4) float64 (brightness, contrast, saturation, hue) and
    ``order`` (B, 4) int64, a permutation of the four operations per sample."""

    factors: torch.Tensor
    order: torch.Tensor


def draw_geometry(batch_size: int, generator: torch.Generator, square: bool = True) -> GeometryParams:
    """Draw rotations (k in 0..3, or {0, 2} when not ``square``) and flips (p = 1/2) for ``batch_size`` samples."""
    if square:
        rotations = torch.randint(0, 4, (batch_size,), generator=generator)
    else:
        rotations = 2 * torch.randint(0, 2, (batch_size,), generator=generator)
    flips = torch.randint(0, 2, (batch_size,), generator=generator).bool()
    return GeometryParams(rotations=rotations, flips=flips)


def apply_geometry(tensor: torch.Tensor, params: GeometryParams) -> torch.Tensor:
    """Rotate by ``rotations`` quarter turns, then flip horizontally where ``flips``, over the last two axes.

    ``tensor`` is ``(B, ..., H, W)`` (volumes: ``(B, ..., D, H, W)``, rotated in the H-W plane); every field of a
    batch goes through this with the same ``params``.
    """
    result = torch.empty_like(tensor)
    for quarter_turns in range(4):
        selected = torch.nonzero(params.rotations == quarter_turns).flatten().to(tensor.device)
        if len(selected):
            result[selected] = torch.rot90(tensor[selected], quarter_turns, dims=(-2, -1))
    flipped = torch.nonzero(params.flips).flatten().to(tensor.device)
    if len(flipped):
        result[flipped] = result[flipped].flip(-1)
    return result


def jitter_ranges(strength: float) -> list[tuple[float, float]]:
    """ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) factor ranges: brightness, contrast, saturation, hue."""
    spread = 0.8 * strength
    hue = 0.2 * strength
    return [(max(0.0, 1.0 - spread), 1.0 + spread)] * 3 + [(-hue, hue)]


def draw_jitter(batch_size: int, generator: torch.Generator, strength: float) -> JitterParams:
    """Draw per-sample jitter factors (uniform in :func:`jitter_ranges`) and a random operation order."""
    uniform = torch.rand((batch_size, 4), generator=generator, dtype=torch.float64)
    low = torch.tensor([low for low, _ in jitter_ranges(strength)], dtype=torch.float64)
    high = torch.tensor([high for _, high in jitter_ranges(strength)], dtype=torch.float64)
    order = torch.stack([torch.randperm(4, generator=generator) for _ in range(batch_size)])
    return JitterParams(factors=low + (high - low) * uniform, order=order)


def _per_sample(factors: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(n,)`` float64 factors as float32 ``(n, 1, ..., 1)`` on ``like``'s device, broadcasting over a sample."""
    return factors.to(device=like.device, dtype=like.dtype).reshape(-1, *[1] * (like.dim() - 1))


def _blend(images: torch.Tensor, other: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """torchvision's ``_blend`` per sample: ``clamp(r x + (1 - r) y, 0, 1)``, with ``1 - r`` taken in float64
    before the cast and the multiply-add fused, as its ``mul(r).add_(y, alpha=1 - r)`` computes it."""
    return torch.addcmul(images.mul(_per_sample(ratios, images)), other,
                         _per_sample(1.0 - ratios, images)).clamp_(0.0, 1.0)


def _grey(images: torch.Tensor) -> torch.Tensor:
    """torchvision's luma ``0.2989 R + 0.587 G + 0.114 B`` of ``(n, 3, H, W)`` images, ``(n, 1, H, W)``."""
    red, green, blue = images.unbind(dim=1)
    return red.mul(0.2989).add_(green, alpha=0.587).add_(blue, alpha=0.114).unsqueeze(1)


def _rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """torchvision's RGB -> HSV of ``(n, 3, H, W)`` images on [0, 1] (the Pillow algorithm; grey pixels get
    hue and saturation 0)."""
    red, green, blue = images.unbind(dim=1)
    min_channel = torch.minimum(red, green).minimum(blue)
    max_channel = torch.maximum(red, green).maximum(blue)
    grey = max_channel == min_channel
    channel_range = max_channel - min_channel
    ones = torch.ones_like(max_channel)
    saturation = channel_range / torch.where(grey, ones, max_channel)
    divisor = torch.where(grey, ones, channel_range).unsqueeze_(dim=1)
    red_c, green_c, blue_c = ((max_channel.unsqueeze(dim=1) - images) / divisor).unbind(dim=1)
    max_is_not_red = max_channel != red
    max_is_green = max_channel == green
    hue_green = red_c.add(2.0).sub_(blue_c).mul_(max_is_green & max_is_not_red)
    hue_red = blue_c.sub_(green_c).mul_(~max_is_not_red)
    hue_blue = green_c.add_(4.0).sub_(red_c).mul_(max_is_not_red.logical_and_(max_is_green.logical_not_()))
    hue = hue_red.add_(hue_green).add_(hue_blue).mul_(1.0 / 6.0).add_(1.0).fmod_(1.0)
    return torch.stack((hue, saturation, max_channel), dim=1)


#: HSV -> RGB: for each hue sector (0..5), which of (v, p, q, t) each of R, G, B takes (torchvision's table).
#: Looked up per pixel with ``F.embedding`` (one row per sector), several times faster than advanced indexing.
_SECTOR_CHANNELS = ((0, 2, 1, 1, 3, 0), (3, 0, 0, 2, 1, 1), (1, 1, 3, 0, 0, 2))


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """torchvision's HSV -> RGB of ``(n, 3, H, W)``."""
    hue, saturation, value = hsv.unbind(dim=1)
    hue6 = hue.mul(6)
    sector = torch.floor(hue6)
    fraction = hue6.sub_(sector)
    sector = sector.to(dtype=torch.int32)
    s_times_f = saturation * fraction
    one_minus_s = 1.0 - saturation
    q = (1.0 - s_times_f).mul_(value).clamp_(0.0, 1.0)
    t = s_times_f.add_(one_minus_s).mul_(value).clamp_(0.0, 1.0)
    p = one_minus_s.mul_(value).clamp_(0.0, 1.0)
    sector.remainder_(6)
    vpqt = torch.stack((value, p, q, t), dim=1)
    sector_table = torch.tensor(_SECTOR_CHANNELS, dtype=torch.long, device=hsv.device).T.contiguous()
    select = F.embedding(sector, sector_table).permute(0, 3, 1, 2)
    return vpqt.gather(1, select)


def _brightness(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_brightness`` (any channel count): ``clamp(f x, 0, 1)``."""
    return images.mul(_per_sample(factors, images)).clamp_(0.0, 1.0)


def _contrast(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_contrast``: blend with the mean of the grey image (RGB: its luma)."""
    grey = _grey(images) if images.shape[1] == 3 else images
    return _blend(images, grey.mean(dim=(-3, -2, -1), keepdim=True), factors)


def _channel_contrast(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Per-channel contrast of volumes and multi-sequence images (module docstring):
    ``clamp(f x + (1 - f) mean_c, 0, 1)`` with each channel's mean over the sample."""
    mean = images.mean(dim=tuple(range(2, images.dim())), keepdim=True)
    return (_per_sample(factors, images) * images + _per_sample(1.0 - factors, images) * mean).clamp(0.0, 1.0)


def _saturation(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_saturation`` of RGB images: blend with the luma."""
    return _blend(images, _grey(images), factors)


def _hue(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_hue`` of RGB images: shift the hue by ``f`` (mod 1)."""
    hsv = _rgb_to_hsv(images)
    hue, saturation, value = hsv.unbind(dim=1)
    hue.add_(_per_sample(factors, hue)).remainder_(1.0)
    return _hsv_to_rgb(torch.stack((hue, saturation, value), dim=1))


#: The neutral factor of each operation (brightness, contrast, saturation, hue): such draws are skipped.
NEUTRAL_FACTORS = (1.0, 1.0, 1.0, 0.0)


def color_jitter(images: torch.Tensor, params: JitterParams) -> torch.Tensor:
    """Colour-jitter float ``(B, C, H, W)`` images (or ``(B, C, D, H, W)`` volumes) on the 0-255 scale; returns a
    new 0-255 float tensor.

    Batched on the images' device: for each of the four positions of the per-sample order, each operation runs
    once on the samples that have it there (neutral factors skipped), with torchvision's float kernels, so the
    result equals torchvision's functional ops applied image by image. Channels other than 3 (grey) get
    brightness and contrast only; volumes and channel counts other than 1 and 3 get the per-channel contrast.
    """
    per_channel = images.dim() != 4 or images.shape[1] not in (1, 3)
    rgb = images.shape[1] == 3 and not per_channel
    operations = (_brightness, _channel_contrast if per_channel else _contrast, _saturation, _hue)
    used = operations if rgb else operations[:2]
    factors = params.factors
    neutral = torch.tensor(NEUTRAL_FACTORS, dtype=factors.dtype)
    active = factors != neutral
    jittered = images / PIXEL_MAX
    for position in range(4):
        for operation, adjust in enumerate(used):
            chosen = torch.nonzero((params.order[:, position] == operation) & active[:, operation]).flatten()
            if len(chosen):
                on_device = chosen.to(images.device)
                jittered[on_device] = adjust(jittered[on_device], factors[chosen, operation])
    return jittered * PIXEL_MAX


class InputScaler:
    """Maps 0-255 float images to the network's input scale: ``raw`` (unchanged), ``unit`` (/255) or
    ``standardize`` ((x - mean_c) / std_c with per-channel statistics of the training images)."""

    def __init__(self, mode: str, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        if mode not in ("raw", "unit", "standardize"):
            raise InputError(f"run config key 'input_scaling': unknown mode {mode!r}")
        if mode == "standardize" and (mean is None or std is None):
            raise ValueError("standardize scaling needs the per-channel mean and std")
        self.mode = mode
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, mode: str, images: np.ndarray) -> InputScaler:
        """A scaler for ``mode`` whose statistics come from uint8 training images ``(N, [D,] H, W, C)``."""
        if mode != "standardize":
            return cls(mode)
        channels = images.shape[-1]
        mean = np.array([images[..., c].mean(dtype=np.float64) for c in range(channels)])
        std = np.array([images[..., c].std(dtype=np.float64) for c in range(channels)])
        if np.any(std == 0):
            raise InputError("run config key 'input_scaling': standardize needs training images whose channels "
                             "are not constant")
        return cls(mode, mean, std)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Scale float ``(B, C, H, W)`` images (or ``(B, C, D, H, W)`` volumes) given on the 0-255 scale."""
        if self.mode == "raw":
            return images
        if self.mode == "unit":
            return images / PIXEL_MAX
        shape = (1, -1, *[1] * (images.dim() - 2))
        mean = torch.as_tensor(self.mean, dtype=images.dtype, device=images.device).reshape(shape)
        std = torch.as_tensor(self.std, dtype=images.dtype, device=images.device).reshape(shape)
        return (images - mean) / std

    def describe(self) -> dict[str, object]:
        """JSON-ready description (mode and statistics) for the run summary."""
        return {
            "mode": self.mode,
            "mean": None if self.mean is None else self.mean.tolist(),
            "std": None if self.std is None else self.std.tolist(),
        }


def gaussian_noise_view(images: torch.Tensor, generator: torch.Generator, mean: float, std: float) -> torch.Tensor:
    """The reference BraTS loader's second view: ``images`` (0-255 float) plus N(mean, std) noise on the [0, 1]
    scale, one draw per element from ``generator`` (CPU), not clamped."""
    noise = torch.randn(images.shape, generator=generator, dtype=torch.float32) * std + mean
    return images + PIXEL_MAX * noise.to(images.device)


def second_view(images: torch.Tensor, generator: torch.Generator, kind: str, jitter_strength: float,
                noise: tuple[float, float] = DEFAULT_SECOND_VIEW_NOISE) -> torch.Tensor:
    """Network 2's input before scaling (see the module docstring): ``kind`` one of :data:`SECOND_VIEWS`."""
    if kind == "jitter":
        return color_jitter(images, draw_jitter(images.shape[0], generator, jitter_strength))
    if kind == "gaussian_noise":
        return gaussian_noise_view(images, generator, *noise)
    if kind == "none":
        return images
    raise InputError(f"run config key 'second_view': {kind!r} is not one of {', '.join(SECOND_VIEWS)}")


def augment_batch(fields: dict[str, torch.Tensor], generator: torch.Generator, scaler: InputScaler,
                  jitter_strength: float, with_jitter: bool, view: str = "jitter",
                  view_noise: tuple[float, float] = DEFAULT_SECOND_VIEW_NOISE) -> Batch:
    """Augment stacked training samples (see :meth:`training.data.TrainingSet.take`) into a method's Batch.

    Draws the geometry for every sample, then (only ``with_jitter``) network 2's view (:func:`second_view`,
    ``view``: colour jitter by default), from ``generator``; the same rotation and flip go to image, noisy and
    clean labels, distance map and superpixels.
    """
    images = fields["images"]
    batch_size, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    geometry = draw_geometry(batch_size, generator, square=height == width)
    images = apply_geometry(images, geometry).float()
    jittered = second_view(images, generator, view, jitter_strength, view_noise) if with_jitter else images
    scaled = scaler(images)
    return Batch(
        images=scaled,
        jittered=scaler(jittered) if with_jitter else scaled,
        labels=apply_geometry(fields["labels"], geometry).long(),
        distance=apply_geometry(fields["distance"], geometry).float(),
        superpixels=apply_geometry(fields["superpixels"], geometry).long(),
        clean_labels=apply_geometry(fields["clean_labels"], geometry).long(),
    )

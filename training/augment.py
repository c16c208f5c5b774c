"""Training-time augmentation (spec, "Training inputs per sample") and input scaling.

Geometry: a random 90-degree rotation (k in 0..3; k in {0, 2} for non-square images, so the batch keeps its
shape) followed by a horizontal flip with probability 1/2, applied identically to every field of a sample; for
square images the eight outcomes are the dihedral group, each with probability 1/8.
Volumes ``(B, C, D, H, W)`` get the same rotation and flip in their axial H-W plane (every slice alike).
Colour: torchvision's ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) semantics (factors drawn uniformly, the four
operations in a random order per image), applied on [0, 1] floats with torchvision's functional kernels; grey
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
from torchvision.transforms.v2 import functional as TF

from common.errors import InputError
from methods.base import Batch

#: Intensity range of the stored uint8 images.
PIXEL_MAX = 255.0
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
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


def _adjust_channels(image: torch.Tensor, operation: int, factor: float) -> torch.Tensor:
    """Brightness or contrast of one ``(C, ...)`` image on [0, 1], each channel on its own (module docstring)."""
    if operation == BRIGHTNESS:
        return (image * factor).clamp(0.0, 1.0)
    mean = image.mean(dim=tuple(range(1, image.dim())), keepdim=True)
    return (factor * image + (1.0 - factor) * mean).clamp(0.0, 1.0)


def color_jitter(images: torch.Tensor, params: JitterParams) -> torch.Tensor:
    """Colour-jitter float ``(B, C, H, W)`` images (or ``(B, C, D, H, W)`` volumes) on the 0-255 scale; returns a
    new 0-255 float tensor.

    Channels other than 3 (grey) get brightness and contrast only; neutral factors are skipped. Volumes and
    channel counts other than 1 and 3 use :func:`_adjust_channels`.
    """
    per_channel = images.dim() != 4 or images.shape[1] not in (1, 3)
    rgb = images.shape[1] == 3 and not per_channel
    neutral = (1.0, 1.0, 1.0, 0.0)
    jittered = []
    for image, factors, order in zip(images / PIXEL_MAX, params.factors.tolist(), params.order.tolist(), strict=True):
        for operation in order:
            factor = factors[operation]
            if factor == neutral[operation] or (not rgb and operation in (SATURATION, HUE)):
                continue
            if per_channel:
                image = _adjust_channels(image, operation, factor)
            elif operation == BRIGHTNESS:
                image = TF.adjust_brightness(image, factor)
            elif operation == CONTRAST:
                image = TF.adjust_contrast(image, factor)
            elif operation == SATURATION:
                image = TF.adjust_saturation(image, factor)
            else:
                image = TF.adjust_hue(image, factor)
        jittered.append(image)
    return torch.stack(jittered) * PIXEL_MAX


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

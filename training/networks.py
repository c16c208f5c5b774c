"""Segmentation backbones, built by name: the reference's small bilinear U-Net, its narrow and 3D twins and two
smp models.

Every 2D backbone maps ``(B, in_channels, H, W)`` float images to ``(B, num_classes, H, W)`` logits; H and W must
be multiples of 32 for the smp encoders (16 for ``unet_small`` and ``unet_narrow``). ``unet3d_small`` maps
``(B, in_channels, D, H, W)`` volumes to ``(B, num_classes, D, H, W)`` logits (D, H, W multiples of 16).
Pretrained weights are never downloaded (``encoder_weights=None``), so initialisation uses the global torch RNG
and is reproducible under ``torch.manual_seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import InputError
from common.registry import Registry

#: Layers per spatial dimensionality: convolution, batch norm, max pooling, interpolation mode.
_LAYERS: dict[int, tuple[type[nn.Module], type[nn.Module], type[nn.Module], str]] = {
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, "bilinear"),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, "trilinear"),
}


#: Shares of SmallUNet's ``dropout`` per encoder level, input level first (RMD's Unet2D rates over its 0.5).
_DROPOUT_SHARES = (0.1, 0.2, 0.4, 0.6, 1.0)


class DoubleConv(nn.Sequential):
    """Two (3x3[x3] convolution with bias -> BatchNorm -> ReLU) blocks; ``mid_channels`` defaults to
    ``out_channels``; ``dims`` 2 (images) or 3 (volumes)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None, dims: int = 2) -> None:
        conv, norm, _, _ = _LAYERS[dims]
        mid_channels = mid_channels or out_channels
        super().__init__(
            conv(in_channels, mid_channels, kernel_size=3, padding=1),
            norm(mid_channels),
            nn.ReLU(inplace=True),
            conv(mid_channels, out_channels, kernel_size=3, padding=1),
            norm(out_channels),
            nn.ReLU(inplace=True),
        )


class DownBlock(nn.Sequential):
    """2x2[x2] max pooling followed by a :class:`DoubleConv`."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2) -> None:
        super().__init__(_LAYERS[dims][2](2), DoubleConv(in_channels, out_channels, dims=dims))


class UpBlock(nn.Module):
    """Bi-/trilinear 2x upsampling (align_corners), padding to the skip's size, concatenation, :class:`DoubleConv`."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2) -> None:
        super().__init__()
        self.mode = _LAYERS[dims][3]
        self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, dims=dims)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``deep``, pad it to ``skip``'s spatial size, concatenate ``[skip, deep]`` and convolve."""
        deep = F.interpolate(deep, scale_factor=2, mode=self.mode, align_corners=True)
        padding: list[int] = []
        for axis in range(deep.dim() - 1, 1, -1):  # F.pad lists the last axis first
            missing = skip.shape[axis] - deep.shape[axis]
            padding += [missing // 2, missing - missing // 2]
        deep = F.pad(deep, padding)
        return self.conv(torch.cat([skip, deep], dim=1))


class SmallUNet(nn.Module):
    """The GSD-Net reference's bilinear U-Net with base width 16 (encoder 16-32-64-128-128, no dropout).

    About 1.08 M parameters for 3 input channels and 2 classes (271,458 at base width 8, ``unet_narrow``).
    ``dims=3`` builds the same design for volumes (3x3x3 convolutions, BatchNorm3d, 2x2x2 max pooling, trilinear
    upsampling): 3,239,890 parameters for 4 input channels (BraTS's sequences) and 2 classes at base width 16.

    ``dropout`` (default 0, none) is an optional element-wise dropout on the five encoder outputs, at rates
    ``dropout`` times 0.1, 0.2, 0.4, 0.6, 1 from the input level to the bottleneck (RMD's Unet2D: 0.05, 0.1, 0.2,
    0.3, 0.5, i.e. ``dropout = 0.5``). It acts only in train mode while :attr:`dropout_enabled` is set (RMD's
    strong pass sets it); otherwise the network computes exactly as without it and draws no random numbers.
    """

    def __init__(self, in_channels: int, num_classes: int = 2, base_width: int = 16, dims: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"SmallUNet: dropout must be in [0, 1), got {dropout}")
        self.dropout_rates = [dropout * share for share in _DROPOUT_SHARES]
        self.dropout_enabled = False
        widths = [base_width * 2**level for level in range(5)]
        self.inc = DoubleConv(in_channels, widths[0], dims=dims)
        self.downs = nn.ModuleList([
            DownBlock(widths[0], widths[1], dims),
            DownBlock(widths[1], widths[2], dims),
            DownBlock(widths[2], widths[3], dims),
            DownBlock(widths[3], widths[4] // 2, dims),
        ])
        self.ups = nn.ModuleList([
            UpBlock(widths[4], widths[3] // 2, dims),
            UpBlock(widths[3], widths[2] // 2, dims),
            UpBlock(widths[2], widths[1] // 2, dims),
            UpBlock(widths[1], widths[0], dims),
        ])
        self.head = _LAYERS[dims][0](widths[0], num_classes, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes, H, W)``."""
        features = [self._dropped(self.inc(images), 0)]
        for level, down in enumerate(self.downs, start=1):
            features.append(self._dropped(down(features[-1]), level))
        decoded = features.pop()
        for up in self.ups:
            decoded = up(decoded, features.pop())
        return self.head(decoded)

    def _dropped(self, features: torch.Tensor, level: int) -> torch.Tensor:
        """``features`` of encoder ``level`` after its dropout, when dropout is on (train mode, flag set)."""
        rate = self.dropout_rates[level]
        if self.dropout_enabled and self.training and rate > 0.0:
            return F.dropout(features, rate, training=True)
        return features


#: Base width of ``unet_narrow``: the reference's design at half its width (encoder 8-16-32-64-64), about a quarter
#: of its parameters and 2.3-2.5x the CPU training rate at 64^2 (docs/benchmarks.md); the default profile's
#: generated 2D sets train on it.
NARROW_BASE_WIDTH = 8

#: Backbone factories by name: ``factory(in_channels, num_classes, **options)``.
BACKBONES: Registry[Callable[..., nn.Module]] = Registry("backbone")


@BACKBONES.register("unet_small")
def _unet_small(in_channels: int, num_classes: int, **options: Any) -> nn.Module:
    return SmallUNet(in_channels, num_classes, **options)


@BACKBONES.register("unet_narrow")
def _unet_narrow(in_channels: int, num_classes: int, **options: Any) -> nn.Module:
    return SmallUNet(in_channels, num_classes, base_width=NARROW_BASE_WIDTH, **options)


@BACKBONES.register("unet3d_small")
def _unet3d_small(in_channels: int, num_classes: int, **options: Any) -> nn.Module:
    return SmallUNet(in_channels, num_classes, dims=3, **options)


@BACKBONES.register("unetpp")
def _unetpp(in_channels: int, num_classes: int) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.UnetPlusPlus(encoder_name="resnet34", encoder_weights=None, in_channels=in_channels,
                            classes=num_classes)


@BACKBONES.register("mit_unet")
def _mit_unet(in_channels: int, num_classes: int) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.Unet(encoder_name="mit_b0", encoder_weights=None, in_channels=in_channels, classes=num_classes)


#: Per backbone: its inputs' spatial dimensionality, and the multiple every spatial side must be (SmallUNet: four
#: 2x poolings need sides >= 16; smp's encoders downsample 32x and need multiples of 32).
_INPUT_GEOMETRY = {"unet_small": (2, 16), "unet_narrow": (2, 16), "unet3d_small": (3, 16), "unetpp": (2, 32),
                   "mit_unet": (2, 32)}


def check_input_size(backbone: str, spatial_shape: tuple[int, ...]) -> None:
    """InputError naming ``working_size`` unless ``backbone`` can take inputs of ``spatial_shape``."""
    dims, side = _INPUT_GEOMETRY[backbone]
    if len(spatial_shape) != dims:
        raise InputError(f"backbone {backbone!r} takes {dims}D inputs, but the data set's working_size "
                         f"{list(spatial_shape)} is {len(spatial_shape)}D")
    smp_backbone = side == 32
    if any(size < side or (smp_backbone and size % side) for size in spatial_shape):
        need = f"multiples of {side}" if smp_backbone else f"at least {side} (four 2x poolings)"
        raise InputError(f"working_size {list(spatial_shape)}: backbone {backbone!r} needs every side {need}")


def available_backbones() -> list[str]:
    """Sorted names accepted by :func:`build_network`."""
    return BACKBONES.names()


def build_network(backbone: str, in_channels: int, num_classes: int = 2, **options: Any) -> nn.Module:
    """A freshly initialised network ``backbone`` for ``in_channels`` inputs and ``num_classes`` logit channels.

    ``unet_small``: :class:`SmallUNet`; ``unet_narrow``: :class:`SmallUNet` at base width
    :data:`NARROW_BASE_WIDTH`; ``unet3d_small``: :class:`SmallUNet` with ``dims=3``; ``unetpp``: smp
    UNet++ with a ResNet-34 encoder; ``mit_unet``: smp U-Net with a Mix Vision Transformer (MiT-B0) encoder (smp 0.6
    accepts any ``in_channels`` for it).
    ``options`` go to the backbone's constructor. An unknown name is an :class:`InputError` listing the known ones.
    """
    factory = BACKBONES.get(backbone)
    if in_channels < 1 or num_classes < 1:
        raise InputError(f"backbone {backbone!r}: in_channels and num_classes must be >= 1, "
                         f"got {in_channels} and {num_classes}")
    return factory(in_channels, num_classes, **options)

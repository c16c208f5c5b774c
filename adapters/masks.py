"""Mask binarisation and resizing, shared by every adapter and by noise made at the original size."""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from common.errors import InputError

#: Share of pixels allowed strictly between 30 and 225 (on 0-255) before a mask counts as non-binary.
NON_BINARY_TOLERANCE = 0.01

MASK_RULE = (
    "foreground where value > 127 on 0-255 (RGB masks: channel mean); 0/1 masks taken as labels; "
    f"rejected as non-binary if more than {NON_BINARY_TOLERANCE:.0%} of pixels lie strictly between 30 and 225"
)


def binarize_mask(values: np.ndarray, source: str) -> np.ndarray:
    """Binarise a 2D (or RGB ``(H, W, 3|4)``) mask read from ``source`` by :data:`MASK_RULE`; bool ``(H, W)``.

    Raises InputError naming ``source`` for a non-binary mask (e.g. a grey image given as a mask).
    """
    array = np.asarray(values)
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2:
        raise InputError(f"{source}: a mask must be a 2D image, got shape {np.asarray(values).shape}")
    array = array.astype(np.float64)
    if array.size and array.max() <= 1.0:
        return array >= 0.5
    grey_share = float(np.mean((array > 30) & (array < 225)))
    if grey_share > NON_BINARY_TOLERANCE:
        raise InputError(
            f"{source}: mask is not binary ({grey_share:.1%} of pixels are between 30 and 225; rule: {MASK_RULE})"
        )
    return array > 127


def resize_mask(mask: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Resize a binary mask to ``size`` by linear interpolation and a >= 0.5 threshold; uint8 in {0, 1}.

    The identical path serves clean masks and noisy masks made at the original size.
    """
    mask = np.asarray(mask, dtype=bool)
    if tuple(mask.shape) == tuple(size):
        return mask.astype(np.uint8)
    resized = resize(mask.astype(np.float32), size, order=1, anti_aliasing=False, preserve_range=True)
    return (resized >= 0.5).astype(np.uint8)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, C)`` uint8 image to ``size`` with anti-aliasing; uint8 ``(h, w, C)``."""
    if tuple(image.shape[:2]) == tuple(size):
        return np.asarray(image, dtype=np.uint8)
    resized = resize(image.astype(np.float32), (*size, image.shape[2]), order=1, anti_aliasing=True,
                     preserve_range=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)

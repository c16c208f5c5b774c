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
    """Resize a binary mask (2D, or a 3D volume) to ``size`` by (tri)linear interpolation and a >= 0.5 threshold;
    uint8 in {0, 1}.

    The identical path serves clean masks and noisy masks made at the original size.
    """
    mask = np.asarray(mask, dtype=bool)
    if tuple(mask.shape) == tuple(size):
        return mask.astype(np.uint8)
    resized = resize(mask.astype(np.float32), size, order=1, anti_aliasing=False, preserve_range=True)
    return (resized >= 0.5).astype(np.uint8)


def resize_image(image: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Resize an ``(H, W, C)`` uint8 image (or a ``(D, H, W, C)`` volume, ``size`` then a triple) to ``size`` with
    anti-aliasing, per channel; uint8 ``(h, w, C)`` (``(d, h, w, C)``)."""
    if tuple(image.shape[:-1]) == tuple(size):
        return np.asarray(image, dtype=np.uint8)
    resized = resize(image.astype(np.float32), (*size, image.shape[-1]), order=1, anti_aliasing=True,
                     preserve_range=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def consensus_mask(raters: np.ndarray) -> np.ndarray:
    """The consensus of ``R`` raters' masks ``(R, ...)``: foreground where at least half of them mark it; bool.

    With four raters, two agreeing raters suffice. A multi-rater sample's ``mask`` (used for noise statistics and
    the Table 3 comparison) is this consensus; training labels and evaluation use the raters themselves.
    """
    raters = np.asarray(raters, dtype=bool)
    if raters.ndim < 3 or len(raters) == 0:
        raise ValueError(f"consensus_mask needs (R, H, W[, D]) masks with R >= 1, got shape {raters.shape}")
    return 2 * raters.sum(axis=0) >= len(raters)

"""Mask binarisation and resizing, shared by every adapter and by noise made at the original size."""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from common.errors import InputError

#: Default share of pixels allowed strictly between 30 and 225 (on 0-255) before a mask counts as non-binary
#: (adapter option and ``python -m noise`` flag ``max_grey_share``).
DEFAULT_MAX_GREY_SHARE = 0.01

#: The VOC "void" palette index (object borders, don't-care pixels): not foreground.
VOID_INDEX = 255

MASK_RULE = (
    "values ⊆ {0, 1}: taken as labels; otherwise scaled to 0-255 by the file's range (8-bit: 255, 16-bit: 65535), "
    "RGB masks by their channel mean, and foreground where > 127; rejected as non-binary if more than "
    "max_grey_share (default 1 %) of pixels lie strictly between 30 and 225, or if grey pixels exist but none is "
    "foreground; palette masks: index 0 and the VOC void index 255 background, every other index foreground; "
    "an alpha channel that is not fully opaque is refused unless option mask_channel names the channel to read"
)


def format_share(share: float, limit: float) -> str:
    """``share`` as a percentage with as many digits as it takes to tell it from ``limit`` (e.g. "1.0009 %")."""
    for digits in range(1, 8):
        text = f"{share * 100:.{digits}f}"
        if share == limit or text != f"{limit * 100:.{digits}f}":
            return f"{text} %"
    return f"{share * 100:.8f} %"


def check_grey_share(max_grey_share: object, key: str = "max_grey_share") -> float:
    """``max_grey_share`` checked to be a number in [0, 1); InputError naming ``key`` otherwise."""
    if isinstance(max_grey_share, bool) or not isinstance(max_grey_share, int | float) \
            or not 0 <= max_grey_share < 1:
        raise InputError(f"{key}: must be a number in [0, 1), got {max_grey_share!r}")
    return float(max_grey_share)


def binarize_mask(values: np.ndarray, source: str, max_grey_share: float = DEFAULT_MAX_GREY_SHARE,
                  value_range: float = 255.0) -> np.ndarray:
    """Binarise a 2D (or RGB ``(H, W, 3)``) mask read from ``source`` by :data:`MASK_RULE`; bool ``(H, W)``.

    ``value_range`` is the top of the stored range (255 for 8-bit, 65535 for 16-bit files). Raises InputError
    naming ``source`` for a non-binary mask (e.g. a grey image given as a mask) or values outside the range.
    """
    array = np.asarray(values)
    if array.dtype == bool and array.ndim == 2:
        return array
    if array.dtype.kind not in "uif":
        raise InputError(f"{source}: mask values must be real numbers, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 3:
        array = array.mean(axis=-1)
    if array.ndim != 2:
        raise InputError(f"{source}: a mask must be a 2D image, got shape {np.asarray(values).shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(f"{source}: mask holds NaN or infinite values")
    if array.size and np.isin(array, (0.0, 1.0)).all():
        return array == 1.0
    if array.size and array.max() <= 1.0:
        raise InputError(f"{source}: mask values lie in 0..1 ({array.min():g}..{array.max():g}) but are not 0/1 "
                         "labels")
    if array.size and (array.min() < 0 or array.max() > value_range):
        raise InputError(f"{source}: mask values {array.min():g}..{array.max():g} lie outside 0..{value_range:g}")
    scaled = array * (255.0 / value_range)
    grey = (scaled > 30) & (scaled < 225)
    grey_share = float(np.mean(grey)) if array.size else 0.0
    if grey_share > max_grey_share:
        raise InputError(f"{source}: mask is not binary ({format_share(grey_share, max_grey_share)} of pixels lie "
                         f"strictly between 30 and 225 on 0-255, more than max_grey_share "
                         f"{format_share(max_grey_share, max_grey_share)})")
    mask = scaled > 127
    if grey.any() and not mask.any():
        raise InputError(f"{source}: mask is not binary ({format_share(grey_share, max_grey_share)} of pixels lie "
                         "strictly between 30 and 225 on 0-255 and none is foreground (> 127); a coloured or dim "
                         "label?)")
    return mask


def binary_labels(values: np.ndarray, source: str) -> np.ndarray:
    """A label array (HDF5, NIfTI, pickle) that must be binary: values ⊆ {0, 1} or ⊆ {0, 255}; bool, same shape.

    Anything else (0.5, {0, 2}, NaN) is an InputError naming ``source`` and the values found.
    """
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "uif":
        raise InputError(f"{source}: labels must be real numbers, got dtype {array.dtype}")
    found = np.unique(array)
    if np.isin(found, (0, 1)).all() or np.isin(found, (0, 255)).all():
        return array != 0
    shown = ", ".join(f"{value:g}" for value in found[:6].tolist()) + (", ..." if len(found) > 6 else "")
    raise InputError(f"{source}: labels are not binary (values {shown}; expected 0/1 or 0/255)")


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

"""Random dilation/erosion label noise S_DE (spec, "Label-noise simulation"; the authors' ``_DilateErodeNoise``).

Per sample: with probability 1/2 dilate, else erode, by a radius r ~ U(lo, hi) (the choice is drawn first, then r),
by thresholding the Euclidean distance transform: dilate = ``EDT(1 - y) < r``, erode = ``1 - (EDT(y) < r)``.
2D and 3D alike. The transform runs on a window around the foreground (exact: every distance that matters is
to a point inside it). A mask without foreground stays empty; a mask without background is not eroded.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import distance_transform_edt


def _window(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """The foreground's bounding box grown by ``margin``, clipped to the array (the mask must be non-empty)."""
    coordinates = np.nonzero(mask)
    return tuple(slice(max(int(axis.min()) - margin, 0), min(int(axis.max()) + 1 + margin, size))
                 for axis, size in zip(coordinates, mask.shape, strict=True))


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels closer than ``radius`` to the foreground: ``EDT(1 - y) < r``; bool, same shape."""
    mask = np.asarray(mask, dtype=bool)
    result = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return result
    window = _window(mask, math.ceil(radius) + 1)
    result[window] = distance_transform_edt(~mask[window]) < radius
    return result


def erode(mask: np.ndarray, radius: float) -> np.ndarray:
    """Foreground pixels at least ``radius`` from the background: ``1 - (EDT(y) < r)``; bool, same shape."""
    mask = np.asarray(mask, dtype=bool)
    if mask.all():
        return mask.copy()
    result = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return result
    window = _window(mask, 1)
    result[window] = ~(distance_transform_edt(mask[window]) < radius)
    return result


def dilate_erode_noise(mask: np.ndarray, radius_range: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """S_DE on a 2D or 3D mask: dilate (``rng.random() > 0.5``, as the authors) or erode by r ~ U(lo, hi); bool."""
    low, high = radius_range
    dilates = rng.random() > 0.5
    radius = low + (high - low) * rng.random()
    return dilate(mask, radius) if dilates else erode(mask, radius)

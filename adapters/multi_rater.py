"""Shared pieces of the multi-rater adapters (lidc, lidc_pickle, mmis): a sample from its raters' masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adapters.base import Sample
from adapters.masks import consensus_mask
from common.errors import InputError


def rater_sample(name: str, image: np.ndarray, raters: Sequence[np.ndarray], sources: Sequence[str],
                 split: str | None, group: str | None, allow_empty: bool) -> Sample:
    """A multi-rater :class:`Sample`: ``raters`` (bool ``(H, W)`` each, read from ``sources``) stacked in rater order,
    ``mask`` their consensus (:func:`adapters.masks.consensus_mask`).

    A rater mask whose size differs from the image is an InputError naming its source; so is an empty consensus
    unless ``allow_empty`` (a single rater's empty mask is always accepted: raters may see no lesion).
    """
    height, width = image.shape[:2]
    for rater, source in zip(raters, sources, strict=True):
        if rater.shape != (height, width):
            raise InputError(f"{source}: mask size {rater.shape[0]}x{rater.shape[1]} (HxW) differs from the image "
                             f"size {height}x{width} of sample {name!r}")
    stacked = np.stack([np.asarray(rater, dtype=bool) for rater in raters])
    mask = consensus_mask(stacked)
    if not allow_empty and not mask.any():
        raise InputError(f"{sources[0]}: the consensus of the {len(stacked)} rater masks of sample {name!r} is empty; "
                         "set option allow_empty: true to accept")
    return Sample(name=name, image=image, mask=mask, split=split, raters=stacked, group=group)


def finite_intensities(values: np.ndarray, source: str) -> np.ndarray:
    """``values`` as float64; no values, NaN or inf are an InputError naming ``source``."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0 or not np.isfinite(array).all():
        raise InputError(f"{source}: intensities must be finite numbers (found NaN/inf or no values)")
    return array


def intensity_window(values: np.ndarray, source: str, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """The ``low``/``high`` percentiles of ``values`` (float64), the window :func:`to_uint8` maps to 0..255.

    Non-finite values are an InputError naming ``source``.
    """
    array = finite_intensities(values, source)
    lo, hi = np.percentile(array, [low, high])
    return float(lo), float(hi)


def to_uint8(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """``values`` clipped to ``window`` and mapped linearly to 0..255 (rounded); all zeros where the window is empty."""
    lo, hi = window
    array = np.asarray(values, dtype=np.float64)
    if hi <= lo:
        return np.zeros(array.shape, dtype=np.uint8)
    scaled = np.clip((array - lo) / (hi - lo), 0.0, 1.0) * 255.0
    return np.rint(scaled).astype(np.uint8)

"""Capped distance maps of noisy masks (spec Eq. 8), the input of the GDA weights (Eq. 9)."""

from __future__ import annotations

import os

import numpy as np
from scipy.ndimage import distance_transform_edt

from common.atomic import write_npz
from common.npz import read_npz

#: d_max of Eq. 8.
DISTANCE_CAP = 10


def capped_distance_map(mask: np.ndarray, cap: int = DISTANCE_CAP) -> np.ndarray:
    """Eq. 8, reference form: ``floor(min(EDT(y), cap) + min(EDT(1 - y), cap))`` as uint8, 2D or 3D.

    Each pixel gets its Euclidean distance to the nearest pixel of the other class (one of the two terms is 0),
    capped at ``cap``; pixels beside the boundary get 1. Where the other class is absent (an empty or full mask)
    the distance counts as infinite, so every pixel gets ``cap``.
    """
    if not 1 <= cap <= 255:
        raise ValueError(f"cap must lie in [1, 255], got {cap}")
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return np.full(mask.shape, cap, dtype=np.uint8)
    inside = np.minimum(distance_transform_edt(mask), cap)
    outside = np.minimum(distance_transform_edt(~mask), cap)
    return np.floor(inside + outside).astype(np.uint8)


def write_distance_maps(noisy_masks_npz: str | os.PathLike[str], out_path: str | os.PathLike[str],
                        cap: int = DISTANCE_CAP) -> None:
    """Write ``distance`` uint8 ``(N, H, W)`` (volumes: ``(N, D, H, W)``; Eq. 8 of each noisy mask) and ``names``
    to ``out_path``."""
    arrays = read_npz(noisy_masks_npz, ("masks", "names"))
    masks, names = arrays["masks"], arrays["names"]
    distance = np.zeros(masks.shape, dtype=np.uint8)
    for index, mask in enumerate(masks):
        distance[index] = capped_distance_map(mask, cap)
    write_npz(out_path, distance=distance, names=names)

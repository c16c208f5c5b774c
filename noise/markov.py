"""Markov boundary label noise M(T, theta1, theta2[, theta3]) (spec, "Label-noise simulation"; Yao et al. 2023).

Semantics follow the authors' generator (GSD-Net ``scripts/generate_simulated_noise.py``): draw the T step kinds
first (``rng.random(T) < theta1`` expands), then at each step decide every candidate of the step's starting mask at
once with one ``rng.random(n_candidates)`` draw in row-major order, flipping those below theta2. Candidates of an
expanding step are background pixels 4-adjacent (6-adjacent in 3D) to the foreground; of a shrinking step,
foreground pixels 4-adjacent to the background. Neighbours outside the image do not exist.

Speed: every candidate lies in the foreground's bounding box grown by one pixel, and the row-major order of a
sub-window is the global row-major order restricted to it, so each step works on that window only. The box is kept
as a superset (grown by the pixels an expanding step adds), which leaves the result bit-identical to working on the
whole image.

A mask without foreground (or without background) has no candidates: nothing flips. (The authors' scipy EDT would
invent a point of the other class beyond the first row there; this generator does not.)
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

#: 2D smoothing, OpenCV's ``GaussianBlur(mask, (5, 5), 2, 2)``: sigma 2, radius 2, border reflect-101.
BLUR_2D = {"sigma": 2.0, "truncate": 1.0, "mode": "mirror"}
#: 3D smoothing, as the authors' 3D path: ``gaussian_filter(mask_uint8, 1, mode="nearest")``.
BLUR_3D = {"sigma": 1.0, "mode": "nearest"}
#: Half of 255: the smoothed 0/255 mask is foreground above it.
HALF_LEVEL = 127.5


def _has_neighbour(values: np.ndarray) -> np.ndarray:
    """True where at least one axis-aligned neighbour (inside the array) is True."""
    result = np.zeros_like(values)
    for axis in range(values.ndim):
        upper = [slice(None)] * values.ndim
        lower = [slice(None)] * values.ndim
        upper[axis] = slice(1, None)
        lower[axis] = slice(None, -1)
        result[tuple(lower)] |= values[tuple(upper)]
        result[tuple(upper)] |= values[tuple(lower)]
    return result


def _foreground_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-axis ``(first, last + 1)`` of the foreground, or None for an empty mask."""
    coordinates = np.nonzero(mask)
    if coordinates[0].size == 0:
        return None
    low = np.array([axis_coordinates.min() for axis_coordinates in coordinates])
    high = np.array([axis_coordinates.max() + 1 for axis_coordinates in coordinates])
    return low, high


def markov_chain_steps(mask: np.ndarray, steps: int, theta1: float, theta2: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Run the T expand/shrink boundary steps of M(T, theta1, theta2) on a 2D or 3D mask; bool, same shape.

    No random flip and no smoothing (see :func:`markov_boundary_noise`). With theta2 = 0 nothing changes.
    """
    noisy = np.array(mask, dtype=bool)
    shape = np.array(noisy.shape)
    expand_steps = rng.random(steps) < theta1
    box = _foreground_box(noisy)
    if box is None:
        return noisy
    low, high = box
    for expand in expand_steps:
        window_low = np.maximum(low - 1, 0)
        window_high = np.minimum(high + 1, shape)
        window = noisy[tuple(slice(a, b) for a, b in zip(window_low, window_high, strict=True))]
        candidates = _has_neighbour(window) & ~window if expand else _has_neighbour(~window) & window
        flat_candidates = np.flatnonzero(candidates)
        chosen = flat_candidates[rng.random(flat_candidates.size) < theta2]
        if chosen.size == 0:
            continue
        coordinates = np.unravel_index(chosen, window.shape)
        window[coordinates] = expand
        if expand:
            low = np.minimum(low, window_low + [axis_coordinates.min() for axis_coordinates in coordinates])
            high = np.maximum(high, window_low + [axis_coordinates.max() + 1 for axis_coordinates in coordinates])
    return noisy


def _smooth_2d(mask: np.ndarray) -> np.ndarray:
    """Blur the 0/255 mask (5x5, sigma 2, reflect-101) and threshold above half, on a window around the foreground.

    Outside the foreground's box grown by 2 the blur is 0; a window grown by 4 keeps even the mirrored border
    values exact, so the result equals blurring the whole image.
    """
    smoothed = np.zeros(mask.shape, dtype=bool)
    box = _foreground_box(mask)
    if box is None:
        return smoothed
    low, high = box
    window = tuple(slice(max(a - 4, 0), min(b + 4, size)) for a, b, size in zip(low, high, mask.shape, strict=True))
    blurred = gaussian_filter(mask[window].astype(np.float64) * 255.0, **BLUR_2D)
    smoothed[window] = blurred > HALF_LEVEL
    return smoothed


def markov_boundary_noise(mask: np.ndarray, steps: int, theta1: float, theta2: float, theta3: float = 0.0, *,
                          rng: np.random.Generator) -> np.ndarray:
    """Markov boundary noise M(T, theta1, theta2) with an optional random flip theta3, then smoothing; bool.

    Spec "Label-noise simulation": the boundary steps (:func:`markov_chain_steps`); if theta3 > 0 every pixel
    flips with probability theta3 (``rng.random(shape) < theta3``); then 2D: Gaussian blur 5x5, sigma 2 of the
    0/255 mask, foreground above 127.5; 3D: ``gaussian_filter`` sigma 1 (mode nearest) of the uint8 0/255 volume,
    foreground above 127.5.
    """
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise ValueError(f"Markov noise needs a 2D or 3D mask, got shape {mask.shape}")
    noisy = markov_chain_steps(mask, steps, theta1, theta2, rng)
    if theta3 > 0:
        noisy ^= rng.random(noisy.shape) < theta3
    if noisy.ndim == 2:
        return _smooth_2d(noisy)
    blurred = gaussian_filter(noisy.astype(np.uint8) * np.uint8(255), **BLUR_3D)
    return blurred > HALF_LEVEL

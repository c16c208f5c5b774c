"""A generated 3D set standing in for BraTS (no download): 4-channel volumes with blob-shaped "tumours".

Each volume (side ``size``, cubic) is a brain-like ellipsoid (the rest is 0, as in skull-stripped MRI) filled
with a smooth random background per channel, holding 1-2 tumour blobs: ellipsoids (semi-axes 16-28 % of the
side, random orientation) whose surface is perturbed by a smooth random field (+-15 %), placed inside the brain.
Each of the 4 channels (standing for T1, T1ce, T2, FLAIR) gives the tumour its own contrast to the background
(a random shift of 0.2-0.4 on 0-1, brighter or darker), plus Gaussian voxel noise (sigma 0.04). The mask is the
union of the blobs, never empty. Sample ``i`` comes from ``numpy.random.default_rng(SeedSequence([seed, i]))``,
so a sample does not depend on how many are made. Recorded as ``synthetic: true``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from adapters.base import Sample
from adapters.registry import register_adapter
from adapters.synthetic import GeneratedAdapter

#: Smallest side: from 16 voxels on, every blob covers at least its centre voxel.
MIN_SYNTHETIC_3D_SIZE = 16
#: MRI sequences the channels stand for.
CHANNELS = 4

_BACKGROUND_AMPLITUDE = 0.08
_SURFACE_AMPLITUDE = 0.15
_VOXEL_NOISE_SIGMA = 0.04
_EDGE_BLUR_SIGMA = 0.7


def _smooth_field(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise ``(size, size, size, channels)``: a ``cells^3`` normal grid upsampled (cubic spline)."""
    coarse = rng.standard_normal((cells, cells, cells, channels))
    return zoom(coarse, (size / cells, size / cells, size / cells, 1), order=3, mode="reflect", grid_mode=True)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A random 3x3 orthonormal matrix (QR of a normal matrix)."""
    matrix, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return matrix


def _blob(rng: np.random.Generator, grid: np.ndarray, size: int, brain_radius: float) -> np.ndarray:
    """One perturbed ellipsoid inside the brain; bool ``(size, size, size)``."""
    semi_axes = rng.uniform(0.16, 0.28, 3) * size
    reach = semi_axes.max() * (1 + _SURFACE_AMPLITUDE)
    offset = rng.standard_normal(3)
    centre = size / 2 + offset / np.linalg.norm(offset) * rng.uniform(0, max(brain_radius - reach, 0))
    local = (grid - centre) @ _random_rotation(rng) / semi_axes
    surface = 1 + _SURFACE_AMPLITUDE * np.tanh(_smooth_field(rng, size, 4, 1)[..., 0])
    return np.linalg.norm(local, axis=-1) <= surface


def generate_synthetic_volume(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Volume ``index`` for ``seed``: uint8 image ``(size, size, size, 4)`` and bool mask ``(size, size, size)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    grid = np.stack(np.meshgrid(*[np.arange(size, dtype=np.float64) + 0.5] * 3, indexing="ij"), axis=-1)
    brain_radius = 0.45 * size
    brain = np.linalg.norm(grid - size / 2, axis=-1) <= brain_radius
    base = rng.uniform(0.3, 0.6, CHANNELS)
    image = base + _BACKGROUND_AMPLITUDE * _smooth_field(rng, size, 4, CHANNELS)
    mask = np.zeros((size, size, size), dtype=bool)
    for _ in range(rng.integers(1, 3)):
        region = _blob(rng, grid, size, brain_radius) & brain
        contrast = rng.uniform(0.2, 0.4, CHANNELS) * rng.choice([-1.0, 1.0], CHANNELS)
        alpha = gaussian_filter(region.astype(np.float64), _EDGE_BLUR_SIGMA)[..., None]
        image = image + contrast * alpha
        mask |= region
    image = image + rng.normal(0.0, _VOXEL_NOISE_SIGMA, image.shape)
    image = np.where(brain[..., None], np.clip(image, 0.02, 1.0), 0.0)
    return np.rint(image * 255).astype(np.uint8), mask


@register_adapter("synthetic_3d")
class Synthetic3dAdapter(GeneratedAdapter):
    """Generated volumes (no path): options ``seed`` (0), ``n_train`` (8), ``n_test`` (4), ``size`` (32, the
    "released" side). Names ``synthetic3d_0000`` ...; the first ``n_train`` are the layout's train split."""

    extra_options: ClassVar[dict[str, Any]] = {"seed": 0, "n_train": 8, "n_test": 4, "size": 32}
    name_prefix = "synthetic3d"
    min_size = MIN_SYNTHETIC_3D_SIZE

    def generate(self, name: str, index: int, split: str) -> Sample:
        """The volume ``index``."""
        image, mask = generate_synthetic_volume(self.seed, index, self.size)
        return Sample(name=name, image=image, mask=mask, split=split)

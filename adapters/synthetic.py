"""The embedded synthetic data set the suite generates itself (no download): blobs on a smooth background.

Each RGB image is a smooth random background (bicubically upsampled 4x4 noise around a random base colour) with
1-3 blob-shaped objects: ellipses (diameter 25-50 % of the image side, aspect 0.6-1, random angle; together
about 16 % of the image, as Kvasir-SEG's polyps at 15 %) whose boundary
is perturbed by harmonics 2-4 of the polar angle, placed fully inside the image (at least one pixel from the
border). Each object has its own colour, at a Euclidean RGB distance of 0.3-0.45 (on 0-1) from the background's
base colour in a random direction, so objects may be darker or brighter than the background and no global
threshold separates them; each carries a mid-frequency texture, and its edge is slightly blurred. Gaussian pixel
noise (sigma 0.03) is added last. The mask is the union of the objects, never empty. Sample ``i`` is generated
from ``numpy.random.default_rng(SeedSequence([seed, i]))``, so a sample does not depend on how many are made.

With option ``raters`` R > 0 the set is a multi-rater set: the generated mask is the hidden truth, and rater k
(0-based) annotates it with Markov boundary noise M(100, theta1_k, 0.05) (:func:`noise.markov_boundary_noise`),
theta1_k spread evenly over [0.3, 0.7] (rater 0 tends to under-segment, rater R-1 to over-segment), drawn from
``default_rng(SeedSequence([seed, i, k + 1]))``. The sample's ``mask`` is the raters' consensus, as for every
multi-rater set; the hidden truth is not stored.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.transform import resize

from adapters.base import Adapter, Sample
from adapters.masks import consensus_mask
from adapters.registry import register_adapter
from common.errors import InputError

#: Smallest released size: from 48 pixels on, every object covers at least its centre pixel.
MIN_SYNTHETIC_SIZE = 48

_BACKGROUND_AMPLITUDE = 0.12
_TEXTURE_AMPLITUDE = 0.06
_PIXEL_NOISE_SIGMA = 0.03
_EDGE_BLUR_SIGMA = 0.8
_HARMONICS = (2, 3, 4)
_MAX_HARMONIC_AMPLITUDE = 0.08
#: The synthetic raters' Markov boundary noise: steps, the range of theta1 over the raters, theta2.
_RATER_STEPS = 100
_RATER_THETA1 = (0.3, 0.7)
_RATER_THETA2 = 0.05


@lru_cache(maxsize=8)
def _upsampling_matrix(size: int, cells: int) -> np.ndarray:
    """``(size, cells)`` matrix of bicubic (order-3 spline) upsampling from ``cells`` to ``size`` samples."""
    return resize(np.eye(cells), (size, cells), order=3, mode="reflect", anti_aliasing=False, clip=False)


def _smooth_field(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise ``(size, size, channels)``: a ``cells x cells`` normal grid upsampled bicubically."""
    coarse = rng.standard_normal((cells, cells, channels))
    upsample = _upsampling_matrix(size, cells)
    return np.einsum("ij,jkc,lk->ilc", upsample, coarse, upsample, optimize=True)


def _blob(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """One perturbed ellipse fully inside a ``size x size`` image; bool ``(size, size)``."""
    semi_major = rng.uniform(0.25, 0.50) * size / 2
    semi_minor = semi_major * rng.uniform(0.6, 1.0)
    angle = rng.uniform(0.0, np.pi)
    amplitudes = rng.uniform(0.0, _MAX_HARMONIC_AMPLITUDE, len(_HARMONICS))
    phases = rng.uniform(0.0, 2 * np.pi, len(_HARMONICS))
    reach = semi_major * (1 + amplitudes.sum())
    centre_row, centre_col = rng.uniform(reach + 1, size - 2 - reach, 2)
    d_row, d_col = rows - centre_row, cols - centre_col
    along = (d_col * np.cos(angle) + d_row * np.sin(angle)) / semi_major
    across = (-d_col * np.sin(angle) + d_row * np.cos(angle)) / semi_minor
    polar_angle = np.arctan2(across, along)
    boundary = 1 + sum(a * np.cos(k * polar_angle + p) for k, a, p in zip(_HARMONICS, amplitudes, phases, strict=True))
    return np.hypot(along, across) <= boundary


def generate_synthetic_sample(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic sample ``index`` for ``seed``: uint8 RGB image ``(size, size, 3)`` and bool mask ``(size, size)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    base_colour = rng.uniform(0.25, 0.75, 3)
    image = base_colour + _BACKGROUND_AMPLITUDE * _smooth_field(rng, size, 4, 3)
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        region = _blob(rng, rows, cols, size)
        direction = rng.standard_normal(3)
        colour = np.clip(base_colour + rng.uniform(0.3, 0.45) * direction / np.linalg.norm(direction), 0.05, 0.95)
        texture = _TEXTURE_AMPLITUDE * _smooth_field(rng, size, max(size // 8, 4), 1)
        alpha = gaussian_filter(region.astype(np.float64), _EDGE_BLUR_SIGMA)[:, :, None]
        image = image * (1 - alpha) + (colour + texture) * alpha
        mask |= region
    image = image + rng.normal(0.0, _PIXEL_NOISE_SIGMA, image.shape)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), mask


def synthetic_raters(truth: np.ndarray, seed: int, index: int, num_raters: int) -> np.ndarray:
    """The ``num_raters`` raters' annotations of sample ``index``'s hidden ``truth`` (see module doc); bool
    ``(R, H, W)``."""
    from noise.markov import markov_boundary_noise

    low, high = _RATER_THETA1
    theta1 = np.linspace(low, high, num_raters) if num_raters > 1 else np.array([(low + high) / 2])
    return np.stack([
        markov_boundary_noise(truth, _RATER_STEPS, float(theta1[rater]), _RATER_THETA2,
                              rng=np.random.default_rng(np.random.SeedSequence([seed, index, rater + 1])))
        for rater in range(num_raters)
    ])


class GeneratedAdapter(Adapter):
    """Base of the generated sets (no path): options ``seed``, ``n_train``, ``n_test``, ``size`` (and a
    subclass's own); names ``{name_prefix}_0000`` ...; the first ``n_train`` are the layout's train split, the rest
    test. Subclasses set ``name_prefix`` and ``min_size`` and implement :meth:`generate`."""

    needs_path = False
    synthetic = True
    name_prefix: ClassVar[str] = ""
    min_size: ClassVar[int] = 1

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.seed = self._int_option("seed", 0)
        self.n_train = self._int_option("n_train", 1)
        self.n_test = self._int_option("n_test", 1)
        self.size = self._int_option("size", self.min_size)
        count = self.n_train + self.n_test
        width = max(4, len(str(count - 1)))
        self._indices = {f"{self.name_prefix}_{index:0{width}d}": index for index in range(count)}

    def _int_option(self, key: str, minimum: int) -> int:
        """Integer option ``key``, at least ``minimum``."""
        value = self.option(key, int)
        if value < minimum:
            raise InputError(f"adapter {self.registry_name!r}: option {key!r} must be >= {minimum}, got {value}")
        return value

    def sample_names(self) -> list[str]:
        """``{name_prefix}_0000`` ... in order."""
        return list(self._indices)

    def generate(self, name: str, index: int, split: str) -> Sample:
        """The sample ``name`` (generated with ``index``) in ``split``."""
        raise NotImplementedError

    def load(self, name: str) -> Sample:
        """Generate the sample ``name``."""
        if name not in self._indices:
            raise InputError(f"adapter {self.registry_name!r}: no sample named {name!r}")
        index = self._indices[name]
        return self.generate(name, index, "train" if index < self.n_train else "test")

    def layout_split(self) -> dict[str, str]:
        """First ``n_train`` names train, the rest test."""
        return {name: "train" if index < self.n_train else "test" for name, index in self._indices.items()}

    def layout_split_rule(self) -> str:
        """The generated split."""
        return f"generated: the first n_train={self.n_train} samples are train, the other {self.n_test} test"


@register_adapter("synthetic")
class SyntheticAdapter(GeneratedAdapter):
    """Generated set (no path): options ``seed`` (0), ``n_train`` (60), ``n_test`` (20), ``size`` (256),
    ``raters`` (0: single-rater; R > 0: R synthetic raters, see the module doc).

    Names ``synthetic_0000`` ...; the first ``n_train`` names are the layout's train split, the rest test.
    """

    extra_options: ClassVar[dict[str, Any]] = {"seed": 0, "n_train": 60, "n_test": 20, "size": 256, "raters": 0}
    name_prefix = "synthetic"
    min_size = MIN_SYNTHETIC_SIZE

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.num_raters = self._int_option("raters", 0)

    def generate(self, name: str, index: int, split: str) -> Sample:
        """The 2D sample ``index``, with its synthetic raters when the set has them."""
        image, mask = generate_synthetic_sample(self.seed, index, self.size)
        if self.num_raters == 0:
            return Sample(name=name, image=image, mask=mask, split=split)
        raters = synthetic_raters(mask, self.seed, index, self.num_raters)
        return Sample(name=name, image=image, mask=consensus_mask(raters), split=split, raters=raters)

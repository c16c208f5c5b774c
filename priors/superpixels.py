"""SLIC superpixels of the training images (spec, SGLR Eq. 12-13; the authors' ``scripts/generate_SLIC.py``).

Volumes (BraTS, ``(D, H, W, C)``) get 3D SLIC (supervoxels: skimage's ``slic`` on the volume with
``channel_axis=-1``; the 4 MRI sequences are features, not converted to CIELAB), n_segments scaled with the voxel
count so that a supervoxel holds as many voxels as a 2D superpixel at 256 x 256 (64).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from skimage.segmentation import slic
from skimage.util import img_as_float

from adapters.prepare import read_split
from common.atomic import write_npz
from common.errors import InputError
from common.npz import read_npz

#: The spec's n_segments at 256 x 256.
SEGMENTS_AT_256 = 1024


def n_segments_for(shape: tuple[int, ...]) -> int:
    """n_segments for an image of ``shape`` (H, W[, C]): 1024 at 256 x 256, scaled with the area; for a volume
    ``(D, H, W, C)`` (4 axes) scaled with the voxel count, ``1024 * D * H * W / 256^2``."""
    spatial = shape[:3] if len(shape) == 4 else shape[:2]
    return max(1, round(SEGMENTS_AT_256 * int(np.prod(spatial)) / 256**2))


def slic_superpixels(image: np.ndarray, n_segments: int, compactness: float = 10.0,
                     sigma: float = 1.0) -> np.ndarray:
    """SLIC labels (start label 0) of an ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)`` image; int32 ``(H, W)``.
    A volume ``(D, H, W, C)`` gives 3D SLIC labels ``(D, H, W)``.

    The image is scaled to [0, 1] first (``img_as_float``, as the authors); RGB goes through CIELAB (SLIC's default).
    """
    values = np.asarray(image)
    spatial_axes = 3 if values.ndim == 4 else 2
    if values.ndim == spatial_axes + 1 and values.shape[-1] == 1:
        values = values[..., 0]
    channel_axis = -1 if values.ndim == spatial_axes + 1 else None
    labels = slic(img_as_float(values), n_segments=n_segments, compactness=compactness, sigma=sigma, start_label=0,
                  channel_axis=channel_axis)
    return labels.astype(np.int32)


def _slic_for_image(image: np.ndarray, channels: Sequence[int] | None = None,
                    n_segments: int | None = None) -> np.ndarray:
    """Superpixels of one working-size image with the spec's settings: on ``channels`` of the image (None: all;
    the reference's BraTS loader: FLAIR, channel 3) with ``n_segments`` (None: :func:`n_segments_for`)."""
    segments = n_segments if n_segments is not None else n_segments_for(image.shape)
    return slic_superpixels(image if channels is None else image[..., list(channels)], segments)


def write_superpixels(prepared_dir: str | os.PathLike[str], out_path: str | os.PathLike[str],
                      workers: int = 1, channels: Sequence[int] | None = None,
                      n_segments: int | None = None) -> None:
    """Write ``superpixels`` int32 ``(N_train, H, W)`` (volumes: ``(N_train, D, H, W)``) and ``names`` for the
    training images of a prepared set; ``channels`` and ``n_segments`` as :func:`_slic_for_image` (config
    ``datasets.<d>.priors.slic_channels`` / ``slic_segments``)."""
    prepared = Path(prepared_dir)
    data_path = prepared / "data.npz"
    split_path = prepared / "split.csv"
    for path in (data_path, split_path):
        if not path.is_file():
            raise InputError(f"{path}: missing (run data preparation first)")
    arrays = read_npz(data_path, ("images", "names"))
    images, names = arrays["images"], arrays["names"]
    train = np.flatnonzero(read_split(prepared, names) == "train")
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    if channels is not None and any(not 0 <= channel < images.shape[-1] for channel in channels):
        raise InputError(f"priors.slic_channels: {list(channels)} outside the {images.shape[-1]} channels of "
                         f"{data_path}")
    train_images = [images[index] for index in train]
    segment = partial(_slic_for_image, channels=channels, n_segments=n_segments)
    if workers == 1:
        labels = [segment(image) for image in train_images]
    else:
        with multiprocessing.get_context().Pool(workers) as pool:
            labels = pool.map(segment, train_images, chunksize=1)
    superpixels = np.stack(labels) if labels else np.zeros((0, *images.shape[1:-1]), dtype=np.int32)
    write_npz(out_path, superpixels=superpixels, names=names[train])

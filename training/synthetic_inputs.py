"""A small synthetic prepared set and noise setting in the documented file formats, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.atomic import write_json, write_npz, write_text
from priors.distance import capped_distance_map


def write_synthetic_inputs(root: Path, n_train: int = 16, n_test: int = 8, size: int = 32, channels: int = 3,
                           seed: int = 0) -> tuple[Path, Path]:
    """Write a prepared set (``root/prepared``) and one noise setting (``root/noise``); returns both folders.

    Every image holds one bright square (side size/4 to size/2) on a dark noisy background; the noisy training
    masks are the clean ones shifted right by one pixel; superpixels are 4x4 blocks.
    """
    rng = np.random.default_rng(seed)
    total = n_train + n_test
    images = np.empty((total, size, size, channels), dtype=np.uint8)
    masks = np.zeros((total, size, size), dtype=np.uint8)
    for index in range(total):
        side = int(rng.integers(size // 4, size // 2 + 1))
        top, left = rng.integers(1, size - side, 2)
        masks[index, top:top + side, left:left + side] = 1
        colour = rng.uniform(160, 230, channels)
        background = rng.uniform(20, 70, channels)
        pixels = np.where(masks[index][..., None] == 1, colour, background) + rng.normal(0, 10, (size, size, channels))
        images[index] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    names = np.array([f"case{index:03d}" for index in range(total)])
    prepared = root / "prepared"
    noise = root / "noise"
    write_npz(prepared / "data.npz", images=images, masks=masks, names=names)
    split = ["train"] * n_train + ["test"] * n_test
    rows = "".join(f"{name},{part}\n" for name, part in zip(names, split, strict=True))
    write_text(prepared / "split.csv", "name,split\n" + rows)
    blocks = (np.arange(size)[:, None] // 4) * ((size + 3) // 4) + np.arange(size)[None, :] // 4
    write_npz(prepared / "superpixels.npz", superpixels=np.repeat(blocks[None].astype(np.int32), n_train, axis=0),
              names=names[:n_train])
    noisy = np.roll(masks[:n_train], 1, axis=2)
    write_npz(noise / "noisy_masks.npz", masks=noisy, names=names[:n_train])
    write_npz(noise / "distance_maps.npz", distance=np.stack([capped_distance_map(mask) for mask in noisy]))
    write_json(noise / "summary.json", {"noise_rate": float(np.mean(noisy != masks[:n_train])), "n": n_train})
    return prepared, noise

"""Priors: Eq. 8 capped distance maps and SLIC superpixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from priors import capped_distance_map, n_segments_for, slic_superpixels, write_distance_maps, write_superpixels


def test_distance_map_hand_worked_row() -> None:
    row = np.array([[0, 0, 0, 1, 1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(capped_distance_map(row), [[3, 2, 1, 1, 2, 2, 1, 1]])
    np.testing.assert_array_equal(capped_distance_map(row, cap=2), [[2, 2, 1, 1, 2, 2, 1, 1]])
    assert capped_distance_map(row).dtype == np.uint8


def test_distance_map_diagonal_is_floored() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 2] = True
    distance = capped_distance_map(mask)
    assert distance[2, 2] == 1 and distance[1, 2] == 1 and distance[1, 1] == 1
    assert distance[0, 1] == 2 and distance[0, 0] == 2


def test_distance_map_3d_cube() -> None:
    volume = np.zeros((15, 15, 15), dtype=bool)
    volume[5:10, 5:10, 5:10] = True
    distance = capped_distance_map(volume)
    expected = {(7, 7, 7): 3, (5, 7, 7): 1, (6, 7, 7): 2, (4, 7, 7): 1, (3, 7, 7): 2, (4, 4, 7): 1, (3, 3, 3): 3,
                (0, 0, 0): 8, (14, 14, 14): 8}
    for voxel, value in expected.items():
        assert distance[voxel] == value, voxel
    assert capped_distance_map(volume, cap=5)[0, 0, 0] == 5
    assert distance.shape == volume.shape


def test_distance_map_without_the_other_class_is_capped() -> None:
    np.testing.assert_array_equal(capped_distance_map(np.zeros((4, 6), bool)), np.full((4, 6), 10))
    np.testing.assert_array_equal(capped_distance_map(np.ones((4, 6), bool), cap=7), np.full((4, 6), 7))


def test_write_distance_maps(tmp_path: Path) -> None:
    masks = np.zeros((2, 12, 14), dtype=np.uint8)
    masks[0, 3:8, 4:9] = 1
    masks[1, :, 7:] = 1
    np.savez(tmp_path / "noisy_masks.npz", masks=masks, names=np.array(["x", "y"]))
    write_distance_maps(tmp_path / "noisy_masks.npz", tmp_path / "distance_maps.npz", cap=4)
    with np.load(tmp_path / "distance_maps.npz") as result:
        assert result["names"].tolist() == ["x", "y"]
        assert result["distance"].dtype == np.uint8 and result["distance"].shape == masks.shape
        np.testing.assert_array_equal(result["distance"][1], capped_distance_map(masks[1], cap=4))
    with pytest.raises(InputError, match=r"absent\.npz: file not found"):
        write_distance_maps(tmp_path / "absent.npz", tmp_path / "out.npz")


def textured_image(seed: int, size: int = 64) -> np.ndarray:
    """An RGB image with a coloured rectangle and noise."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 90, dtype=np.int64)
    image[size // 4: size // 2, size // 8: size - 10] = [200, 40, 30]
    return np.clip(image + rng.integers(0, 30, image.shape), 0, 255).astype(np.uint8)


def test_n_segments_scale_with_area() -> None:
    assert n_segments_for((256, 256)) == 1024
    assert n_segments_for((128, 128, 3)) == 256
    assert n_segments_for((4, 4)) == 1


@pytest.mark.parametrize("channels", [3, 1])
def test_superpixels_deterministic_with_contiguous_labels_from_zero(channels: int) -> None:
    image = textured_image(0)[..., :channels]
    labels = slic_superpixels(image, n_segments_for(image.shape))
    again = slic_superpixels(image, n_segments_for(image.shape))
    assert labels.dtype == np.int32 and labels.shape == image.shape[:2]
    np.testing.assert_array_equal(labels, again)
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert 16 <= labels.max() + 1 <= 2 * n_segments_for(image.shape)


def test_write_superpixels_training_images_only(tmp_path: Path) -> None:
    images = np.stack([textured_image(seed, 32) for seed in range(4)])
    names = np.array(["a", "b", "c", "d"])
    np.savez(tmp_path / "data.npz", images=images, masks=np.zeros((4, 32, 32), np.uint8), names=names)
    pd.DataFrame({"name": names, "split": ["train", "test", "train", "train"]}).to_csv(tmp_path / "split.csv",
                                                                                       index=False)
    write_superpixels(tmp_path, tmp_path / "superpixels.npz", workers=2)
    with np.load(tmp_path / "superpixels.npz") as result:
        assert result["names"].tolist() == ["a", "c", "d"]
        assert result["superpixels"].dtype == np.int32 and result["superpixels"].shape == (3, 32, 32)
        np.testing.assert_array_equal(result["superpixels"][1], slic_superpixels(images[2], 16))
    (tmp_path / "split.csv").unlink()
    with pytest.raises(InputError, match=r"split\.csv: missing"):
        write_superpixels(tmp_path, tmp_path / "again.npz")


def test_priors_options_distance_cap_and_slic_channel_and_segments(tmp_path) -> None:
    """Item 3: the distance cap, SLIC's channels and n_segments are options (the reference's BraTS: 5, FLAIR,
    about 4,000); the defaults stay 10, all channels, the scaled 1024."""
    import numpy as np

    from priors.distance import capped_distance_map
    from priors.superpixels import _slic_for_image, n_segments_for

    mask = np.zeros((40, 40), dtype=bool)
    mask[5:35, 5:35] = True
    assert capped_distance_map(mask).max() == 10 and capped_distance_map(mask, 5).max() == 5
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 255, (12, 16, 16, 4)).astype(np.uint8)
    volume[..., 3] = 0
    volume[:, :8, :, 3] = 200   # FLAIR alone: two flat halves
    flair = _slic_for_image(volume, channels=[3], n_segments=2)
    assert len(np.unique(flair)) <= 3
    assert len(np.unique(_slic_for_image(volume, n_segments=40))) > len(np.unique(flair))
    assert n_segments_for(volume.shape) == round(1024 * 12 * 16 * 16 / 256**2)

"""Dice, HD95 and normalised surface Dice on cases with known answers."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import dice as dice_dissimilarity

from evaluation.metrics import DICE_SMOOTH, dice_per_image, hd95, normalized_surface_dice


def square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    """A boolean mask with one filled square."""
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_dice_matches_scipy_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    prediction = rng.random((5, 16, 16)) < 0.4
    target = rng.random((5, 16, 16)) < 0.6
    expected = [1.0 - dice_dissimilarity(p.ravel(), t.ravel()) for p, t in zip(prediction, target, strict=True)]
    np.testing.assert_allclose(dice_per_image(prediction, target), expected, rtol=1e-6)
    np.testing.assert_allclose(dice_per_image(torch.from_numpy(prediction), torch.from_numpy(target)), expected,
                               rtol=1e-6)


def test_dice_smoothing_on_empty_masks() -> None:
    empty = np.zeros((1, 8, 8), dtype=np.uint8)
    full = np.ones((1, 8, 8), dtype=np.uint8)
    assert dice_per_image(empty, empty)[0] == 1.0
    assert dice_per_image(empty, full)[0] == pytest.approx(DICE_SMOOTH / 64)


@pytest.mark.parametrize("shift", [1, 3, 5])
def test_hd95_of_shifted_square_is_the_shift(shift: int) -> None:
    target = square((64, 64), 20, 20, 16)
    prediction = square((64, 64), 20, 20 + shift, 16)
    assert hd95(prediction, target) == pytest.approx(shift)
    assert hd95(target, prediction) == pytest.approx(shift)


def test_hd95_uses_spacing() -> None:
    target = square((64, 64), 20, 20, 16)
    prediction = square((64, 64), 20 + 4, 20, 16)
    assert hd95(prediction, target, spacing=(0.5, 2.0)) == pytest.approx(2.0)


def test_identical_masks_and_empty_rules() -> None:
    mask = square((32, 32), 5, 5, 10)
    empty = np.zeros_like(mask)
    assert hd95(mask, mask) == 0.0
    assert normalized_surface_dice(mask, mask, tolerance=0) == 1.0
    assert hd95(empty, empty) == 0.0
    assert math.isinf(hd95(mask, empty))
    assert normalized_surface_dice(empty, empty, tolerance=1) == 1.0
    assert normalized_surface_dice(empty, mask, tolerance=1) == 0.0


def test_nsd_of_shifted_square_depends_on_tolerance() -> None:
    target = square((64, 64), 20, 20, 16)
    prediction = square((64, 64), 20, 23, 16)
    assert normalized_surface_dice(prediction, target, tolerance=3) == 1.0
    partial = normalized_surface_dice(prediction, target, tolerance=1)
    assert 0.0 < partial < 1.0


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        hd95(np.zeros((4, 4)), np.zeros((4, 5)))

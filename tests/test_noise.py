"""Label-noise simulation: Markov boundary noise vs a whole-image reference, S_DE, seeds, settings, simulate_dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import distance_transform_edt, gaussian_filter

from adapters.masks import resize_mask
from common.errors import InputError
from noise import (
    PAPER_SETTINGS,
    DilateErodeSetting,
    MarkovSetting,
    dilate_erode_noise,
    markov_boundary_noise,
    markov_chain_steps,
    parse_setting,
    sample_seed,
    simulate_dataset,
)


def reference_chain(mask: np.ndarray, steps: int, theta1: float, theta2: float,
                    rng: np.random.Generator) -> np.ndarray:
    """The authors' loop on the whole image: candidates are EDT == 1 pixels, flipped where a draw is < theta2."""
    noisy = mask.astype(np.float64)
    kinds = rng.random(steps)
    for kind in kinds:
        if kind < theta1:
            other_class_present = noisy.any()
            edge = np.flatnonzero(distance_transform_edt(1 - noisy) == 1) if other_class_present else []
        else:
            other_class_present = not noisy.all()
            edge = np.flatnonzero(distance_transform_edt(noisy) == 1) if other_class_present else []
        edge = np.asarray(edge, dtype=np.intp)
        flip = edge[rng.random(edge.size) < theta2]
        noisy.flat[flip] = 1 - noisy.flat[flip]
    return noisy.astype(bool)


def reference_noise(mask: np.ndarray, steps: int, theta1: float, theta2: float, theta3: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Whole-image reference of the full generator: chain, random flip, whole-image smoothing."""
    noisy = reference_chain(mask, steps, theta1, theta2, rng)
    if theta3 > 0:
        noisy = np.where(rng.random(noisy.shape) < theta3, ~noisy, noisy)
    if noisy.ndim == 2:
        return gaussian_filter(noisy * 255.0, sigma=2, truncate=1.0, mode="mirror") > 127.5
    return gaussian_filter(noisy.astype(np.uint8) * np.uint8(255), 1, mode="nearest") > 127.5


def disc(shape: tuple[int, ...], centre: tuple[float, ...], radius: float) -> np.ndarray:
    """A disc (ball in 3D)."""
    grids = np.indices(shape)
    return sum((grid - c) ** 2 for grid, c in zip(grids, centre, strict=True)) < radius**2


def masks_2d() -> list[np.ndarray]:
    """Masks with objects inside, touching each border and corner, tiny, empty and full."""
    rng = np.random.default_rng(7)
    blobs = gaussian_filter(rng.random((50, 70)), 4) > 0.5
    corner = np.zeros((40, 45), dtype=bool)
    corner[:12, :9] = True
    corner[30:, 35:] = True
    single = np.zeros((20, 20), dtype=bool)
    single[0, 5] = True
    return [disc((48, 64), (24, 30), 12), disc((40, 40), (0, 20), 15), disc((40, 40), (20, 39), 18), blobs,
            corner, single, np.zeros((15, 16), dtype=bool), np.ones((12, 10), dtype=bool)]


def masks_3d() -> list[np.ndarray]:
    """3D masks: a ball inside, a ball cut by two faces, an empty volume."""
    return [disc((20, 22, 24), (10, 11, 12), 6), disc((16, 18, 20), (0, 17, 10), 8), np.zeros((8, 9, 10), bool)]


@pytest.mark.parametrize("theta1", [0.2, 0.8])
@pytest.mark.parametrize("case", range(8))
def test_chain_matches_whole_image_reference_2d(case: int, theta1: float) -> None:
    mask = masks_2d()[case]
    for seed in (0, 1):
        fast = markov_chain_steps(mask, 60, theta1, 0.3, np.random.default_rng(seed))
        reference = reference_chain(mask, 60, theta1, 0.3, np.random.default_rng(seed))
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize("theta3", [0.0, 0.2])
@pytest.mark.parametrize("case", [0, 1, 2, 4, 6])
def test_noise_matches_whole_image_reference_2d(case: int, theta3: float) -> None:
    mask = masks_2d()[case]
    fast = markov_boundary_noise(mask, 80, 0.6, 0.1, theta3, rng=np.random.default_rng(3))
    reference = reference_noise(mask, 80, 0.6, 0.1, theta3, np.random.default_rng(3))
    assert fast.dtype == bool and fast.shape == mask.shape
    np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize("case", range(3))
def test_noise_matches_whole_image_reference_3d(case: int) -> None:
    mask = masks_3d()[case]
    for theta3 in (0.0, 0.2):
        fast = markov_boundary_noise(mask, 30, 0.6, 0.2, theta3, rng=np.random.default_rng(5))
        reference = reference_noise(mask, 30, 0.6, 0.2, theta3, np.random.default_rng(5))
        assert fast.shape == mask.shape and fast.dtype == bool
        np.testing.assert_array_equal(fast, reference)
    chain = markov_chain_steps(mask, 30, 0.5, 0.3, np.random.default_rng(2))
    np.testing.assert_array_equal(chain, reference_chain(mask, 30, 0.5, 0.3, np.random.default_rng(2)))


def test_blur_is_opencv_5x5_sigma2_reflect101() -> None:
    """With theta2 = 0 only the smoothing acts: compare with an explicit 5x5 kernel on a reflect-101 padding."""
    mask = masks_2d()[3]
    weights = np.exp(-np.arange(-2, 3) ** 2 / 8.0)
    weights /= weights.sum()
    padded = np.pad(mask * 255.0, 2, mode="reflect")
    rows = sum(w * padded[i:i + mask.shape[0], :] for i, w in enumerate(weights))
    blurred = sum(w * rows[:, j:j + mask.shape[1]] for j, w in enumerate(weights))
    smoothed = markov_boundary_noise(mask, 50, 0.5, 0.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(smoothed, blurred > 127.5)
    assert not np.array_equal(smoothed, mask)


def test_theta2_zero_changes_nothing_before_smoothing() -> None:
    for mask in [*masks_2d(), *masks_3d()]:
        np.testing.assert_array_equal(markov_chain_steps(mask, 100, 0.5, 0.0, np.random.default_rng(1)), mask)


def test_empty_mask_stays_empty() -> None:
    empty = np.zeros((30, 30), dtype=bool)
    assert not markov_boundary_noise(empty, 200, 1.0, 1.0, rng=np.random.default_rng(0)).any()


def test_expanding_setting_grows_and_reducing_setting_shrinks() -> None:
    masks = masks_2d()[:5]
    changes: dict[str, list[float]] = {"S_E": [], "S_R": []}
    for name in changes:
        setting = parse_setting(name, PAPER_SETTINGS[name])
        for mask in masks:
            for seed in range(3):
                rng = np.random.default_rng(seed)
                noisy = markov_chain_steps(mask, setting.steps, setting.theta1, setting.theta2, rng)
                changes[name].append((noisy.sum() - mask.sum()) / mask.sum())
    assert np.mean(changes["S_E"]) > 0.1
    assert np.mean(changes["S_R"]) < -0.1


def test_same_seed_is_bit_identical_and_another_seed_differs() -> None:
    mask = masks_2d()[0]
    first = markov_boundary_noise(mask, 200, 0.8, 0.05, rng=np.random.default_rng(11))
    again = markov_boundary_noise(mask, 200, 0.8, 0.05, rng=np.random.default_rng(11))
    other = markov_boundary_noise(mask, 200, 0.8, 0.05, rng=np.random.default_rng(12))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_markov_rejects_other_dimensions() -> None:
    with pytest.raises(ValueError, match="2D or 3D"):
        markov_boundary_noise(np.zeros(5, dtype=bool), 1, 0.5, 0.5, rng=np.random.default_rng(0))


@pytest.mark.parametrize("mask", [disc((61, 57), (30, 28), 15), disc((40, 44), (0, 0), 20), disc((20, 21, 22),
                                                                                             (10, 10, 11), 6)])
def test_dilate_erode_is_the_distance_threshold(mask: np.ndarray) -> None:
    branches = set()
    for seed in range(8):
        rng = np.random.default_rng(seed)
        dilates = rng.random() > 0.5
        radius = 2 + (4 - 2) * rng.random()
        expected = (distance_transform_edt(~mask) < radius) if dilates else ~(distance_transform_edt(mask) < radius)
        noisy = dilate_erode_noise(mask, (2, 4), np.random.default_rng(seed))
        np.testing.assert_array_equal(noisy, expected)
        branches.add(bool(dilates))
    assert branches == {True, False}


def test_dilate_erode_radius_on_a_disc() -> None:
    """A disc of radius 20 dilated by r in (9, 11) stays within radius 31, covers radius 29; eroded, the reverse."""
    mask = disc((101, 101), (50, 50), 20)
    distance_to_centre = np.hypot(*(np.indices(mask.shape) - 50))
    for seed in range(6):
        noisy = dilate_erode_noise(mask, (9, 11), np.random.default_rng(seed))
        if noisy.sum() > mask.sum():
            assert noisy[distance_to_centre < 28.5].all() and not noisy[distance_to_centre > 31.5].any()
        else:
            assert noisy[distance_to_centre < 8.5].all() and not noisy[distance_to_centre > 11.5].any()


def test_sample_seed_is_stable_and_keyed_on_all_four_values() -> None:
    base = sample_seed("kvasir", "S_R", "img001", 0)
    assert base == sample_seed("kvasir", "S_R", "img001", 0)
    assert base == 5806993568217707176
    variants = {sample_seed("kvasir2", "S_R", "img001", 0), sample_seed("kvasir", "S_E", "img001", 0),
                sample_seed("kvasir", "S_R", "img002", 0), sample_seed("kvasir", "S_R", "img001", 1),
                sample_seed("kvasi", "rS_R", "img001", 0)}
    assert base not in variants and len(variants) == 5
    assert 0 <= base < 2**64


def test_paper_settings_parse_and_round_trip() -> None:
    assert parse_setting("S_R", PAPER_SETTINGS["S_R"]) == MarkovSetting(200, 0.2, 0.05, 0.0)
    assert parse_setting("S_E_3D", PAPER_SETTINGS["S_E_3D"]) == MarkovSetting(50, 0.6, 0.05, 0.2)
    assert parse_setting("JSRT_J1", PAPER_SETTINGS["JSRT_J1"]) == MarkovSetting(180, 0.8, 0.05, 0.2)
    assert parse_setting("S_DE", PAPER_SETTINGS["S_DE"]) == DilateErodeSetting(9.0, 11.0)
    for name, spec in PAPER_SETTINGS.items():
        setting = parse_setting(name, spec)
        assert parse_setting(name, setting.parameters()) == setting


@pytest.mark.parametrize(("spec", "key"), [
    ({"model": "gaussian"}, "model"),
    ({"steps": 3, "theta1": 0.1, "theta2": 0.1}, "model"),
    ({"model": "markov", "theta1": 0.1, "theta2": 0.1}, "steps"),
    ({"model": "markov", "steps": 3, "theta1": 0.1, "theta2": 0.1, "radius": [1, 2]}, "radius"),
    ({"model": "markov", "steps": -1, "theta1": 0.1, "theta2": 0.1}, "steps"),
    ({"model": "markov", "steps": 2.5, "theta1": 0.1, "theta2": 0.1}, "steps"),
    ({"model": "markov", "steps": 3, "theta1": 1.5, "theta2": 0.1}, "theta1"),
    ({"model": "markov", "steps": 3, "theta1": 0.5, "theta2": -0.1}, "theta2"),
    ({"model": "markov", "steps": 3, "theta1": 0.5, "theta2": 0.1, "theta3": "x"}, "theta3"),
    ({"model": "dilate_erode", "radius": [11, 9]}, "radius"),
    ({"model": "dilate_erode", "radius": 5}, "radius"),
    ({"model": "dilate_erode"}, "radius"),
])
def test_parse_setting_errors_name_the_key(spec: dict, key: str) -> None:
    with pytest.raises(InputError, match=rf"^noise_settings\.mine\.{key}: "):
        parse_setting("mine", spec)


def make_prepared(folder: Path, n: int = 6, size: tuple[int, int] = (32, 40)) -> list[str]:
    """A prepared data set (docs/architecture.md) of discs; originals at twice the working size."""
    rng = np.random.default_rng(0)
    names = [f"case{index:02d}" for index in range(n)]
    originals = {}
    for name in names:
        centre = rng.uniform(15, 45, size=2)
        originals[name] = disc((2 * size[0], 2 * size[1]), tuple(centre), rng.uniform(8, 20))
    masks = np.stack([resize_mask(originals[name], size) for name in names])
    images = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data.npz", images=images, masks=masks, names=np.array(names))
    np.savez(folder / "original_masks.npz", **originals)
    splits = ["train" if index % 3 else "test" for index in range(n)]
    pd.DataFrame({"name": names, "split": splits}).to_csv(folder / "split.csv", index=False)
    return [name for name, split in zip(names, splits, strict=True) if split == "train"]


@pytest.mark.parametrize("resolution", ["original", "working"])
def test_simulate_dataset_outputs(tmp_path: Path, resolution: str) -> None:
    train = make_prepared(tmp_path / "prepared")
    out = tmp_path / "noise"
    summary = simulate_dataset(tmp_path / "prepared", out, "toy", "S_E", PAPER_SETTINGS["S_E"], resolution, 3)
    with np.load(out / "noisy_masks.npz") as result:
        masks, names = result["masks"], result["names"]
    with np.load(tmp_path / "prepared" / "data.npz") as data:
        clean = data["masks"][[list(data["names"]).index(name) for name in train]]
    assert names.tolist() == train and masks.dtype == np.uint8 and masks.shape == clean.shape
    assert set(np.unique(masks)) <= {0, 1}
    stats = pd.read_csv(out / "stats.csv")
    assert stats.columns.tolist() == ["name", "dice", "flipped_share", "foreground_change"]
    assert stats["name"].tolist() == train
    np.testing.assert_allclose(stats["flipped_share"], (masks != clean).mean(axis=(1, 2)))
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert summary["noise_rate"] == pytest.approx((masks != clean).mean())
    assert summary["dice_std"] == pytest.approx(stats["dice"].std(ddof=0))
    assert summary["n"] == len(train) and summary["resolution"] == resolution and summary["seed"] == 3
    assert summary["parameters"] == MarkovSetting(200, 0.8, 0.05).parameters()
    assert summary["foreground_change_mean"] > 0


def test_simulate_dataset_original_resolution_noises_the_released_mask(tmp_path: Path) -> None:
    train = make_prepared(tmp_path / "prepared")
    simulate_dataset(tmp_path / "prepared", tmp_path / "noise", "toy", "S_R", PAPER_SETTINGS["S_R"], "original", 0)
    with np.load(tmp_path / "prepared" / "original_masks.npz") as originals:
        original = originals[train[0]]
    setting = parse_setting("S_R", PAPER_SETTINGS["S_R"])
    expected = resize_mask(setting.apply(original, np.random.default_rng(sample_seed("toy", "S_R", train[0], 0))),
                           (32, 40))
    with np.load(tmp_path / "noise" / "noisy_masks.npz") as result:
        np.testing.assert_array_equal(result["masks"][0], expected)


def test_simulate_dataset_same_for_any_worker_count_and_subset(tmp_path: Path) -> None:
    train = make_prepared(tmp_path / "prepared")
    spec = PAPER_SETTINGS["S_DE"]
    simulate_dataset(tmp_path / "prepared", tmp_path / "one", "toy", "S_DE", spec, "working", 1, workers=1)
    simulate_dataset(tmp_path / "prepared", tmp_path / "two", "toy", "S_DE", spec, "working", 1, workers=2)
    make_prepared(tmp_path / "fewer", n=3)
    simulate_dataset(tmp_path / "fewer", tmp_path / "three", "toy", "S_DE", spec, "working", 1)
    with np.load(tmp_path / "one" / "noisy_masks.npz") as one, np.load(tmp_path / "two" / "noisy_masks.npz") as two:
        np.testing.assert_array_equal(one["masks"], two["masks"])
        full = one["masks"]
    with np.load(tmp_path / "three" / "noisy_masks.npz") as three:
        assert three["names"].tolist() == train[:2]
        np.testing.assert_array_equal(three["masks"], full[:2])
    assert (tmp_path / "one" / "stats.csv").read_bytes() == (tmp_path / "two" / "stats.csv").read_bytes()


def test_simulate_dataset_input_errors(tmp_path: Path) -> None:
    make_prepared(tmp_path / "prepared")
    make_prepared(tmp_path / "tests_only", n=3)
    names = [f"case{index:02d}" for index in range(3)]
    spec = PAPER_SETTINGS["S_R"]
    with pytest.raises(InputError, match="resolution"):
        simulate_dataset(tmp_path / "prepared", tmp_path / "out", "toy", "S_R", spec, "native", 0)
    with pytest.raises(InputError, match=r"data\.npz: missing"):
        simulate_dataset(tmp_path / "nowhere", tmp_path / "out", "toy", "S_R", spec, "working", 0)
    with pytest.raises(InputError, match=r"noise_settings\.S_R\.theta1"):
        simulate_dataset(tmp_path / "prepared", tmp_path / "out", "toy", "S_R", {**spec, "theta1": 2}, "working", 0)
    pd.DataFrame({"name": names, "split": "test"}).to_csv(tmp_path / "tests_only" / "split.csv", index=False)
    with pytest.raises(InputError, match=r"split\.csv: no training samples"):
        simulate_dataset(tmp_path / "tests_only", tmp_path / "out", "toy", "S_R", spec, "working", 0)
    (tmp_path / "prepared" / "original_masks.npz").unlink()
    with pytest.raises(InputError, match=r"original_masks\.npz: missing"):
        simulate_dataset(tmp_path / "prepared", tmp_path / "out", "toy", "S_R", spec, "original", 0)
    assert not (tmp_path / "out").exists()


def test_3d_shrinking_setting_is_the_references_t50_and_reaches_tumour_dice() -> None:
    """Item 1: S_R_3D = M(50, 0.4, 0.05, theta3 0.2) (the printed T = 200 kept as S_R_3D_printed); on the default
    profile's generated 64^3 volumes, scored at the working size, T = 50 stays above 70 Dice and T = 200 far below."""
    import yaml

    from adapters.masks import resize_mask
    from adapters.synthetic_3d import generate_synthetic_volume
    from noise.settings import PAPER_SETTINGS, parse_setting

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    assert config["noise_settings"]["S_R_3D"]["steps"] == PAPER_SETTINGS["S_R_3D"]["steps"] == 50
    assert config["noise_settings"]["S_R_3D_printed"]["steps"] == PAPER_SETTINGS["S_R_3D_printed"]["steps"] == 200
    entry = config["datasets"]["synthetic3d"]
    size, working = entry["options"]["size"], tuple(entry["working_size"])
    dice = {}
    for name in ("S_R_3D", "S_R_3D_printed"):
        setting = parse_setting(name, config["noise_settings"][name])
        scores = []
        for index in range(3):
            _, mask = generate_synthetic_volume(0, index, size)
            noisy = setting.apply(mask, np.random.default_rng(index))
            clean, noisy = resize_mask(mask, working).astype(bool), resize_mask(noisy, working).astype(bool)
            scores.append(2 * (clean & noisy).sum() / (clean.sum() + noisy.sum()))
        dice[name] = float(np.mean(scores))
    assert dice["S_R_3D"] > 0.70
    assert dice["S_R_3D_printed"] < 0.55

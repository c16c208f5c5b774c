"""The 3D path end to end: BraTS NIfTI layout -> prepared volumes -> 3D noise -> priors -> one epoch of the 3D U-Net.

The volumes are generated here in the challenge's layout (6 subjects of 24^3, 4 sequences + segmentation), small
enough for a CPU; the adapter's bad inputs are each one InputError naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from adapters.brats import RELEASE_FOLDER, SEQUENCES, scale_sequence
from adapters.prepare import prepare_dataset
from adapters.registry import get_adapter
from adapters.synthetic_3d import generate_synthetic_volume
from common.errors import InputError
from noise.settings import PAPER_SETTINGS
from noise.simulate import simulate_dataset
from priors.distance import write_distance_maps
from priors.superpixels import write_superpixels
from training.engine import train
from training.run_config import RunConfig

SIDE = 24
SUBJECTS = 6
SETTINGS_3D = ("S_R_3D", "S_E_3D", "S_DE_3D")


def _subject_name(index: int) -> str:
    return f"BraTS20_Training_{index + 1:03d}"


def _write_nifti(path: Path, values: np.ndarray) -> None:
    """Save a ``(D, H, W)`` array as the release stores it, (x, y, z)."""
    nib.save(nib.Nifti1Image(np.ascontiguousarray(values.transpose(2, 1, 0)), np.eye(4)), path)


def write_brats_layout(root: Path, subjects: int = SUBJECTS, suffix: str = ".nii.gz") -> Path:
    """Generated subjects in the challenge's layout under ``root/MICCAI_BraTS2020_TrainingData``; returns it."""
    release = root / RELEASE_FOLDER
    for index in range(subjects):
        name = _subject_name(index)
        folder = release / name
        folder.mkdir(parents=True)
        image, mask = generate_synthetic_volume(7, index, SIDE)
        for channel, sequence in enumerate(SEQUENCES):
            intensities = image[..., channel].astype(np.float32) * (3.0 + channel) + 10.0 * (image[..., 0] > 0)
            _write_nifti(folder / f"{name}_{sequence}{suffix}", intensities)
        core = mask & (np.indices(mask.shape).sum(axis=0) % 3 == 0)
        labels = np.where(mask, 2, 0) + np.where(core, 2, 0)  # oedema 2, "enhancing" 4
        labels[mask & ~core & (np.indices(mask.shape)[0] % 2 == 0)] = 1
        _write_nifti(folder / f"{name}_seg{suffix}", labels.astype(np.int16))
    (release / "name_mapping.csv").write_text("BraTS_2020_subject_ID\n")
    return release


@pytest.mark.slow
def test_brats_volumes_train_end_to_end_with_the_3d_unet(tmp_path: Path) -> None:
    release = write_brats_layout(tmp_path / "data")
    prepared = tmp_path / "prepared"
    metadata = prepare_dataset("brats", "brats", release.parent, prepared, [16, 16, 16], n_test=2)
    assert metadata["channels"] == 4 and metadata["working_size"] == [16, 16, 16]
    assert metadata["n_train"] == 4 and metadata["n_test"] == 2
    assert metadata["original_sizes"][_subject_name(0)] == [SIDE, SIDE, SIDE]
    with np.load(prepared / "data.npz") as data:
        assert data["images"].shape == (SUBJECTS, 16, 16, 16, 4) and data["images"].dtype == np.uint8
        assert data["masks"].shape == (SUBJECTS, 16, 16, 16)
        assert set(np.unique(data["masks"])) == {0, 1}
    with np.load(prepared / "original_masks.npz") as originals:
        assert originals[_subject_name(0)].shape == (SIDE, SIDE, SIDE)
    write_superpixels(prepared, prepared / "superpixels.npz")
    with np.load(prepared / "superpixels.npz") as superpixels:
        labels = superpixels["superpixels"]
    assert labels.shape == (4, 16, 16, 16) and labels.min() == 0 and labels.max() > 8

    for setting in SETTINGS_3D:
        noise_dir = tmp_path / "noise" / setting
        summary = simulate_dataset(prepared, noise_dir, "brats", setting, PAPER_SETTINGS[setting], "original", 0)
        assert summary["n"] == 4 and 0.0 <= summary["dice_mean"] <= 1.0 and 0.0 < summary["noise_rate"] < 1.0
        write_distance_maps(noise_dir / "noisy_masks.npz", noise_dir / "distance_maps.npz")
        with np.load(noise_dir / "noisy_masks.npz") as noisy, np.load(noise_dir / "distance_maps.npz") as distance:
            assert noisy["masks"].shape == (4, 16, 16, 16)
            assert distance["distance"].shape == (4, 16, 16, 16) and distance["distance"].max() <= 10

    common = {"prepared_dir": prepared, "noise_dir": tmp_path / "noise" / "S_E_3D", "backbone": "unet3d_small",
              "epochs": 1, "batch_size": 4, "eval_last_k": 1, "eval_batch_size": 2, "device": "cpu", "threads": 1}
    variants = {"ce": {}, "gsdnet": {"kt_start_epoch": 0, "ramp_epochs": 1}}  # KT and SGLR in the one epoch
    for method, options in variants.items():
        out = tmp_path / "runs" / method
        summary = train(RunConfig(method=method, method_options=options, **common), out, tmp_path / "ckpt" / method,
                        log=lambda line: None)
        assert math.isfinite(summary["dice_mean"]) and 0.0 <= summary["dice_mean"] <= 1.0
        assert summary["n_train"] == 4 and summary["n_test"] == 2 and summary["steps_per_epoch"] == 1
        epochs = pd.read_csv(out / "epochs.csv")
        assert np.isfinite(epochs["loss"]).all()
        per_image = pd.read_csv(out / "per_image.csv")
        assert len(per_image) == 2 and np.isfinite(per_image["dice"]).all()  # one Dice per test volume
        assert json.loads((out / "summary.json").read_text())["backbone"] == "unet3d_small"
    assert np.isfinite(pd.read_csv(tmp_path / "runs" / "gsdnet" / "epochs.csv")["kt_loss"]).all()


def test_the_adapter_reads_the_folder_or_its_parent_and_nii_files(tmp_path: Path) -> None:
    release = write_brats_layout(tmp_path, subjects=2, suffix=".nii")
    for path in (release, release.parent):
        adapter = get_adapter("brats", path)
        assert adapter.sample_names() == [_subject_name(0), _subject_name(1)]
    sample = adapter.load(_subject_name(1))
    expected_image, expected_mask = generate_synthetic_volume(7, 1, SIDE)
    assert sample.image.shape == (SIDE, SIDE, SIDE, 4) and sample.image.dtype == np.uint8
    assert np.array_equal(sample.mask, expected_mask)  # labels 1, 2, 4 merged; axes back as (D, H, W)
    assert not sample.image[expected_image[..., 0] == 0].any()  # background stays 0
    assert sample.image.max() == 255


def test_intensity_rule_clips_the_brain_percentiles_to_0_255() -> None:
    values = np.zeros((4, 4, 4))
    values[1:3, 1:3, 1:3] = np.arange(1, 9).reshape(2, 2, 2)
    values[1, 1, 1] = 1000.0  # an outlier above the 99.5th percentile
    scaled = scale_sequence(values, Path("t1.nii.gz"))
    brain = values != 0
    low, high = np.percentile(values[brain], (0.5, 99.5))
    expected = np.rint((np.clip(values, low, high) - low) / (high - low) * 255)
    assert np.array_equal(scaled[brain], expected[brain].astype(np.uint8))
    assert scaled[brain].min() == 0 and scaled[brain].max() == 255 and not scaled[~brain].any()


def _break(release: Path, damage: str) -> Path:
    """Damage subject 2 of ``release`` in one way; returns the file the error must name."""
    name = _subject_name(1)
    folder = release / name
    if damage == "missing sequence":
        target = folder / f"{name}_t1ce.nii.gz"
        target.unlink()
    elif damage == "shape mismatch":
        target = folder / f"{name}_flair.nii.gz"
        _write_nifti(target, np.ones((SIDE, SIDE, SIDE - 2), dtype=np.float32))
    elif damage == "unknown label":
        target = folder / f"{name}_seg.nii.gz"
        labels = np.zeros((SIDE, SIDE, SIDE), dtype=np.int16)
        labels[5:9, 5:9, 5:9] = 3
        _write_nifti(target, labels)
    elif damage in ("nan voxels", "complex voxels"):
        target = folder / f"{name}_flair.nii.gz"
        values = np.ones((SIDE, SIDE, SIDE), dtype=np.complex64 if damage == "complex voxels" else np.float32)
        if damage == "nan voxels":
            values[3:5, 3:5, 3:5] = np.nan
        _write_nifti(target, values)
    elif damage == "empty tumour":
        target = folder / f"{name}_seg.nii.gz"
        _write_nifti(target, np.zeros((SIDE, SIDE, SIDE), dtype=np.int16))
    else:
        target = folder / f"{name}_t2.nii.gz"
        target.write_bytes(b"not a nifti file")
    return target


@pytest.mark.parametrize("damage", ["missing sequence", "shape mismatch", "unknown label", "empty tumour",
                                    "unreadable", "nan voxels", "complex voxels"])
def test_bad_subject_is_one_input_error_naming_the_file_and_nothing_is_written(tmp_path: Path, damage: str) -> None:
    release = write_brats_layout(tmp_path / "data", subjects=3)
    target = _break(release, damage)
    out = tmp_path / "prepared"
    with pytest.raises(InputError) as error:
        prepare_dataset("brats", "brats", release, out, [16, 16, 16], n_test=1)
    message = str(error.value)
    assert str(target) in message and "\n" not in message
    if damage == "nan voxels":
        assert message == f"{target}: sequence flair has 8 NaN or infinite voxel(s)"
    if damage == "complex voxels":
        assert message.startswith(f"{target}: sequence flair voxels are complex64 (complex or not numbers)")
    assert not out.exists() or not any(out.iterdir())


def test_folder_without_subjects_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no subject folders"):
        get_adapter("brats", tmp_path).sample_names()

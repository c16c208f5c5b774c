"""Adapters and prepare_dataset on small generated layouts: outputs, determinism, splits, and bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from adapters import available_adapters, get_adapter, prepare_dataset, resize_image, resize_mask, seeded_split
from adapters.synthetic import generate_synthetic_sample
from common.errors import InputError

SIZE = (12, 10)


def _save(path: Path, pixels: np.ndarray) -> Path:
    """Write ``pixels`` as an image file (format from the suffix; 2 channels are LA, 4 are RGBA)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _image(index: int, size: tuple[int, int] = SIZE, channels: int = 3) -> np.ndarray:
    """A reproducible random uint8 image."""
    pixels = np.random.default_rng(index).integers(0, 256, (*size, channels), dtype=np.uint8)
    return pixels[:, :, 0] if channels == 1 else pixels


def _mask(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A 0/255 mask with a rectangle whose position depends on ``index``."""
    mask = np.zeros(size, dtype=np.uint8)
    mask[1 + index % 4: 6 + index % 4, 2:7] = 255
    return mask


def _pair_layout(root: Path, names: list[str], images: str = "images", masks: str = "masks", ext: str = ".png",
                 mask_ext: str = ".png", suffix: str = "", channels: int = 3) -> Path:
    """Images and masks for ``names`` under ``root/images`` and ``root/masks``."""
    for index, name in enumerate(names):
        _save(root / images / f"{name}{ext}", _image(index, channels=channels))
        _save(root / masks / f"{name}{suffix}{mask_ext}", _mask(index))
    return root


def _names(count: int) -> list[str]:
    return [f"case{index:02d}" for index in range(count)]


def _load_prepared(out: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], pd.DataFrame, dict]:
    with np.load(out / "data.npz") as data, np.load(out / "original_masks.npz") as originals:
        arrays = {key: data[key] for key in data.files}
        masks = {key: originals[key] for key in originals.files}
    return arrays, masks, pd.read_csv(out / "split.csv"), json.loads((out / "metadata.json").read_text())


def test_registry_lists_every_adapter_and_rejects_unknown_names() -> None:
    assert available_adapters() == ["brats", "folder", "gsdnet", "jsrt", "kvasir_seg", "lidc", "lidc_pickle", "mmis",
                                    "synthetic", "synthetic_3d"]
    with pytest.raises(InputError, match=r"unknown adapter 'kvasir'; known adapters: brats, folder, gsdnet, jsrt"):
        get_adapter("kvasir", None)
    with pytest.raises(InputError, match=r"adapter 'synthetic': unknown option 'colour'"):
        get_adapter("synthetic", None, colour=1)


def test_kvasir_seg_reads_jpeg_layout_and_binarises_jpeg_masks(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "kvasir", ["b", "a", "c"], ext=".jpg", mask_ext=".jpg")
    adapter = get_adapter("kvasir_seg", root)
    assert adapter.sample_names() == ["a", "b", "c"]
    assert adapter.layout_split() is None
    sample = adapter.load("b")
    assert sample.image.dtype == np.uint8 and sample.image.shape == (*SIZE, 3)
    assert sample.mask.dtype == bool
    np.testing.assert_array_equal(sample.mask, _mask(0) > 0)
    assert sample.split is None


def test_gsdnet_layout_takes_split_from_folders_and_ignores_extra_folders(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "Kvasir", ["t1", "t2", "t3"])
    _pair_layout(root, ["x1", "x2"], images="images_test", masks="masks_test")
    _pair_layout(root, ["t1"], images="images_SLIC", masks="masks_DE")
    adapter = get_adapter("gsdnet", root)
    assert adapter.sample_names() == ["t1", "t2", "t3", "x1", "x2"]
    assert adapter.layout_split() == {"t1": "train", "t2": "train", "t3": "train", "x1": "test", "x2": "test"}
    metadata = prepare_dataset("ds", "gsdnet", root, tmp_path / "out", 8)
    assert (metadata["n_train"], metadata["n_test"], metadata["n_val"]) == (3, 2, 0)
    assert metadata["split_rule"].startswith("layout:")
    with pytest.raises(InputError, match="n_test"):
        prepare_dataset("ds", "gsdnet", root, tmp_path / "other", 8, n_test=1)


def test_folder_adapter_options_suffix_and_shared_folder(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", ["a", "b"], images="img", masks="gt", ext=".bmp", mask_ext=".tif",
                        suffix="_mask")
    adapter = get_adapter("folder", root, images="img", masks="gt", mask_suffix="_mask")
    assert adapter.sample_names() == ["a", "b"]
    np.testing.assert_array_equal(adapter.load("b").image, _image(1))
    shared = _pair_layout(tmp_path / "shared", ["a", "b"], images="all", masks="all", suffix="_seg")
    adapter = get_adapter("folder", shared, images="all", masks="all", mask_suffix="_seg")
    assert adapter.sample_names() == ["a", "b"]
    np.testing.assert_array_equal(adapter.load("a").mask, _mask(0) > 0)
    with pytest.raises(InputError, match="mask_suffix"):
        get_adapter("folder", shared, images="all", masks="all")


def test_jsrt_layout_splits_organs_and_grey_channel(tmp_path: Path) -> None:
    root = tmp_path / "jsrt"
    for split, names in {"train": ["J1", "J2", "J3"], "val": ["J4"], "test": ["J5", "J6"]}.items():
        _pair_layout(root, names, images=f"images_{split}", masks=f"heart_gts_{split}", channels=1)
        _pair_layout(root, names, images=f"images_{split}", masks=f"lung_gts_{split}", channels=1)
    _pair_layout(root, ["J1"], images="images_train", masks="lung_180_0.8_0.05_0.2", channels=1)
    metadata = prepare_dataset("jsrt_heart", "jsrt", root, tmp_path / "out", 12, options={"organ": "heart"})
    assert (metadata["n_train"], metadata["n_val"], metadata["n_test"]) == (3, 1, 2)
    assert metadata["channels"] == 1
    arrays, _, split, _ = _load_prepared(tmp_path / "out")
    assert arrays["images"].shape == (6, 12, 12, 1)
    assert split["split"].tolist() == ["train", "train", "train", "val", "test", "test"]
    with pytest.raises(InputError, match=r"option 'organ' must be one of lung, heart, clavicle, got 'liver'"):
        get_adapter("jsrt", root, organ="liver")


def test_synthetic_is_deterministic_non_empty_and_inside() -> None:
    first = get_adapter("synthetic", None, seed=3, n_train=4, n_test=2, size=64)
    again = get_adapter("synthetic", None, seed=3, n_train=4, n_test=2, size=64)
    other = get_adapter("synthetic", None, seed=4, n_train=4, n_test=2, size=64)
    assert first.sample_names() == [f"synthetic_{index:04d}" for index in range(6)]
    assert list(first.layout_split().values()) == ["train"] * 4 + ["test"] * 2
    for name in first.sample_names():
        sample, repeat, different = first.load(name), again.load(name), other.load(name)
        np.testing.assert_array_equal(sample.image, repeat.image)
        np.testing.assert_array_equal(sample.mask, repeat.mask)
        assert not np.array_equal(sample.image, different.image)
        assert sample.image.shape == (64, 64, 3) and sample.image.dtype == np.uint8
        assert 0 < sample.mask.mean() < 0.5
        border = np.concatenate([sample.mask[0], sample.mask[-1], sample.mask[:, 0], sample.mask[:, -1]])
        assert not border.any()


def test_synthetic_sample_does_not_depend_on_set_size() -> None:
    small = get_adapter("synthetic", None, n_train=2, n_test=1, size=48).load("synthetic_0001")
    image, mask = generate_synthetic_sample(0, 1, 48)
    np.testing.assert_array_equal(small.image, image)
    np.testing.assert_array_equal(small.mask, mask)
    with pytest.raises(InputError, match=r"option 'size' must be >= 48"):
        get_adapter("synthetic", None, size=32)
    with pytest.raises(InputError, match="takes no path"):
        get_adapter("synthetic", "/data")


def test_prepare_writes_the_prepared_form(tmp_path: Path) -> None:
    names = _names(10)
    root = _pair_layout(tmp_path / "set", names)
    metadata = prepare_dataset("toy", "folder", root, tmp_path / "out", (8, 6), n_test=3)
    arrays, originals, split, stored = _load_prepared(tmp_path / "out")
    assert stored == metadata
    assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (10, 8, 6, 3)
    assert arrays["masks"].dtype == np.uint8 and arrays["masks"].shape == (10, 8, 6)
    assert set(np.unique(arrays["masks"])) == {0, 1}
    assert arrays["names"].dtype.kind == "U" and arrays["names"].tolist() == names
    assert split["name"].tolist() == names
    assert split["split"].value_counts().to_dict() == {"train": 7, "test": 3}
    assert sorted(originals) == names
    for index, name in enumerate(names):
        assert originals[name].dtype == bool
        np.testing.assert_array_equal(originals[name], _mask(index) > 0)
        np.testing.assert_array_equal(arrays["images"][index], resize_image(_image(index), (8, 6)))
        np.testing.assert_array_equal(arrays["masks"][index], resize_mask(_mask(index) > 0, (8, 6)))
    assert metadata["original_sizes"] == {name: list(SIZE) for name in names}
    assert metadata["working_size"] == [8, 6] and metadata["channels"] == 3
    assert (metadata["n_train"], metadata["n_test"], metadata["synthetic"]) == (7, 3, False)
    assert metadata["source"] == str(root.resolve()) and "127" in metadata["mask_rule"]
    expected_test = [name for name, part in zip(names, seeded_split(names, "toy", 0, 3), strict=True) if part == "test"]
    assert split.loc[split["split"] == "test", "name"].tolist() == expected_test


def test_prepare_is_deterministic_and_split_follows_seed(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", _names(12))
    prepare_dataset("toy", "folder", root, tmp_path / "a", 8)
    prepare_dataset("toy", "folder", root, tmp_path / "b", 8, workers=2)
    prepare_dataset("toy", "folder", root, tmp_path / "c", 8, split_seed=1)
    first, second, reseeded = (_load_prepared(tmp_path / part) for part in "abc")
    for key in ("images", "masks", "names"):
        np.testing.assert_array_equal(first[0][key], second[0][key])
    for name in first[1]:
        np.testing.assert_array_equal(first[1][name], second[1][name])
    for file in ("split.csv", "metadata.json", "original_masks.npz"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert first[2]["split"].tolist() == seeded_split(_names(12), "toy", 0, test_fraction=0.3)
    assert not first[2].equals(reseeded[2])
    assert seeded_split(_names(12), "toy", 0, 4) != seeded_split(_names(12), "other", 0, 4)


def test_adding_one_file_moves_no_other_sample_between_splits(tmp_path: Path) -> None:
    names = [f"img{index:04d}" for index in range(1000)]
    before = dict(zip(names, seeded_split(names, "kvasir", 0, test_fraction=0.3), strict=True))
    after = dict(zip([*names, "img_new"], seeded_split([*names, "img_new"], "kvasir", 0, test_fraction=0.3),
                     strict=True))
    assert all(after[name] == before[name] for name in names)
    removed = dict(zip(names[1:], seeded_split(names[1:], "kvasir", 0, test_fraction=0.3), strict=True))
    assert all(removed[name] == before[name] for name in names[1:])
    exact_before = seeded_split(names, "kvasir", 0, n_test=300)
    exact_after = seeded_split([*names, "img_new"], "kvasir", 0, n_test=300)
    assert exact_before.count("test") == exact_after.count("test") == 300
    assert sum(a != b for a, b in zip(exact_before, exact_after, strict=False)) <= 1
    root = _pair_layout(tmp_path / "set", _names(12))
    prepare_dataset("toy", "folder", root, tmp_path / "a", 8)
    _pair_layout(tmp_path / "set", [*_names(12), "extra"])
    prepare_dataset("toy", "folder", root, tmp_path / "b", 8)
    first = _load_prepared(tmp_path / "a")[2].set_index("name")["split"]
    second = _load_prepared(tmp_path / "b")[2].set_index("name")["split"]
    assert len(second) == 13 and second.drop("extra").equals(first)


def test_prepare_test_fraction_and_synthetic_metadata(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", _names(10))
    expected = seeded_split(_names(10), "toy", 0, test_fraction=0.5).count("test")
    assert 1 <= expected < 10
    assert prepare_dataset("toy", "folder", root, tmp_path / "f", 8, test_fraction=0.5)["n_test"] == expected
    metadata = prepare_dataset("synth", "synthetic", None, tmp_path / "s", 16,
                               options={"n_train": 3, "n_test": 2, "size": 48})
    assert metadata["synthetic"] is True and metadata["source"] == "generated"
    assert (metadata["n_train"], metadata["n_test"]) == (3, 2)
    arrays, originals, _, _ = _load_prepared(tmp_path / "s")
    assert arrays["images"].shape == (5, 16, 16, 3) and originals["synthetic_0000"].shape == (48, 48)
    assert arrays["masks"].reshape(5, -1).any(axis=1).all()


def test_mixed_grey_and_rgb_become_rgb_and_rgba_loses_alpha(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", ["a", "b", "c"])
    _save(root / "images" / "a.png", _image(0, channels=1))
    rgba = np.random.default_rng(5).integers(0, 256, (*SIZE, 4), dtype=np.uint8)
    _save(root / "images" / "b.png", rgba)
    prepare_dataset("toy", "folder", root, tmp_path / "out", SIZE, n_test=1)
    arrays, _, _, metadata = _load_prepared(tmp_path / "out")
    assert metadata["channels"] == 3
    np.testing.assert_array_equal(arrays["images"][0], np.repeat(_image(0, channels=1)[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(arrays["images"][1], rgba[:, :, :3])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _empty_folders(root: Path, *folders: str) -> None:
    for folder in folders:
        shutil.rmtree(root / folder)
        (root / folder).mkdir()


BreakLayout = Callable[[Path], None]

BAD_LAYOUTS: dict[str, tuple[BreakLayout, dict, str]] = {
    "missing masks folder": (lambda root: shutil.rmtree(root / "masks"), {}, r"masks: folder not found"),
    "image without mask": (lambda root: (root / "masks" / "case01.png").unlink(), {},
                           r"1 image\(s\) without a mask in .*: case01.png$"),
    "mask without image": (lambda root: _save(root / "masks" / "extra.png", _mask(0)), {},
                           r"1 mask\(s\) without an image in .*: extra.png$"),
    "many unmatched": (lambda root: [_save(root / "masks" / f"x{i}.png", _mask(0)) for i in range(7)], {},
                       r"7 mask\(s\) without an image .*: x0.png, x1.png, x2.png, x3.png, x4.png and 2 more$"),
    "size mismatch": (lambda root: _save(root / "masks" / "case02.png", _mask(0, (8, 10))), {},
                      r"case02.png: mask size 8x10 \(HxW\) differs from the size 12x10 of its image case02.png"),
    "truncated image": (lambda root: _truncate(root / "images" / "case03.png"), {}, r"case03.png: cannot read image"),
    "not an image": (lambda root: (root / "masks" / "case03.png").write_text("hello"), {},
                     r"case03.png: cannot read image"),
    "non-binary mask": (lambda root: _save(root / "masks" / "case04.png", np.tile(np.arange(10, dtype=np.uint8) * 25,
                                                                                   (12, 1))), {},
                        r"case04.png: mask is not binary"),
    "empty mask": (lambda root: _save(root / "masks" / "case05.png", np.zeros(SIZE, np.uint8)), {},
                   r"case05.png: mask is empty .*allow_empty"),
    "two-channel image": (lambda root: _save(root / "images" / "case00.png", _image(0, channels=3)[:, :, :2]),
                          {}, r"case00.png: image has 2 channels"),
    "duplicate stem": (lambda root: _save(root / "images" / "case00.jpg", _image(0)), {},
                       r"two files share the name 'case00': case00.jpg, case00.png"),
    "empty data set": (lambda root: _empty_folders(root, "images", "masks"), {}, r"images: no images found"),
    "unknown adapter": (lambda root: None, {"adapter": "kvasir"},
                        r"unknown adapter 'kvasir'; known adapters: brats, folder"),
    "unknown option": (lambda root: None, {"options": {"organ": "lung"}}, r"adapter 'folder': unknown option 'organ'"),
    "missing folder": (lambda root: None, {"path": "/nonexistent/set"}, r"/nonexistent/set: data set folder not found"),
    "zero working size": (lambda root: None, {"working_size": 0}, r"^working_size: must be a positive integer"),
    "bad working pair": (lambda root: None, {"working_size": (64, -1)}, r"^working_size: "),
    "float working size": (lambda root: None, {"working_size": 64.0}, r"^working_size: "),
    "n_test too large": (lambda root: None, {"n_test": 8}, r"^n_test: the test split needs between 1 and 7"),
    "bad test_fraction": (lambda root: None, {"test_fraction": 1.5}, r"^test_fraction: must be strictly between"),
    "bad workers": (lambda root: None, {"workers": 0}, r"^workers: must be a positive integer"),
    "error in a worker": (lambda root: _truncate(root / "images" / "case06.png"), {"workers": 2},
                          r"case06.png: cannot read image"),
}


@pytest.mark.parametrize("case", list(BAD_LAYOUTS))
def test_bad_input_is_one_line_input_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    break_layout, overrides, message = BAD_LAYOUTS[case]
    root = _pair_layout(tmp_path / "set", _names(8))
    break_layout(root)
    arguments = {"dataset": "toy", "adapter": "folder", "path": root, "out_dir": tmp_path / "out",
                 "working_size": 8, **overrides}
    with pytest.raises(InputError, match=message) as raised:
        prepare_dataset(**arguments)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_empty_mask_is_accepted_with_allow_empty(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", _names(4))
    _save(root / "masks" / "case01.png", np.zeros(SIZE, np.uint8))
    prepare_dataset("toy", "folder", root, tmp_path / "out", 8, options={"allow_empty": True}, n_test=1)
    arrays, originals, _, _ = _load_prepared(tmp_path / "out")
    assert not arrays["masks"][1].any() and not originals["case01"].any()
    with pytest.raises(InputError, match=r"option 'allow_empty' must be bool"):
        get_adapter("folder", root, allow_empty="yes")


def _per_case_layout(root: Path, names: list[str]) -> Path:
    """One folder per case: ``{case}/image/scan.png`` and ``{case}/annotation/seg_mask.png``."""
    for index, name in enumerate(names):
        _save(root / name / "image" / "scan.png", _image(index))
        _save(root / name / "annotation" / "seg_mask.png", _mask(index))
    return root


PER_CASE_OPTIONS = {"image_pattern": "*/image/*.png", "mask_pattern": "**/annotation/*.png",
                    "name_regex": r"^(?P<name>[^/]+)/"}


def test_folder_patterns_prepare_a_per_case_nested_layout(tmp_path: Path) -> None:
    names = _names(6)
    root = _per_case_layout(tmp_path / "cases", names)
    metadata = prepare_dataset("cases", "folder", root, tmp_path / "out", 8, PER_CASE_OPTIONS, n_test=2)
    arrays, originals, split, _ = _load_prepared(tmp_path / "out")
    assert arrays["names"].tolist() == names and split["name"].tolist() == names
    assert (metadata["n_train"], metadata["n_test"]) == (4, 2)
    for index, name in enumerate(names):
        np.testing.assert_array_equal(originals[name], _mask(index) > 0)
    (root / names[2] / "annotation" / "seg_mask.png").unlink()
    with pytest.raises(InputError, match=rf"1 image\(s\) without a mask: {names[2]}/image/scan.png"):
        get_adapter("folder", root, **PER_CASE_OPTIONS).sample_names()


def test_dangling_symlink_is_named_as_such(tmp_path: Path) -> None:
    root = _pair_layout(tmp_path / "set", _names(4))
    link = root / "masks" / "case09.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=rf"{link}: dangling symbolic link \(its target .*gone.png does not exist\)"):
        get_adapter("folder", root).sample_names()
    root = _per_case_layout(tmp_path / "cases", _names(3))
    link = root / "case09" / "image" / "scan.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=rf"{link}: dangling symbolic link"):
        get_adapter("folder", root, **PER_CASE_OPTIONS).sample_names()

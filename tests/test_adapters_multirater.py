"""Multi-rater adapters (lidc, lidc_pickle, mmis) on small layouts generated in tmp_path, and lidc on the real
four-rater release in ../shared/data/lidc-4rater (skipped where that folder is absent)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from adapters import get_adapter, prepare_dataset
from adapters.masks import consensus_mask
from common.errors import InputError
from evaluation.metrics import dice_per_image

LIDC_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "lidc-4rater"
SIZE = 16


def _rater_masks(seed: int, size: int = SIZE) -> np.ndarray:
    """Four different bool masks: squares shifted by the rater index (rater 3 empty when seed is odd)."""
    masks = np.zeros((4, size, size), dtype=bool)
    for rater in range(4):
        if rater == 3 and seed % 2:
            continue
        top = 3 + rater + seed % 3
        masks[rater, top:top + 6, 4:10 + rater] = True
    return masks


def _image(seed: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------------- lidc layout

def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _lidc_layout(root: Path, slices: dict[str, dict[str, int]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{patient: {nodule: n_slices}}`` written as the 2D four-rater release; returns ``{name: (image, raters)}``."""
    written = {}
    seed = 0
    for patient, nodules in slices.items():
        for nodule, count in nodules.items():
            for index in range(count):
                seed += 1
                image, raters = _image(seed), _rater_masks(seed)
                _write_png(root / patient / nodule / "images" / f"slice-{index}.png", image)
                for rater in range(4):
                    _write_png(root / patient / nodule / f"mask-{rater}" / f"slice-{index}.png",
                               raters[rater].astype(np.uint8) * 255)
                written[f"{patient}_{nodule}_slice-{index}"] = (image, raters)
    return written


LIDC_SLICES = {
    "LIDC-IDRI-0001": {"nodule-0": 3, "nodule-1": 2},
    "LIDC-IDRI-0002": {"nodule-0": 12},
    "LIDC-IDRI-0003": {"nodule-0": 2},
    "LIDC-IDRI-0004": {"nodule-0": 1, "nodule-2": 1},
}


@pytest.fixture()
def lidc_root(tmp_path: Path) -> Path:
    return tmp_path / "lidc"


def test_lidc_names_groups_raters_and_consensus(lidc_root: Path) -> None:
    written = _lidc_layout(lidc_root, LIDC_SLICES)
    adapter = get_adapter("lidc", lidc_root)
    names = adapter.sample_names()
    assert names == sorted(written) and len(set(names)) == len(names) == 21
    assert "LIDC-IDRI-0002_nodule-0_slice-11" in names and adapter.evaluation_unit == "image"
    assert adapter.layout_split() is None and adapter.allow_empty is True
    for name in names:
        sample = adapter.load(name)
        image, raters = written[name]
        assert sample.group == name.split("_")[0] and sample.split is None
        assert sample.image.dtype == np.uint8 and sample.image.shape == (SIZE, SIZE, 1)
        np.testing.assert_array_equal(sample.image[..., 0], image)
        assert sample.raters.dtype == bool
        np.testing.assert_array_equal(sample.raters, raters)
        np.testing.assert_array_equal(sample.mask, consensus_mask(raters))


def test_lidc_rejects_an_empty_consensus_only_when_told(lidc_root: Path) -> None:
    _lidc_layout(lidc_root, {"LIDC-IDRI-0001": {"nodule-0": 1}})
    for rater in range(3):  # three of four raters see nothing: the consensus (2 of 4) is empty
        _write_png(lidc_root / "LIDC-IDRI-0001" / "nodule-0" / f"mask-{rater}" / "slice-0.png",
                   np.zeros((SIZE, SIZE), dtype=np.uint8))
    assert not get_adapter("lidc", lidc_root).load("LIDC-IDRI-0001_nodule-0_slice-0").mask.any()
    strict = get_adapter("lidc", lidc_root, allow_empty=False)
    with pytest.raises(InputError, match=r"mask-0/slice-0\.png: the consensus of the 4 rater masks .* is empty"):
        strict.load("LIDC-IDRI-0001_nodule-0_slice-0")


def _one_line(error: pytest.ExceptionInfo[InputError], path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message and str(path) in message


def test_lidc_bad_inputs_name_the_file(lidc_root: Path) -> None:
    _lidc_layout(lidc_root, {"LIDC-IDRI-0001": {"nodule-0": 2}})
    nodule = lidc_root / "LIDC-IDRI-0001" / "nodule-0"

    missing_file = nodule / "mask-2" / "slice-1.png"
    missing_file.unlink()
    with pytest.raises(InputError, match="rater mask not found") as error:
        get_adapter("lidc", lidc_root).sample_names()
    _one_line(error, missing_file)

    _write_png(missing_file, np.zeros((SIZE + 2, SIZE), dtype=np.uint8))
    with pytest.raises(InputError, match=r"mask size 18x16 \(HxW\) differs from the image size 16x16") as error:
        get_adapter("lidc", lidc_root).load("LIDC-IDRI-0001_nodule-0_slice-1")
    _one_line(error, missing_file)

    _write_png(missing_file, _image(7))
    with pytest.raises(InputError, match="mask is not binary") as error:
        get_adapter("lidc", lidc_root).load("LIDC-IDRI-0001_nodule-0_slice-1")
    _one_line(error, missing_file)

    _write_png(nodule / "mask-1" / "slice-9.png", np.zeros((SIZE, SIZE), dtype=np.uint8))
    with pytest.raises(InputError, match="mask without an image") as error:
        get_adapter("lidc", lidc_root).sample_names()
    _one_line(error, nodule / "mask-1" / "slice-9.png")
    (nodule / "mask-1" / "slice-9.png").unlink()

    for path in (nodule / "mask-3").iterdir():
        path.unlink()
    (nodule / "mask-3").rmdir()
    with pytest.raises(InputError, match="folder not found") as error:
        get_adapter("lidc", lidc_root).sample_names()
    _one_line(error, nodule / "mask-3")


def test_prepare_lidc_stores_rater_masks_and_splits_by_patient(lidc_root: Path, tmp_path: Path) -> None:
    written = _lidc_layout(lidc_root, LIDC_SLICES)
    out = tmp_path / "prepared"
    metadata = prepare_dataset("lidc", "lidc", lidc_root, out, SIZE, split_seed=3)
    assert metadata["n_raters"] == 4 and metadata["n_groups"] == 4 and metadata["channels"] == 1
    with np.load(out / "data.npz") as data:
        names = list(data["names"])
        rater_masks = data["rater_masks"]
        masks = data["masks"]
    assert names == sorted(written) and rater_masks.shape == (len(names), 4, SIZE, SIZE)
    assert rater_masks.dtype == np.uint8
    for index, name in enumerate(names):
        np.testing.assert_array_equal(rater_masks[index], written[name][1])
        np.testing.assert_array_equal(masks[index], consensus_mask(written[name][1]))
    split = pd.read_csv(out / "split.csv", dtype=str)
    assert list(split["name"]) == names and list(split["group"]) == [name.split("_")[0] for name in names]
    assert split.groupby("group")["split"].nunique().max() == 1
    assert set(split["split"]) == {"train", "test"}


# ---------------------------------------------------------------------------------------------- lidc_pickle layout

def _pickle_layout(root: Path, train: list[str], test: list[str], extra: list[str] | None = None) -> dict:
    """``lidc_attributes.pkl`` with the keys of ``train`` + ``test`` (+ ``extra``), images in three encodings."""
    root.mkdir(parents=True, exist_ok=True)
    data = {}
    for seed, key in enumerate(sorted(train + test + (extra or []))):
        image = _image(seed).astype(np.float32)
        encoded = [image / 255.0, image.astype(np.uint8), image][seed % 3]  # [0, 1] float, uint8, [0, 255] float
        data[key] = {"image": encoded, "masks": list(_rater_masks(seed).astype(np.uint8)),
                     "series_uid": f"{key.split('_')[0]}_series", "label": seed % 5}
    with (root / "lidc_attributes.pkl").open("wb") as handle:
        pickle.dump(data, handle)
    np.save(root / "train_idx.npy", np.array(train, dtype=object), allow_pickle=True)
    np.save(root / "test_idx.npy", np.array(test))
    return data


PICKLE_TRAIN = ["LIDC-IDRI-0001_a", "LIDC-IDRI-0001_b", "LIDC-IDRI-0002_a", "LIDC-IDRI-0003_a"]
PICKLE_TEST = ["LIDC-IDRI-0004_a", "LIDC-IDRI-0004_b"]


def test_lidc_pickle_fields_split_and_groups(tmp_path: Path) -> None:
    data = _pickle_layout(tmp_path, PICKLE_TRAIN, PICKLE_TEST, extra=["LIDC-IDRI-0009_unlisted"])
    adapter = get_adapter("lidc_pickle", tmp_path)
    assert adapter.sample_names() == sorted(PICKLE_TRAIN + PICKLE_TEST)
    assert adapter.layout_split() == {**dict.fromkeys(PICKLE_TRAIN, "train"), **dict.fromkeys(PICKLE_TEST, "test")}
    for name in adapter.sample_names():
        sample = adapter.load(name)
        expected_image = np.rint(np.asarray(data[name]["image"], dtype=np.float64)
                                 * (255 if data[name]["image"].max() <= 1 else 1)).astype(np.uint8)
        assert sample.image.dtype == np.uint8 and sample.image.shape == (SIZE, SIZE, 1)
        np.testing.assert_array_equal(sample.image[..., 0], expected_image)
        np.testing.assert_array_equal(sample.raters, np.asarray(data[name]["masks"], dtype=bool))
        np.testing.assert_array_equal(sample.mask, consensus_mask(sample.raters))
        assert sample.group == name.split("_")[0] and sample.split == adapter.layout_split()[name]


def test_prepare_lidc_pickle_in_worker_processes(tmp_path: Path) -> None:
    _pickle_layout(tmp_path / "lidc", PICKLE_TRAIN, PICKLE_TEST)
    one = prepare_dataset("lidc_pkl", "lidc_pickle", tmp_path / "lidc", tmp_path / "one", SIZE)
    two = prepare_dataset("lidc_pkl", "lidc_pickle", tmp_path / "lidc", tmp_path / "two", SIZE, workers=2)
    assert (one["n_train"], one["n_test"], one["n_raters"]) == (4, 2, 4)
    assert one["split_rule"] == two["split_rule"] and "train_idx.npy" in one["split_rule"]
    for file_name in ("data.npz", "split.csv", "original_masks.npz"):
        assert (tmp_path / "one" / file_name).read_bytes() == (tmp_path / "two" / file_name).read_bytes()


class _NotAnArray:
    """A class the restricted unpickler must refuse."""


def test_lidc_pickle_bad_inputs_name_the_file(tmp_path: Path) -> None:
    data = _pickle_layout(tmp_path, PICKLE_TRAIN, PICKLE_TEST)
    train_idx, test_idx, pkl = tmp_path / "train_idx.npy", tmp_path / "test_idx.npy", tmp_path / "lidc_attributes.pkl"

    np.save(test_idx, np.array([*PICKLE_TEST, "LIDC-IDRI-0001_a"]))
    with pytest.raises(InputError, match=r"1 key\(s\) listed twice or also in another index file") as error:
        get_adapter("lidc_pickle", tmp_path).sample_names()
    _one_line(error, test_idx)

    np.save(test_idx, np.array([*PICKLE_TEST, "LIDC-IDRI-0099_x"]))
    with pytest.raises(InputError, match=r"1 key\(s\) not in lidc_attributes\.pkl: LIDC-IDRI-0099_x") as error:
        get_adapter("lidc_pickle", tmp_path).sample_names()
    _one_line(error, test_idx)
    np.save(test_idx, np.array(PICKLE_TEST))

    with pytest.raises(InputError, match=r"'masks'\]: 4 rater masks, expected n_raters = 3") as error:
        get_adapter("lidc_pickle", tmp_path, n_raters=3).load(PICKLE_TEST[0])
    _one_line(error, pkl)

    data[PICKLE_TEST[0]]["masks"][2] = _image(3)
    data[PICKLE_TEST[1]]["image"] = np.full((SIZE, SIZE), 300.0)
    pkl.write_bytes(pickle.dumps(data))
    with pytest.raises(InputError, match=r"\['masks'\]\[2\]: labels are not binary") as error:
        get_adapter("lidc_pickle", tmp_path).load(PICKLE_TEST[0])
    _one_line(error, pkl)
    with pytest.raises(InputError, match=r"\['image'\]: float image values must lie in \[0, 1\] or \[0, 255\]"):
        get_adapter("lidc_pickle", tmp_path).load(PICKLE_TEST[1])

    data[PICKLE_TEST[1]]["image"] = _NotAnArray()
    pkl.write_bytes(pickle.dumps(data))
    with pytest.raises(InputError, match=r"cannot read pickle .*refusing to load .*_NotAnArray") as error:
        get_adapter("lidc_pickle", tmp_path).sample_names()
    _one_line(error, pkl)

    np.save(train_idx, np.array([1, 2], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"2 key\(s\) are not strings") as error:
        get_adapter("lidc_pickle", tmp_path).sample_names()
    _one_line(error, train_idx)

    train_idx.unlink()
    with pytest.raises(InputError, match="file not found") as error:
        get_adapter("lidc_pickle", tmp_path).sample_names()
    _one_line(error, train_idx)


# ----------------------------------------------------------------------------------------------------- mmis layout

SEQUENCES = ("t1", "t1c", "t2")
RATERS = ("label_a1", "label_a2", "label_a3", "label_a4")


def _sequences(seed: int, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (rng.normal(size=shape) * (index + 1) + 10 * index).astype(np.float32)
            for index, name in enumerate(SEQUENCES)}


def _write_h5(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=value)


def _mmis_layout(root: Path, test_folder: str = "validation") -> dict[str, dict[str, np.ndarray]]:
    """Two training volumes as 2-D slice files (plus one file without a slice number) and two test volumes."""
    written = {}
    for volume, depth in (("npc_001", 3), ("npc_002", 2)):
        for k in range(depth):
            seed = len(written)
            arrays = {**_sequences(seed, (SIZE, SIZE)),
                      **{rater: mask.astype(np.uint8) for rater, mask in zip(RATERS, _rater_masks(seed), strict=True)}}
            _write_h5(root / "training_2d" / f"{volume}_slice_{k}.h5", arrays)
            written[f"{volume}_slice_{k}"] = arrays
    lone = {**_sequences(99, (SIZE, SIZE)), **{rater: np.zeros((SIZE, SIZE), np.uint8) for rater in RATERS}}
    _write_h5(root / "training_2d" / "extra.h5", lone)
    written["extra"] = lone
    for volume, depth in (("npc_101", 4), ("npc_102", 2)):
        raters = np.stack([_rater_masks(seed) for seed in range(depth)], axis=1).astype(np.uint8)  # (4, D, H, W)
        arrays = {**_sequences(depth, (depth, SIZE, SIZE)), **dict(zip(RATERS, raters, strict=True))}
        _write_h5(root / test_folder / f"{volume}.h5", arrays)
        written[volume] = arrays
    return written


def _window_uint8(values: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(pooled.astype(np.float64), [0.5, 99.5])
    return np.rint(np.clip((values.astype(np.float64) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def test_mmis_names_groups_split_and_volume_windows(tmp_path: Path) -> None:
    written = _mmis_layout(tmp_path)
    adapter = get_adapter("mmis", tmp_path)
    test_names = [f"npc_101_slice-{k:03d}" for k in range(4)] + [f"npc_102_slice-{k:03d}" for k in range(2)]
    train_names = ["extra", "npc_001_slice_0", "npc_001_slice_1", "npc_001_slice_2", "npc_002_slice_0",
                   "npc_002_slice_1"]
    assert adapter.sample_names() == sorted(train_names + test_names)
    assert adapter.evaluation_unit == "group"
    assert adapter.layout_split() == {**dict.fromkeys(train_names, "train"), **dict.fromkeys(test_names, "test")}
    for name in train_names:
        sample = adapter.load(name)
        volume = name.rsplit("_slice_", 1)[0]
        assert sample.group == volume and sample.split == "train"
        assert sample.image.dtype == np.uint8 and sample.image.shape == (SIZE, SIZE, 3)
        slices = [arrays for stem, arrays in written.items() if stem.rsplit("_slice_", 1)[0] == volume]
        for channel, sequence in enumerate(SEQUENCES):
            pooled = np.stack([arrays[sequence] for arrays in slices])
            np.testing.assert_array_equal(sample.image[..., channel], _window_uint8(written[name][sequence], pooled))
        np.testing.assert_array_equal(sample.raters, np.stack([written[name][rater] for rater in RATERS]) > 0)
        np.testing.assert_array_equal(sample.mask, consensus_mask(sample.raters))
    for name in test_names:
        sample = adapter.load(name)
        volume, k = name.split("_slice-")[0], int(name.split("_slice-")[1])
        assert sample.group == volume and sample.split == "test" and sample.image.shape == (SIZE, SIZE, 3)
        for channel, sequence in enumerate(SEQUENCES):
            volume_values = written[volume][sequence]
            np.testing.assert_array_equal(sample.image[..., channel], _window_uint8(volume_values[k], volume_values))
        np.testing.assert_array_equal(sample.raters, np.stack([written[volume][rater][k] for rater in RATERS]) > 0)


def test_mmis_options_test_folder_and_one_sequence(tmp_path: Path) -> None:
    _mmis_layout(tmp_path, test_folder="testing")
    with pytest.raises(InputError, match="validation: folder not found"):
        get_adapter("mmis", tmp_path).sample_names()
    adapter = get_adapter("mmis", tmp_path, test_folder="testing", sequences=["t2"])
    assert adapter.load("npc_102_slice-001").image.shape == (SIZE, SIZE, 1)
    with pytest.raises(InputError, match=r"option 'sequences' must list 1 or 3 different dataset names"):
        get_adapter("mmis", tmp_path, sequences=["t1", "t2"])
    with pytest.raises(InputError, match=r"option 'test_folder' must be str"):
        get_adapter("mmis", tmp_path, test_folder=3)


def test_prepare_mmis_keeps_volumes_whole(tmp_path: Path) -> None:
    _mmis_layout(tmp_path / "mmis")
    metadata = prepare_dataset("mmis", "mmis", tmp_path / "mmis", tmp_path / "out", 8)
    assert (metadata["n_train"], metadata["n_test"], metadata["n_raters"]) == (6, 6, 4)
    assert metadata["evaluation_unit"] == "group" and metadata["channels"] == 3
    with np.load(tmp_path / "out" / "data.npz") as data:
        assert data["rater_masks"].shape == (12, 4, 8, 8) and data["images"].shape == (12, 8, 8, 3)
    split = pd.read_csv(tmp_path / "out" / "split.csv", dtype=str)
    test = split[split["split"] == "test"]
    assert list(test["group"]) == ["npc_101"] * 4 + ["npc_102"] * 2 and list(test["name"]) == sorted(test["name"])


def test_mmis_bad_inputs_name_the_file(tmp_path: Path) -> None:
    written = _mmis_layout(tmp_path)
    volume = tmp_path / "validation" / "npc_102.h5"
    arrays = dict(written["npc_102"])
    arrays["label_a3"] = arrays["label_a3"][:, :-1]
    _write_h5(volume, arrays)
    with pytest.raises(InputError, match="datasets differ in shape") as error:
        get_adapter("mmis", tmp_path).sample_names()
    _one_line(error, volume)

    del arrays["label_a3"]
    _write_h5(volume, arrays)
    with pytest.raises(InputError, match=r"dataset 'label_a3' not found") as error:
        get_adapter("mmis", tmp_path).sample_names()
    _one_line(error, volume)
    _write_h5(volume, written["npc_102"])

    slice_file = tmp_path / "training_2d" / "npc_001_slice_1.h5"
    grey = np.linspace(0, 200, SIZE * SIZE).reshape(SIZE, SIZE)
    _write_h5(slice_file, {**written["npc_001_slice_1"], "label_a2": grey})
    with pytest.raises(InputError, match=r"dataset 'label_a2': labels are not binary") as error:
        get_adapter("mmis", tmp_path).load("npc_001_slice_1")
    _one_line(error, slice_file)

    for labels, shown in ((np.full((SIZE, SIZE), 0.5), "0.5"), (np.tile([0.0, 2.0], (SIZE, SIZE // 2)), "0, 2")):
        _write_h5(slice_file, {**written["npc_001_slice_1"], "label_a2": labels})
        with pytest.raises(InputError, match=rf"dataset 'label_a2': labels are not binary \(values {shown};") as error:
            get_adapter("mmis", tmp_path).load("npc_001_slice_1")
        _one_line(error, slice_file)

    _write_h5(slice_file, {**written["npc_001_slice_1"], "t1c": np.zeros((2, SIZE, SIZE))})
    with pytest.raises(InputError, match=r"dataset 't1c' is float64 \(2, 16, 16\); expected a real 2-D") as error:
        get_adapter("mmis", tmp_path).load("npc_001_slice_1")
    _one_line(error, slice_file)

    slice_file.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="cannot read HDF5 file") as error:
        get_adapter("mmis", tmp_path).load("npc_001_slice_1")
    _one_line(error, slice_file)

    strict = get_adapter("mmis", tmp_path, allow_empty=False)
    with pytest.raises(InputError, match=r"dataset 'label_a1': the consensus of the 4 rater masks .* is empty"):
        strict.load("extra")


# ------------------------------------------------------------------------------------------------- real LIDC data

@pytest.mark.shared_data
@pytest.mark.slow
def test_lidc_shared_release_patients_slices_and_rater_agreement() -> None:
    if not LIDC_SHARED.is_dir():
        pytest.skip(f"real data set not available at {LIDC_SHARED} (see shared/data/README.md)")
    adapter = get_adapter("lidc", LIDC_SHARED)
    names = adapter.sample_names()
    assert len(names) == 2032 and names == sorted(set(names))
    samples = [adapter.load(name) for name in names]
    assert len({sample.group for sample in samples}) == 124
    assert all(sample.raters.shape == (4, 128, 128) and sample.image.shape == (128, 128, 1) for sample in samples)
    raters = np.stack([sample.raters for sample in samples])
    either = raters[:, 0].any(axis=(1, 2)) | raters[:, 1].any(axis=(1, 2))
    agreement = dice_per_image(raters[either, 0], raters[either, 1]).mean()
    assert 0.3 < agreement < 0.7


def test_protocol_2_pickles_from_python_3_load_and_payloads_stay_refused(tmp_path: Path) -> None:
    data = _pickle_layout(tmp_path, PICKLE_TRAIN, PICKLE_TEST)
    pkl = tmp_path / "lidc_attributes.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    assert b"_codecs" in pkl.read_bytes()
    adapter = get_adapter("lidc_pickle", tmp_path)
    sample = adapter.load(PICKLE_TRAIN[1])
    np.testing.assert_array_equal(sample.raters, np.asarray(data[PICKLE_TRAIN[1]]["masks"], dtype=bool))

    rot13 = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x05\x00\x00\x00rot13q\x02\x86q\x03Rq\x04."
    system = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    cases = ((rot13, r"refusing _codecs.encode\(str, 'rot13'\)"), (system, "refusing to load os.system"))
    for payload, refused in cases:
        pkl.write_bytes(payload)
        with pytest.raises(InputError, match=refused) as error:
            get_adapter("lidc_pickle", tmp_path).sample_names()
        _one_line(error, pkl)

"""Adapters on the real data sets in ../shared/data (Kvasir-SEG, JSRT); skipped where that folder is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters import get_adapter, prepare_dataset, seeded_split

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KVASIR = SHARED_DATA / "kvasir-seg"
JSRT = SHARED_DATA / "jsrt"

pytestmark = pytest.mark.shared_data


def _require(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"real data set not available at {folder} (see shared/data/README.md)")
    return folder


def test_kvasir_seg_names_sizes_and_binary_masks() -> None:
    adapter = get_adapter("kvasir_seg", _require(KVASIR))
    names = adapter.sample_names()
    assert len(names) == 1000 and names == sorted(set(names))
    boxes = json.loads((KVASIR / "kavsir_bboxes.json").read_text())
    assert set(names) == set(boxes)
    for name in names[::50]:
        sample = adapter.load(name)
        assert sample.image.shape == (boxes[name]["height"], boxes[name]["width"], 3)
        assert sample.mask.dtype == bool and 0.004 < sample.mask.mean() < 0.82
    test = [part for part in seeded_split(names, "kvasir", 0, 300) if part == "test"]
    assert len(test) == 300


def test_folder_adapter_reads_the_kvasir_layout() -> None:
    kvasir = get_adapter("kvasir_seg", _require(KVASIR))
    generic = get_adapter("folder", KVASIR)
    assert generic.sample_names() == kvasir.sample_names()
    name = kvasir.sample_names()[123]
    np.testing.assert_array_equal(generic.load(name).image, kvasir.load(name).image)
    np.testing.assert_array_equal(generic.load(name).mask, kvasir.load(name).mask)


def test_jsrt_lung_prepares_with_layout_split(tmp_path: Path) -> None:
    metadata = prepare_dataset("jsrt_lung", "jsrt", _require(JSRT), tmp_path / "out", 128, workers=2)
    assert (metadata["n_train"], metadata["n_val"], metadata["n_test"]) == (148, 24, 75)
    assert metadata["channels"] == 1 and set(map(tuple, metadata["original_sizes"].values())) == {(256, 256)}
    with np.load(tmp_path / "out" / "data.npz") as data:
        assert data["images"].shape == (247, 128, 128, 1)
        masks = data["masks"]
    assert set(np.unique(masks)) == {0, 1} and masks.reshape(247, -1).any(axis=1).all()
    split = pd.read_csv(tmp_path / "out" / "split.csv")
    assert split.groupby("split").size().to_dict() == {"test": 75, "train": 148, "val": 24}


@pytest.mark.slow
def test_kvasir_seg_prepares_700_300(tmp_path: Path) -> None:
    metadata = prepare_dataset("kvasir", "kvasir_seg", _require(KVASIR), tmp_path / "out", 64, workers=2,
                               n_test=300)
    assert (metadata["n_train"], metadata["n_test"], metadata["channels"]) == (700, 300, 3)
    boxes = json.loads((KVASIR / "kavsir_bboxes.json").read_text())
    assert metadata["original_sizes"] == {name: [box["height"], box["width"]] for name, box in boxes.items()}
    with np.load(tmp_path / "out" / "data.npz") as data:
        assert data["images"].shape == (1000, 64, 64, 3)
        assert set(np.unique(data["masks"])) == {0, 1}
    with np.load(tmp_path / "out" / "original_masks.npz") as originals:
        shares = [originals[name].mean() for name in originals.files]
    assert len(shares) == 1000 and 0.14 < np.mean(shares) < 0.17 and min(shares) > 0

"""The noise-examples figure from a tiny prepared data set and noise folders (docs/architecture.md formats)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.errors import InputError
from evaluation.figures import noise_examples_figure

NAMES = [f"img{index:02d}" for index in range(6)]


def make_prepared(root: Path, channels: int) -> Path:
    """results/prepared/toy with 6 images (4 train), disc masks."""
    prepared = root / "prepared" / "toy"
    prepared.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:32, :32]
    masks = np.stack([((rows - 16) ** 2 + (cols - 14 - i) ** 2 < 64).astype(np.uint8) for i in range(6)])
    images = rng.integers(0, 256, (6, 32, 32, channels), dtype=np.uint8)
    np.savez(prepared / "data.npz", images=images, masks=masks, names=np.array(NAMES))
    splits = ["train", "train", "test", "train", "test", "train"]
    (prepared / "split.csv").write_text("name,split\n" + "".join(f"{n},{s}\n" for n, s in zip(NAMES, splits,
                                                                                            strict=True)))
    metadata = {"dataset": "toy", "synthetic": True, "working_size": [32, 32], "channels": channels}
    (prepared / "metadata.json").write_text(json.dumps(metadata))
    return prepared


def make_noise(root: Path, prepared: Path, setting: str, radius_change: int) -> Path:
    folder = root / "noise" / "toy" / setting
    folder.mkdir(parents=True)
    train = [name for name, split in (line.split(",") for line in (prepared / "split.csv").read_text().split()[1:])
             if split == "train"]
    rows, cols = np.mgrid[:32, :32]
    masks = np.stack([((rows - 16) ** 2 + (cols - 14) ** 2 < (8 + radius_change) ** 2).astype(np.uint8)
                      for _ in train])
    np.savez(folder / "noisy_masks.npz", masks=masks, names=np.array(train))
    return folder


@pytest.mark.parametrize("channels", [1, 3])
def test_figure_is_written(tmp_path: Path, channels: int) -> None:
    prepared = make_prepared(tmp_path, channels)
    noise_dirs = {"S_E": make_noise(tmp_path, prepared, "S_E", 3), "S_R": make_noise(tmp_path, prepared, "S_R", -3)}
    out = tmp_path / "figures" / "noise_examples.png"
    noise_examples_figure(prepared, noise_dirs, out, n_examples=3, seed=1, title_suffix=" (test)")
    assert out.stat().st_size > 10_000
    with Image.open(out) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert width > 2 * 200 and height > 3 * 200
    vermillion = np.all(np.abs(pixels.astype(int) - [0xD5, 0x5E, 0x00]) < 30, axis=-1)
    assert vermillion.sum() > 50
    assert [p.name for p in out.parent.iterdir()] == ["noise_examples.png"]


def test_missing_noise_file_raises_input_error(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path, 1)
    missing = tmp_path / "noise" / "toy" / "S_DE"
    with pytest.raises(InputError, match=r"noisy_masks\.npz"):
        noise_examples_figure(prepared, {"S_DE": missing}, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()

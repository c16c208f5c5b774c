"""The authors' per-step Markov loop (port in benchmarks/noise_speed.py) against the suite's windowed generator.

Both consume the random stream the same way (T step kinds, then one draw per candidate in row-major order, then
theta3's flips), so the same stream must give the same mask, pixel for pixel.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import noise_speed
from benchmarks.noise_speed import reference_markov_noise
from noise.markov import markov_boundary_noise
from noise.simulate import read_mask_file

KVASIR_MASKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg" / "masks"


def blob_mask(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A few random discs, some cut by the image border."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(3):
        centre_row, centre_col = rng.uniform(0, shape)
        radius = rng.uniform(4, min(shape) / 3)
        mask |= (rows - centre_row) ** 2 + (cols - centre_col) ** 2 < radius ** 2
    return mask


def same_masks(mask: np.ndarray, steps: int, theta1: float, theta2: float, theta3: float, seed: int) -> bool:
    ours = markov_boundary_noise(mask, steps, theta1, theta2, theta3, rng=np.random.default_rng(seed))
    port = reference_markov_noise(mask, steps, theta1, theta2, theta3, rng=np.random.default_rng(seed))
    return bool(np.array_equal(ours, port))


@pytest.mark.parametrize(("theta1", "theta3"), [(0.2, 0.0), (0.8, 0.0), (0.5, 0.2)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_port_gives_the_suites_masks_for_the_same_stream(theta1: float, theta3: float, seed: int) -> None:
    mask = blob_mask((96, 120), seed)
    assert same_masks(mask, 200, theta1, 0.05, theta3, seed)


def test_port_leaves_empty_and_full_masks_unchanged_by_the_chain() -> None:
    for mask in (np.zeros((32, 40), dtype=bool), np.ones((32, 40), dtype=bool)):
        assert same_masks(mask, 50, 0.5, 0.2, 0.0, 3)


@pytest.mark.shared_data
def test_port_gives_the_suites_masks_on_kvasir_at_original_size() -> None:
    if not KVASIR_MASKS.is_dir():
        pytest.skip(f"shared data not found: {KVASIR_MASKS} (real data sets live in ../shared/data)")
    files = sorted(KVASIR_MASKS.glob("*.jpg"), key=lambda path: path.stat().st_size)[:2]   # two smallest files
    for index, path in enumerate(files):
        mask = read_mask_file(path)
        for theta1 in (0.2, 0.8):   # S_R, S_E
            assert same_masks(mask, 200, theta1, 0.05, 0.0, index), (path.name, theta1)


def test_benchmark_times_the_port_on_one_mask_in_k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``noise_speed.py --port-every 2`` on five masks: the authors' loop runs on masks 1, 3 and 5 by name, and its
    ratio compares the same three masks."""
    for index in range(5):
        Image.fromarray(blob_mask((48, 64), index).astype(np.uint8) * 255).save(tmp_path / f"mask{index}.png")
    monkeypatch.setattr(sys, "argv", ["noise_speed.py", "--masks", str(tmp_path), "--workers", "1",
                                      "--port-every", "2"])
    assert noise_speed.main() == 0
    printed = capsys.readouterr().out
    assert "authors' per-step loop on 1 mask in 2 by name: 3 masks" in printed
    for name in ("S_R", "S_E"):
        assert re.search(rf"^{name} on those 3 masks: .* ratio [0-9.]+x; same mask for 3/3$", printed, re.MULTILINE)

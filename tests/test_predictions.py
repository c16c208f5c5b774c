"""The engine's predictions.npz: the last epoch's fused test predictions, deterministic, kept through a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.metrics import dice_per_image
from training.data import load_prepared
from training.engine import CHECKPOINT_NAME, PREDICTIONS_NAME, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_synthetic_inputs(tmp_path_factory.mktemp("inputs"), n_train=8, n_test=5, size=32)


def config(inputs: tuple[Path, Path]) -> RunConfig:
    prepared, noise = inputs
    return RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", epochs=2, batch_size=4, eval_last_k=2,
                     eval_batch_size=2, threads=1)


def quiet(_: str) -> None:
    pass


@pytest.mark.slow
def test_predictions_are_the_last_epochs_fused_test_masks(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    train(config(inputs), tmp_path / "a", tmp_path / "ck_a", log=quiet)
    with np.load(tmp_path / "a" / PREDICTIONS_NAME, allow_pickle=False) as archive:
        masks, names = archive["masks"], archive["names"]
    prepared = load_prepared(inputs[0])
    test = prepared.indices("test")
    assert masks.dtype == bool and masks.shape == (5, 32, 32)
    assert names.tolist() == prepared.names[test].tolist()
    per_image = pd.read_csv(tmp_path / "a" / "per_image.csv")
    last = per_image[per_image["epoch"] == 1].set_index("name").loc[names.tolist(), "dice"].to_numpy()
    assert dice_per_image(masks, prepared.masks[test]) == pytest.approx(last, abs=1e-12)

    train(config(inputs), tmp_path / "b", tmp_path / "ck_b", log=quiet)
    assert (tmp_path / "a" / PREDICTIONS_NAME).read_bytes() == (tmp_path / "b" / PREDICTIONS_NAME).read_bytes()


@pytest.mark.slow
def test_a_run_resumed_after_its_last_epoch_writes_the_same_predictions(inputs: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    train(config(inputs), tmp_path / "run", tmp_path / "ck", log=quiet, keep_checkpoint=True)
    first = (tmp_path / "run" / PREDICTIONS_NAME).read_bytes()
    (tmp_path / "run" / PREDICTIONS_NAME).unlink()
    lines: list[str] = []
    train(config(inputs), tmp_path / "run", tmp_path / "ck", log=lines.append)
    assert not any(line.startswith("epoch ") for line in lines)  # nothing retrained
    assert (tmp_path / "run" / PREDICTIONS_NAME).read_bytes() == first
    assert not (tmp_path / "ck" / CHECKPOINT_NAME).exists()

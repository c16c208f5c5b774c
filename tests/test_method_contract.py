"""The method contract, tested for every registered method (a user's new one included) without writing a test.

For each name in the registry, built with :meth:`Method.contract_options` (its defaults, unless it needs
external files): it rejects an unknown option; an epoch of the engine (every hook: epoch start, labels, forward,
loss, after-backward, after-step, epoch end) on tiny 2D images and 3D volumes, early and late in a schedule,
gives finite losses and moves the networks' parameters; the same seed gives the same losses; its state survives
a state_dict round trip; a run killed after an epoch resumes to the uninterrupted run's outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

import methods
from common.errors import InputError
from methods.base import Method
from methods.registry import build_method, get_method
from tests.resume_helpers import assert_same_run_outputs, stop_at_epoch_line
from training.augment import InputScaler
from training.data import TrainingSet
from training.engine import (
    CHECKPOINT_NAME,
    build_networks,
    optimizer_settings,
    train,
    train_epoch,
    training_set_view,
)
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

NAMES = methods.available_methods()
SIDE = 16
#: A long schedule's last epoch, so that late phases (GSD-Net's knowledge transfer from epoch 30) run too.
LONG_RUN_EPOCHS = 40
BACKBONES = {2: "unet_small", 3: "unet3d_small"}
CHANNELS = {2: 3, 3: 4}


def build(name: str, **extra: Any) -> Method:
    return build_method(name, **get_method(name).contract_options(), **extra)


def tiny_training_set(dims: int, n: int = 4, seed: int = 0) -> TrainingSet:
    """``n`` samples of bright boxes on a dark noisy background, noisy labels shifted by one pixel, D, blocks."""
    rng = np.random.default_rng(seed)
    shape = (SIDE,) * dims
    masks = np.zeros((n, *shape), dtype=np.uint8)
    for index in range(n):
        low = rng.integers(2, SIDE // 2, dims)
        masks[(index, *[slice(start, start + SIDE // 3) for start in low])] = 1
    images = (40 + 150 * masks[:, None] + rng.normal(0, 10, (n, CHANNELS[dims], *shape))).clip(0, 255)
    noisy = np.roll(masks, 1, axis=-1)
    distance = np.stack([np.floor(np.minimum(distance_transform_edt(mask), 10)
                                  + np.minimum(distance_transform_edt(1 - mask), 10)) for mask in noisy])
    blocks = sum((np.indices(shape)[axis] // 4) * (SIDE // 4) ** axis for axis in range(dims))
    return TrainingSet([f"s{index}" for index in range(n)],
                       images=torch.from_numpy(images.astype(np.uint8)),
                       labels=torch.from_numpy(noisy), clean_labels=torch.from_numpy(masks),
                       distance=torch.from_numpy(distance.astype(np.uint8)),
                       superpixels=torch.from_numpy(np.broadcast_to(blocks, noisy.shape).astype(np.int32).copy()))


def run_epochs(name: str, dims: int, epochs: list[int], seed: int = 0) -> tuple[list[dict[str, float]], Method, list]:
    """The rows of ``epochs`` (indices of a LONG_RUN_EPOCHS run) trained in order through the engine's epoch."""
    torch.manual_seed(seed)
    method = build(name)
    config = RunConfig(prepared_dir=Path("unused"), method=name, backbone=BACKBONES[dims], epochs=LONG_RUN_EPOCHS,
                       batch_size=2, eval_batch_size=2, eval_last_k=1, seed=seed, device="cpu")
    train_set = tiny_training_set(dims)
    networks = build_networks(method, config.backbone, CHANNELS[dims], seed)
    optimizer = method.configure_optimizer(networks, optimizer_settings(config))
    method.on_train_start(training_set_view(train_set), torch.device("cpu"))
    rows = [train_epoch(epoch, config, networks, method, optimizer, train_set, InputScaler("raw"), 0.1,
                        torch.device("cpu")) for epoch in epochs]
    for row in rows:
        row.pop("train_seconds")
    return rows, method, networks


def dims_of(name: str) -> list[int]:
    return [2, 3] if get_method(name).supports_volumes else [2]


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_rejects_an_unknown_option(name: str) -> None:
    assert isinstance(build(name), Method)
    with pytest.raises(InputError, match=rf"^method '{name}': unknown option\(s\) not_an_option; known options: "):
        build(name, not_an_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_an_epoch_early_and_late_gives_finite_losses_and_moves_the_parameters(name: str) -> None:
    for dims in dims_of(name):
        torch.manual_seed(0)
        untrained = [parameter.detach().clone() for network in build_networks(build(name), BACKBONES[dims],
                                                                                 CHANNELS[dims], 0)
                     for parameter in network.parameters()]
        rows, _, networks = run_epochs(name, dims, [0, LONG_RUN_EPOCHS - 1])
        assert all(np.isfinite(row["loss"]) for row in rows), (dims, rows)
        trained = [parameter.detach() for network in networks for parameter in network.parameters()]
        assert len(trained) == len(untrained)
        assert any(not torch.equal(before, after) for before, after in zip(untrained, trained, strict=True)), dims


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_losses_and_another_seed_does_not(name: str) -> None:
    first, _, _ = run_epochs(name, 2, [0, LONG_RUN_EPOCHS - 1])
    again, _, _ = run_epochs(name, 2, [0, LONG_RUN_EPOCHS - 1])
    other, _, _ = run_epochs(name, 2, [0, LONG_RUN_EPOCHS - 1], seed=1)
    assert first == again
    assert [row["loss"] for row in first] != [row["loss"] for row in other]


@pytest.mark.parametrize("name", NAMES)
def test_the_method_state_survives_a_state_dict_round_trip(name: str) -> None:
    _, trained, _ = run_epochs(name, 2, [0, LONG_RUN_EPOCHS - 1])
    fresh = build(name)
    fresh.on_train_start(training_set_view(tiny_training_set(2)), torch.device("cpu"))
    fresh.load_state_dict(trained.state_dict())
    restored, original = fresh.state_dict(), trained.state_dict()
    assert restored.keys() == original.keys()
    for key, value in original.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(restored[key], value), key
        else:
            assert restored[key] == value, key


@pytest.mark.parametrize("name", NAMES)
def test_a_killed_run_resumes_to_the_uninterrupted_outputs(name: str, tmp_path: Path) -> None:
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=4, n_test=2, size=SIDE * 2)
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method=name,
                       method_options=get_method(name).contract_options(), epochs=3, batch_size=2,
                       eval_batch_size=2, eval_last_k=2, threads=1, device="cpu")
    train(config, tmp_path / "full", tmp_path / "ck_full", log=lambda _: None)

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", tmp_path / "ck", log=stop_at_epoch_line(2))
    assert (tmp_path / "ck" / CHECKPOINT_NAME).exists()
    train(config, tmp_path / "resumed", tmp_path / "ck", log=lambda _: None)
    assert_same_run_outputs(tmp_path / "full", tmp_path / "resumed")

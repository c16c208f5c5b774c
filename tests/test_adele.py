"""ADELE's pieces on hand-worked cases, and engine runs on a tiny generated set (epoch-end paths, resume)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from common.errors import InputError
from methods.adele import (
    ADELEMethod,
    class_iou,
    corrected_labels,
    learning_curve,
    multiscale_consistency,
    relative_slope_change,
    scaled_sizes,
)
from methods.base import Batch, EpochContext, StepContext, TrainingSetView
from methods.registry import build_method
from tests.resume_helpers import assert_same_run_outputs, stop_at_epoch_line
from training.engine import CHECKPOINT_NAME, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


class SizeRecorder(nn.Module):
    """Logits (two channels: the mean input channel and zero) recording the spatial size of every input."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[list[int]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(list(images.shape[2:]))
        mean = images.mean(dim=1, keepdim=True)
        return torch.cat([mean, torch.zeros_like(mean)], dim=1)


def _batch(images: torch.Tensor, labels: torch.Tensor) -> Batch:
    return Batch(images=images, jittered=images, labels=labels, distance=torch.zeros_like(labels, dtype=torch.float),
                 superpixels=torch.zeros_like(labels))


def _step() -> StepContext:
    return StepContext(epoch=0, num_epochs=1, tau=0.3, networks=[], generator=torch.Generator())


def _probs_to_logits(fg: list[float]) -> torch.Tensor:
    """``(1, 2, 1, n)`` logits whose softmax foreground probabilities are ``fg``."""
    fg_t = torch.tensor(fg, dtype=torch.float64)
    return torch.stack([torch.zeros_like(fg_t), torch.log(fg_t / (1 - fg_t))]).view(1, 2, 1, -1)


def test_scaled_sizes_are_multiples_of_16_and_at_least_16() -> None:
    assert scaled_sizes([256, 256], 0.7) == [176, 176]  # 179.2 -> 11.2 x 16 -> 11 x 16
    assert scaled_sizes([256, 256], 1.5) == [384, 384]
    assert scaled_sizes([256, 256], 1.0) == [256, 256]
    assert scaled_sizes([16, 32], 0.7) == [16, 16]  # 11.2 and 22.4: at least 16
    assert scaled_sizes([16, 16, 48], 1.5) == [32, 32, 80]  # 24 rounds half up to 32; 72 -> 4.5 -> 80
    assert scaled_sizes([256], 0.7, multiple=32) == [192]  # 5.6 x 32


@pytest.mark.parametrize("shape", [(2, 3, 32, 48), (1, 4, 16, 32, 32)])
def test_the_multiscale_forward_sees_the_scaled_sizes_and_returns_full_size_logits(shape: tuple[int, ...]) -> None:
    network = SizeRecorder()
    images = torch.rand(shape)
    labels = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
    logits = ADELEMethod().forward_batch([network], _batch(images, labels), _step())
    spatial = list(shape[2:])
    assert network.sizes == [spatial, scaled_sizes(spatial, 0.7), scaled_sizes(spatial, 1.5)]
    assert [list(item.shape) for item in logits] == [[shape[0], 2, *spatial]] * 3
    assert torch.equal(logits[0], network(images))  # scale 1.0: no resizing


def test_the_consistency_is_masked_where_the_mixture_reaches_rho() -> None:
    # pixel 0: scales 0.91 / 0.81 / 0.71 background -> m = (0.81, 0.19), kept at rho 0.8;
    # pixel 1: 0.89 / 0.79 / 0.69 -> m = (0.79, 0.21), masked out.
    per_scale_bg = [[0.91, 0.89], [0.81, 0.79], [0.71, 0.69]]
    logits = [_probs_to_logits([1 - bg for bg in scale]) for scale in per_scale_bg]
    labels = torch.zeros((1, 1, 2), dtype=torch.long)
    ce, consistency, mask = multiscale_consistency(logits, labels, rho=0.8)
    assert mask.tolist() == [[[True, False]]]
    expected_kl = sum(bg * math.log(bg / 0.81) + (1 - bg) * math.log((1 - bg) / 0.19) for bg in (0.91, 0.81, 0.71))
    assert consistency.item() == pytest.approx(expected_kl / 2, rel=1e-4)  # averaged over both pixels
    expected_ce = -np.mean([np.log(scale).mean() for scale in per_scale_bg])
    assert ce.item() == pytest.approx(expected_ce, rel=1e-5)
    # the authors' rule: one mask per image from the image's largest mixture probability
    _, image_consistency, image_mask = multiscale_consistency(logits, labels, rho=0.8, mask_rule="image")
    assert image_mask.all() and image_consistency.item() > consistency.item()
    _, _, none = multiscale_consistency(logits, labels, rho=0.82, mask_rule="image")
    assert not none.any()
    # the method's loss: (lambda * consistency + CE) / 3
    method = ADELEMethod(consistency_weight=2.0)
    output = method.loss(logits, _batch(torch.zeros(1, 3, 1, 2), labels), _step())
    assert output.loss.item() == pytest.approx((2.0 * expected_kl / 2 + expected_ce) / 3, rel=1e-4)


def test_the_mixture_is_clamped() -> None:
    logits = [torch.tensor([[[[40.0]], [[-40.0]]]])] * 3
    _, consistency, mask = multiscale_consistency(logits, torch.zeros((1, 1, 1), dtype=torch.long), rho=0.8)
    assert mask.all()
    # p = (1, ~0), m = (1 - 1e-3, 1e-3): KL = 3 * log(1 / (1 - 1e-3))
    assert consistency.item() == pytest.approx(3 * -math.log(1 - 1e-3), rel=1e-4)


def test_class_iou_over_all_pixels() -> None:
    prediction = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]])
    labels = torch.tensor([[0, 1, 0, 0], [1, 1, 1, 0]])
    # fg: intersection 3, union 5; bg: intersection 3, union 5
    assert class_iou(prediction, labels, 2) == [pytest.approx(0.6), pytest.approx(0.6)]
    assert math.isnan(class_iou(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), 2)[1])


def test_a_saturating_curve_triggers_and_a_linear_one_does_not() -> None:
    t = np.arange(1, 11, dtype=float)
    saturating = learning_curve(t, 0.8, 1.0, 2.0)  # f'(10) / f'(1) = exp(-4.5): change 0.99
    change = relative_slope_change(saturating.tolist())
    assert change is not None and change > 0.9
    assert relative_slope_change(saturating[:4].tolist()) < 0.9  # exp(-1.5): change 0.78, not yet
    linear = 0.05 * t
    change = relative_slope_change(linear.tolist())
    assert change is not None and change < 0.9
    assert relative_slope_change([0.1, 0.2]) is None  # fewer than 3 points: not yet
    assert relative_slope_change([0.1, math.nan, 0.3, 0.4]) is None


def test_the_correction_rule_at_0_7() -> None:
    fg = torch.tensor([0.75, 0.69, 0.2, 0.31, 0.5, 0.9])
    probs = torch.stack([1 - fg, fg]).view(1, 2, 1, -1)
    labels = torch.tensor([[[0, 0, 1, 1, 1, 1]]], dtype=torch.uint8)
    # 0.75 > 0.7: foreground; 0.69: not confident; bg 0.8 > 0.7: background; bg 0.69: not; tie 0.5: not confident
    assert corrected_labels(probs, labels, [1], 0.7, 0.7).tolist() == [[[1, 0, 0, 1, 1, 1]]]
    assert corrected_labels(probs, labels, [], 0.7, 0.7).tolist() == labels.long().tolist()
    assert corrected_labels(probs, labels, [1], 0.8, 0.7).tolist() == [[[0, 0, 0, 1, 1, 1]]]


def _training_set(n: int = 3) -> TrainingSetView:
    labels = torch.zeros((n, 4, 4), dtype=torch.uint8)
    labels[:, 1:3, 1:3] = 1
    return TrainingSetView(labels=labels, superpixels=torch.zeros((n, 4, 4), dtype=torch.int32),
                           distance=torch.zeros((n, 4, 4)))


def _epoch_context(epoch: int, training_set: TrainingSetView, logits: torch.Tensor) -> EpochContext:
    return EpochContext(epoch=epoch, num_epochs=40, tau=0.3, networks=[], optimizer=None,  # type: ignore[arg-type]
                        training_set=training_set, infer_training_set=lambda: [logits],
                        generator=torch.Generator())


def test_the_epoch_end_keeps_the_history_triggers_and_corrects_into_a_persistent_store() -> None:
    view = _training_set()
    method = ADELEMethod(correct_every=10)
    method.on_train_start(view, torch.device("cpu"))
    assert torch.equal(method.training_labels(torch.tensor([2, 0]), view.labels[:2]), view.labels[[2, 0]])
    # predictions: foreground at 0.9 in the whole top row plus the labelled square, background 0.9 elsewhere
    fg = torch.full((3, 4, 4), 0.1)
    fg[:, 0, :] = 0.9
    fg[:, 1:3, 1:3] = 0.9
    logits = torch.stack([torch.zeros_like(fg), torch.log(fg / (1 - fg))], dim=1)
    # a saturating foreground IoU history already seen: this epoch's value continues it
    method.iou_history = [[0.9, value] for value in learning_curve(np.arange(1.0, 9.0), 0.5, 1.0, 2.0)]
    method.update_epochs = [None, None]
    logs = method.on_epoch_end(_epoch_context(8, view, logits))
    assert logs["adele_iou_1"] == pytest.approx(4 / 8)  # the square (4) within the square plus the top row (8)
    assert len(method.iou_history) == 9 and method.update_epochs == [None, 8]
    assert logs["adele_classes_corrected"] == 1.0 and logs["adele_changed_share"] == pytest.approx(4 / 16)
    expected = view.labels.clone()
    expected[:, 0, :] = 1
    assert torch.equal(method.store.labels, expected)
    assert torch.equal(method.training_labels(torch.tensor([1]), view.labels[:1]), expected[[1]])
    # the next epoch is not a correction epoch (10th), and the store keeps the corrections
    logits_bg = torch.stack([torch.zeros_like(fg), torch.full_like(fg, -5.0)], dim=1)
    logs = method.on_epoch_end(_epoch_context(10, view, logits_bg))
    assert logs["adele_changed_share"] == 0.0 and torch.equal(method.store.labels, expected)
    # the 20th epoch is: confident background everywhere replaces every label
    logs = method.on_epoch_end(_epoch_context(19, view, logits_bg))
    assert logs["adele_changed_share"] == pytest.approx(8 / 16) and not method.store.labels.any()
    # the store and the history round-trip through state_dict
    fresh = ADELEMethod()
    fresh.on_train_start(view, torch.device("cpu"))
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.store.labels, method.store.labels)
    assert fresh.iou_history == method.iou_history and fresh.update_epochs == [None, 8]


def test_a_short_history_is_not_yet() -> None:
    view = _training_set()
    method = ADELEMethod(r=0.0)
    method.on_train_start(view, torch.device("cpu"))
    logits = torch.zeros((3, 2, 4, 4))
    for epoch in range(2):
        logs = method.on_epoch_end(_epoch_context(epoch, view, logits))
        assert logs["adele_classes_corrected"] == 0.0
    assert len(method.iou_history) == 2 and method.update_epochs == [None, None]


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="option 'scales'"):
        build_method("adele", scales="1.0,x")
    with pytest.raises(InputError, match="option 'mask_rule'"):
        build_method("adele", mask_rule="voxel")
    with pytest.raises(InputError, match="option 'min_fit_points' must be >= 3"):
        build_method("adele", min_fit_points=2)
    sgd = build_method("adele", authors_optimizer=True).configure_optimizer([nn.Linear(2, 2)], None)  # type: ignore
    assert sgd.defaults["lr"] == 0.01 and sgd.defaults["momentum"] == 0.99 and sgd.defaults["weight_decay"] == 0.0


def _config(tmp_path: Path, **options: Any) -> RunConfig:
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=4, n_test=2, size=32)
    return RunConfig(prepared_dir=prepared, noise_dir=noise, method="adele",
                     method_options={"r": 0.0, "correct_every": 2, **options}, epochs=4, batch_size=2,
                     eval_batch_size=2, eval_last_k=2, threads=1, device="cpu")


def test_an_engine_run_corrects_and_a_killed_run_resumes_identically(tmp_path: Path) -> None:
    config = _config(tmp_path)
    train(config, tmp_path / "full", tmp_path / "ck_full", log=lambda _: None)
    epochs = pd.read_csv(tmp_path / "full" / "epochs.csv")
    # three IoU values at epoch 2 allow the first fit; r = 0 makes any slope change trigger it
    assert epochs["adele_classes_corrected"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert {"ce", "consistency", "adele_iou_0", "adele_iou_1"} <= set(epochs.columns)

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", tmp_path / "ck", log=stop_at_epoch_line(3))
    state = torch.load(tmp_path / "ck" / CHECKPOINT_NAME, weights_only=True)["method"]
    assert state["store.labels"].shape == (4, 32, 32) and len(state["_extra_state"]["iou_history"]) == 3
    train(config, tmp_path / "resumed", tmp_path / "ck", log=lambda _: None)
    assert_same_run_outputs(tmp_path / "full", tmp_path / "resumed")

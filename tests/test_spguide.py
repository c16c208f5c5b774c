"""SP-Guide's pieces on hand-worked cases, and engine runs on a tiny generated set (refinement, resume)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from common.errors import InputError
from methods.base import Batch, EpochContext, StepContext, TrainingSetView
from methods.registry import build_method
from methods.selection import pixel_cross_entropy, symmetric_kl
from methods.spguide import (
    SPGuideMethod,
    class_weighted_mean,
    classwise_small_loss,
    flip_labels,
    jocor_form,
    superpixel_means,
)
from tests.resume_helpers import assert_same_run_outputs, stop_at_epoch_line
from training.engine import CHECKPOINT_NAME, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


@pytest.mark.parametrize("shape", [(3, 6, 5), (2, 3, 4, 5)])
def test_superpixel_means_equal_a_loop_reference(shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(0)
    values = torch.rand(shape, generator=generator)
    superpixels = torch.randint(0, 4, shape, generator=generator)
    superpixels[0] = 0  # one segment covers the whole first image
    reference = torch.empty_like(values)
    for image in range(shape[0]):
        for segment in superpixels[image].unique():
            inside = superpixels[image] == segment
            reference[image][inside] = values[image][inside].mean()
    assert torch.allclose(superpixel_means(values, superpixels.int()), reference, atol=1e-6)
    assert torch.allclose(superpixel_means(values, superpixels)[0], values[0].mean().expand(shape[1:]), atol=1e-6)


def test_selection_drops_the_largest_share_per_class() -> None:
    criterion = torch.arange(17, dtype=torch.float).flip(0)  # 16, 15, ..., 0
    labels = torch.tensor([0] * 10 + [1] * 7)
    keep = classwise_small_loss(criterion, labels, forget_bg=0.3, forget_fg=0.5)
    # bg: k = 3 of 10 -> the 3 largest (16, 15, 14) dropped; fg: k = floor(3.5) = 3 of 7 -> 6, 5, 4 dropped
    assert keep.tolist() == [False] * 3 + [True] * 7 + [False] * 3 + [True] * 4
    # k = floor(0.05 * 10) = 0 keeps the whole class
    assert classwise_small_loss(criterion, labels, 0.05, 0.0).all()
    # ties with the k-th largest are dropped with it (whole superpixels)
    tied = torch.tensor([5.0, 5.0, 5.0, 1.0, 2.0])
    assert classwise_small_loss(tied, torch.zeros(5, dtype=torch.long), 0.2, 0.0).tolist() == [
        False, False, False, True, True]


def test_the_class_weight_is_bg_over_fg_of_the_kept_pixels_and_at_least_one() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0])
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1])
    selected = torch.tensor([True] * 6 + [True, True, False])
    mean, weight = class_weighted_mean(values, labels, selected)
    assert weight.item() == pytest.approx(3.0)  # 6 kept bg / 2 kept fg
    assert mean.item() == pytest.approx((3 * 30 + 21) / (3 * 2 + 6))
    mean, weight = class_weighted_mean(values, 1 - labels, selected)  # 2 kept bg, 6 kept fg
    assert weight.item() == 1.0 and mean.item() == pytest.approx((21 + 30) / 8)
    assert class_weighted_mean(values, labels, torch.zeros(9, dtype=torch.bool))[0].item() == 0.0


def test_the_flip_rule() -> None:
    bg = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.45]
    fg = [0.1, 0.2, 0.6, 0.9]
    means = torch.tensor(bg + fg)
    labels = torch.tensor([0] * 10 + [1] * 4, dtype=torch.uint8)
    # bg: k = 3, the three most confident (0.9, 0.8, 0.7) flip; fg: k = 2, the two least (0.1, 0.2) flip
    assert flip_labels(means, labels, 0.3, 0.5).tolist() == [1, 1, 1] + [0] * 7 + [0, 0, 1, 1]
    # bg: k = 5 reaches 0.45, but only means above 0.5 flip; fg: k = 3 reaches 0.6, only means below 0.5 flip
    assert flip_labels(means, labels, 0.5, 0.75).tolist() == [1, 1, 1, 1] + [0] * 6 + [0, 0, 1, 1]
    assert torch.equal(flip_labels(means, labels, 0.05, 0.1), labels)  # k = 0 for both classes


def test_forget_rates_ramp_over_the_warm_up_and_are_constant_after_the_refinement() -> None:
    method = SPGuideMethod(warmup_epochs=5)
    assert method.forget_rates(0, 0.2) == (0.0, 0.0)
    assert method.forget_rates(2, 0.2) == pytest.approx((0.1, 0.1))
    assert method.forget_rates(9, 0.2) == pytest.approx((0.2, 0.2))
    assert SPGuideMethod(remember_rate_bg=0.9).forget_rates(4, 0.2) == pytest.approx((0.1, 0.2))
    method.refined_rates = (0.95, 0.88)
    assert method.forget_rates(1, 0.2) == pytest.approx((0.05, 0.12))


def _view() -> TrainingSetView:
    labels = torch.zeros((2, 4, 4), dtype=torch.uint8)
    labels[:, :2, :2] = 1
    superpixels = torch.zeros((2, 4, 4), dtype=torch.int32)
    superpixels[:, :, 2:] = 1  # two segments per image: left and right halves
    return TrainingSetView(labels=labels, superpixels=superpixels, distance=torch.zeros((2, 4, 4)))


def _epoch_context(epoch: int, view: TrainingSetView, fg: torch.Tensor, tau: float = 0.3) -> EpochContext:
    logits = torch.stack([torch.zeros_like(fg), torch.log(fg / (1 - fg))], dim=1)
    return EpochContext(epoch=epoch, num_epochs=40, tau=tau, networks=[], optimizer=None,  # type: ignore[arg-type]
                        training_set=view, infer_training_set=lambda: [logits, logits],
                        generator=torch.Generator())


def test_the_refinement_triggers_once_after_patience_epochs_without_a_new_maximum() -> None:
    view = _view()
    method = SPGuideMethod(patience=5)
    method.on_train_start(view, torch.device("cpu"))
    # left half (labels: fg top-left 2x2, bg bottom-left) predicted 0.8, right half 0.1: the left segment's mean is
    # 0.8, so bg pixels of the left half are confident foreground; the right half stays background
    fg = torch.full((2, 4, 4), 0.1)
    fg[:, :, :2] = 0.8
    gaps = [-0.1, 0.1, 0.3, 0.2, 0.25, 0.3, 0.29, 0.1, 0.5]
    refined_at = None
    for epoch, gap in enumerate(gaps):
        method.on_epoch_start(_epoch_context(epoch, view, fg))
        method._gap_sum, method._gap_steps = torch.tensor(2 * gap, dtype=torch.float64), 2
        logs = method.on_epoch_end(_epoch_context(epoch, view, fg))
        if logs["refined"] and refined_at is None:
            refined_at = epoch
            # bg over the set: 24 pixels, k = floor(0.3 * 24) = 7; the 8 bottom-left ones tie at 0.8 and all flip;
            # fg: k = 2, the 2nd smallest mean is 0.8, not below 0.5: none flips
            assert logs["flipped_to_fg_share"] == pytest.approx(4 / 16)
            assert logs["flipped_to_bg_share"] == 0.0
    # maximum 0.3 at epoch 2; epochs 3-7 set none (0.3 again is no new maximum): refinement at epoch 7, once
    assert refined_at == 7 and method.refined_at == 7
    assert method.gaps == pytest.approx(gaps) and method.best_gap == pytest.approx(0.3)
    expected = view.labels.clone()
    expected[:, :, :2] = 1
    assert torch.equal(method.store.labels, expected)
    # R = 0.7 -> max(0.7, min(0.77, threshold)) for both classes
    assert method.remember(0.3) == pytest.approx((0.77, 0.77))
    fresh = SPGuideMethod()
    fresh.on_train_start(view, torch.device("cpu"))
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.store.labels, expected) and fresh.refined_at == 7
    assert fresh.remember(0.3) == method.remember(0.3) and fresh.gaps == method.gaps


def test_the_remember_rate_update_is_capped_by_the_class_thresholds() -> None:
    view = _view()
    method = SPGuideMethod(patience=1, remember_rate_bg=0.97, remember_rate_fg=0.85)
    method.on_train_start(view, torch.device("cpu"))
    method._gap_sum, method._gap_steps = torch.tensor(-1.0, dtype=torch.float64), 1
    method.on_epoch_end(_epoch_context(0, view, torch.full((2, 4, 4), 0.5)))
    # bg: max(0.97, min(1.067, 0.95)) = 0.97; fg: max(0.85, min(0.935, 0.9)) = 0.9
    assert method.remember(0.3) == pytest.approx((0.97, 0.9))


def test_the_loss_is_the_class_weighted_jocor_form_over_the_kept_pixels() -> None:
    generator = torch.Generator().manual_seed(0)
    logits1, logits2 = torch.randn(2, 2, 4, 4, generator=generator), torch.randn(2, 2, 4, 4, generator=generator)
    labels = torch.zeros((2, 4, 4), dtype=torch.long)
    labels[:, 1:3, 1:3] = 1
    images = torch.zeros(2, 3, 4, 4)
    batch = Batch(images=images, jittered=images, labels=labels, distance=torch.zeros(2, 4, 4),
                  superpixels=torch.zeros_like(labels))
    ctx = StepContext(epoch=0, num_epochs=10, tau=0.3, networks=[], generator=generator)
    method = SPGuideMethod()
    output = method.loss([logits1, logits2], batch, ctx)  # epoch 0: forget rate 0, every pixel kept
    pixel = jocor_form(pixel_cross_entropy(logits1, labels), pixel_cross_entropy(logits2, labels),
                       symmetric_kl(logits1, logits2), 0.65)
    weight = 24 / 8
    assert output.loss.item() == pytest.approx((weight * pixel[labels == 1].sum() + pixel[labels == 0].sum()).item()
                                               / (weight * 8 + 24), rel=1e-6)
    assert output.logs["loss_gap"].item() == pytest.approx(-output.loss.item())  # nothing unselected
    later = method.loss([logits1, logits2], batch, StepContext(epoch=9, num_epochs=10, tau=0.3, networks=[],
                                                               generator=generator))
    assert later.logs["selected_share"].item() < 1.0


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="option 'warmup_epochs' must be >= 1"):
        build_method("spguide", warmup_epochs=0)
    with pytest.raises(InputError, match="'ramp_epochs' is not used by spguide"):
        build_method("spguide", ramp_epochs=5)
    with pytest.raises(InputError, match="option 'inference'"):
        build_method("spguide", inference="net2")
    sgd = build_method("spguide", authors_optimizer=True).configure_optimizer([nn.Linear(2, 2)], None)  # type: ignore
    assert sgd.defaults["lr"] == 5e-3 and sgd.defaults["momentum"] == 0.99 and sgd.defaults["weight_decay"] == 1e-4


def test_an_engine_run_refines_and_a_killed_run_resumes_identically(tmp_path: Path) -> None:
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=4, n_test=2, size=32)
    # epoch 0 keeps every pixel, so its gap is minus the loss, below the initial maximum 0: with patience 1 the
    # refinement runs at the end of epoch 0
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method="spguide",
                       method_options={"patience": 1, "warmup_epochs": 2}, epochs=4, batch_size=2,
                       eval_batch_size=2, eval_last_k=2, threads=1, device="cpu")
    train(config, tmp_path / "full", tmp_path / "ck_full", log=lambda _: None)
    epochs = pd.read_csv(tmp_path / "full" / "epochs.csv")
    assert epochs["refined"].tolist() == [1.0] * 4
    assert epochs["flipped_to_fg_share"].notna().tolist() == [True, False, False, False]
    assert epochs["remember_bg"].nunique() == 1 and epochs["forget_bg"].iloc[1:].nunique() == 1

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", tmp_path / "ck", log=stop_at_epoch_line(2))
    state = torch.load(tmp_path / "ck" / CHECKPOINT_NAME, weights_only=True)["method"]
    assert state["_extra_state"]["refined_at"] == 0 and len(state["_extra_state"]["gaps"]) == 2
    train(config, tmp_path / "resumed", tmp_path / "ck", log=lambda _: None)
    assert_same_run_outputs(tmp_path / "full", tmp_path / "resumed")

"""Co-Teaching and JoCoR: the R(t) schedule, whole-batch small-loss selection, exchange, Eq. 4-6 by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import methods.coteaching
import methods.jocor
from common.errors import InputError
from methods.base import Batch, StepContext
from methods.registry import available_methods, build_method, get_method
from methods.selection import co_regularised_pixel_loss, retention, small_loss_mask

torch.set_num_threads(1)


def logits_for(fg_probs: list[list[list[float]]]) -> torch.Tensor:
    """``(B, 2, H, W)`` float64 logits (background 0) whose softmax foreground probabilities are ``fg_probs``."""
    fg = torch.tensor(fg_probs, dtype=torch.float64)
    return torch.stack([torch.zeros_like(fg), torch.log(fg / (1 - fg))], dim=1).requires_grad_(True)


def batch_for(labels: list[list[list[int]]], clean: list[list[list[int]]] | None = None) -> Batch:
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    images = torch.zeros(label_tensor.shape[0], 3, *label_tensor.shape[1:])
    return Batch(images=images, jittered=images, labels=label_tensor, distance=torch.ones(label_tensor.shape),
                 superpixels=torch.zeros_like(label_tensor),
                 clean_labels=None if clean is None else torch.tensor(clean, dtype=torch.int64))


def context(epoch: int, tau: float) -> StepContext:
    return StepContext(epoch=epoch, num_epochs=100, tau=tau, networks=[], generator=torch.Generator())


def ce(p_fg: float, label: int) -> float:
    return -math.log(p_fg if label else 1 - p_fg)


def skl(a: float, b: float) -> float:
    """KL(a||b) + KL(b||a) of two Bernoulli foreground probabilities."""
    return (a - b) * (math.log(a) - math.log(b)) + (b - a) * (math.log(1 - a) - math.log(1 - b))


def test_registered() -> None:
    assert {"coteaching", "jocor"} <= set(available_methods())
    assert get_method("jocor") is methods.jocor.JoCoRMethod
    assert get_method("coteaching") is methods.coteaching.CoTeachingMethod
    assert get_method("jocor").num_networks == 2 and get_method("coteaching").num_networks == 2


def test_retention_schedule() -> None:
    assert retention(0, 0.2) == 1.0
    assert retention(10, 0.2) == pytest.approx(1 - 0.2 * 10 / 19)
    assert retention(19, 0.2) == pytest.approx(0.8)
    assert retention(50, 0.2) == pytest.approx(0.8)
    assert retention(9, 0.2, ramp_epochs=10) == pytest.approx(0.8)  # the Co-Teaching authors' Tk = 10


def test_small_loss_set_size_and_whole_batch() -> None:
    losses = torch.arange(32, dtype=torch.float64).flip(0).reshape(2, 4, 4)  # image 0 holds the 16 largest
    keep = retention(10, 0.2)
    mask = small_loss_mask(losses, keep)
    assert int(mask.sum()) == round(keep * 32) == 29
    half = small_loss_mask(losses, 0.5)
    assert not half[0].any() and half[1].all()


def test_jocor_selects_over_the_whole_batch() -> None:
    probs = [[[0.1, 0.2], [0.3, 0.4]], [[0.6, 0.7], [0.8, 0.9]]]  # image 0: all the large losses
    labels = [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]
    out = build_method("jocor").loss([logits_for(probs), logits_for(probs)], batch_for(labels), context(19, 0.5))
    expected = sum(2 * ce(p, 1) for p in (0.6, 0.7, 0.8, 0.9)) / 4  # identical nets: skl = 0
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.logs["keep_ratio"] == pytest.approx(0.5)


# Four pixels (one image, 1 x 4), all labelled foreground. A: low CE, high disagreement; B: higher CE, agreement;
# C: small everything; D: large CE. Eq. 4 with g = 0.5 ranks C < B < A < D, CE alone ranks C < A < B < D.
P1 = [0.95, 0.6, 0.9, 0.2]
P2 = [0.55, 0.6, 0.9, 0.3]
LABELS = [[[1, 1, 1, 1]]]


def test_jocor_pixel_loss_eq4() -> None:
    pixel = co_regularised_pixel_loss(logits_for([[P1]]), logits_for([[P2]]), torch.tensor(LABELS), 0.5)
    assert pixel.shape == (1, 1, 4)
    expected = [ce(a, 1) + ce(b, 1) + 0.5 * skl(a, b) for a, b in zip(P1, P2, strict=True)]
    assert pixel.flatten().tolist() == pytest.approx(expected, rel=1e-12)


def test_jocor_reference_eq5_eq6_by_hand() -> None:
    logits1, logits2 = logits_for([[P1]]), logits_for([[P2]])
    clean = [[[1, 0, 1, 1]]]
    out = build_method("jocor").loss([logits1, logits2], batch_for(LABELS, clean), context(19, 0.5))
    l_b = ce(0.6, 1) * 2  # skl = 0
    l_c = ce(0.9, 1) * 2
    assert out.loss.item() == pytest.approx((l_b + l_c) / 2, rel=1e-12)
    assert out.logs["selected_clean_share"] == pytest.approx(0.5)  # B is a noisy pixel, C a clean one
    out.loss.backward()
    touched = logits1.grad.abs().sum(dim=1).flatten() > 0
    assert touched.tolist() == [False, True, True, False]


def test_jocor_authors_weighting_by_hand() -> None:
    method = build_method("jocor", weighting="authors", co_lambda=0.1)
    out = method.loss([logits_for([[P1]]), logits_for([[P2]])], batch_for(LABELS), context(19, 0.5))
    weighted = [0.9 * (ce(a, 1) + ce(b, 1)) + 0.1 * skl(a, b) for a, b in zip(P1, P2, strict=True)]
    assert sorted(range(4), key=weighted.__getitem__)[:2] == [2, 0]  # selects C and A here
    assert out.loss.item() == pytest.approx((weighted[2] + weighted[0]) / 2, rel=1e-12)


def test_jocor_keeps_everything_at_epoch_zero() -> None:
    out = build_method("jocor", co_weight=0.1).loss([logits_for([[P1]]), logits_for([[P2]])], batch_for(LABELS),
                                                    context(0, 0.5))
    expected = sum(ce(a, 1) + ce(b, 1) + 0.1 * skl(a, b) for a, b in zip(P1, P2, strict=True)) / 4
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.logs["keep_ratio"] == 1.0


def test_coteaching_exchanges_selections() -> None:
    net1 = [0.9, 0.8, 0.3, 0.2]  # network 1 finds pixels 0, 1 small-loss
    net2 = [0.25, 0.35, 0.8, 0.9]  # network 2 finds pixels 2, 3 small-loss
    logits1, logits2 = logits_for([[net1]]), logits_for([[net2]])
    clean = [[[1, 1, 0, 1]]]
    out = build_method("coteaching").loss([logits1, logits2], batch_for(LABELS, clean), context(19, 0.5))
    loss1 = (ce(0.3, 1) + ce(0.2, 1)) / 2  # network 1 on network 2's pixels 2, 3
    loss2 = (ce(0.25, 1) + ce(0.35, 1)) / 2  # network 2 on network 1's pixels 0, 1
    assert out.loss.item() == pytest.approx(loss1 + loss2, rel=1e-12)
    assert out.logs["loss_1"] == pytest.approx(loss1) and out.logs["loss_2"] == pytest.approx(loss2)
    assert out.logs["selection_overlap"] == 0.0
    assert out.logs["selected_clean_share_1"] == 1.0 and out.logs["selected_clean_share_2"] == 0.5
    out.loss.backward()
    assert (logits1.grad.abs().sum(dim=1).flatten() > 0).tolist() == [False, False, True, True]
    assert (logits2.grad.abs().sum(dim=1).flatten() > 0).tolist() == [True, True, False, False]


def test_coteaching_authors_ramp_option() -> None:
    out = build_method("coteaching", ramp_epochs=10).loss(
        [logits_for([[P1]]), logits_for([[P2]])], batch_for(LABELS), context(9, 0.5))
    assert out.logs["keep_ratio"] == pytest.approx(0.5)


def run_tiny_nets(name: str, **options: object) -> tuple[float, list[torch.Tensor]]:
    torch.manual_seed(0)
    nets = [nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(3, 2, 3, padding=1)]
    images = torch.randn(2, 3, 8, 8)
    labels = (torch.rand(2, 8, 8) > 0.5).long()
    batch = Batch(images=images, jittered=images, labels=labels, distance=torch.ones(2, 8, 8),
                  superpixels=torch.zeros(2, 8, 8, dtype=torch.int64))
    out = build_method(name, **options).loss([net(images) for net in nets], batch, context(5, 0.3))
    out.loss.backward()
    return out.loss.item(), [param.grad for net in nets for param in net.parameters()]


@pytest.mark.parametrize(("name", "options"), [("coteaching", {}), ("jocor", {}), ("jocor", {"weighting": "authors"})])
def test_backward_through_two_conv_nets_is_finite_and_deterministic(name: str, options: dict[str, object]) -> None:
    loss, grads = run_tiny_nets(name, **options)
    assert math.isfinite(loss)
    assert all(torch.isfinite(grad).all() and grad.abs().sum() > 0 for grad in grads)
    again_loss, again_grads = run_tiny_nets(name, **options)
    assert again_loss == loss and all(torch.equal(a, b) for a, b in zip(grads, again_grads, strict=True))


@pytest.mark.parametrize("name", ["coteaching", "jocor"])
def test_options_are_checked(name: str) -> None:
    with pytest.raises(InputError, match=rf"^method '{name}': unknown option\(s\) bogus; known options: .*ramp_epochs"):
        build_method(name, bogus=1)
    with pytest.raises(InputError, match=rf"^method '{name}': option 'ramp_epochs' must be >= 1; got 0$"):
        build_method(name, ramp_epochs=0)
    with pytest.raises(InputError, match=rf"^method '{name}': option 'inference' must be one of fused, net1; got 'x'$"):
        build_method(name, inference="x")


def test_jocor_invalid_weighting() -> None:
    with pytest.raises(InputError, match="weighting"):
        build_method("jocor", weighting="paper")

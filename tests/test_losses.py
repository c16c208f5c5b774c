"""CE, GCE, RCE, SCE and T-Loss against values worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

import methods.ce
import methods.gce
import methods.rce
import methods.tloss
from common.errors import InputError
from methods.base import Batch, StepContext
from methods.registry import available_methods, build_method, get_method

torch.set_num_threads(1)

LABELS = [[1, 1], [0, 0]]
P_LABEL = [0.25, 0.64, 0.81, 0.36]
"""Probability of the noisy label at the four pixels of ``LABELS`` (row-major)."""


def logits_for(fg_probs: list[list[float]]) -> torch.Tensor:
    """``(1, 2, H, W)`` logits (background 0) whose softmax foreground probabilities are ``fg_probs``."""
    fg = torch.tensor(fg_probs, dtype=torch.float64)
    return torch.stack([torch.zeros_like(fg), torch.log(fg / (1 - fg))]).unsqueeze(0)


def batch_for(labels: list[list[int]] | torch.Tensor) -> Batch:
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1, *torch.as_tensor(labels).shape[-2:])
    images = torch.zeros(labels.shape[0], 3, *labels.shape[1:])
    return Batch(images=images, jittered=images, labels=labels, distance=torch.ones(labels.shape),
                 superpixels=torch.zeros_like(labels))


def context() -> StepContext:
    return StepContext(epoch=0, num_epochs=100, tau=0.2, networks=[], generator=torch.Generator())


# Foreground probability per pixel so that the label's probability is P_LABEL.
FG_PROBS = [[0.25, 0.64], [1 - 0.81, 1 - 0.36]]


def loss_of(name: str, **options: object) -> float:
    method = build_method(name, **options)
    return method.loss([logits_for(FG_PROBS)], batch_for(LABELS), context()).loss.item()


def test_all_registered() -> None:
    assert {"ce", "gce", "rce", "sce", "tloss"} <= set(available_methods())
    assert get_method("tloss") is methods.tloss.TLossMethod


def test_ce_is_mean_negative_log_label_probability() -> None:
    expected = sum(-math.log(p) for p in P_LABEL) / 4
    assert loss_of("ce") == pytest.approx(expected, rel=1e-12)


def test_gce_q_half_hand_value() -> None:
    # sqrt(p_y) = 0.5, 0.8, 0.9, 0.6 -> (1 - sqrt) / 0.5 = 1.0, 0.4, 0.2, 0.8 -> mean 0.6
    assert loss_of("gce", q=0.5) == pytest.approx(0.6, rel=1e-12)


def test_gce_default_q_and_ce_limit() -> None:
    expected = sum((1 - p**0.7) / 0.7 for p in P_LABEL) / 4
    assert loss_of("gce") == pytest.approx(expected, rel=1e-12)
    assert loss_of("gce", q=1e-5) == pytest.approx(loss_of("ce"), rel=1e-4)
    assert loss_of("gce", q=1.0) == pytest.approx(sum(1 - p for p in P_LABEL) / 4, rel=1e-12)


def test_gce_clamps_probability_at_1e_minus_7() -> None:
    logits = torch.tensor([[[[0.0]], [[-40.0]]]], dtype=torch.float64, requires_grad=True)  # p_fg ~ 4e-18
    out = build_method("gce").loss([logits], batch_for([[1]]), context()).loss
    assert out.item() == pytest.approx((1 - 1e-7**0.7) / 0.7, rel=1e-12)
    out.backward()
    assert torch.all(logits.grad == 0)


def test_rce_uses_log_1e_minus_4_for_the_other_class() -> None:
    log_floor = -math.log(1e-4)
    assert log_floor == pytest.approx(9.2103403719761836)
    expected = log_floor * sum(1 - p for p in P_LABEL) / 4  # mean of p_other = 0.485
    assert loss_of("rce") == pytest.approx(expected, rel=1e-12)
    assert loss_of("rce", scale=2.0) == pytest.approx(2 * expected, rel=1e-12)
    saturated = torch.tensor([[[[30.0]], [[0.0]]]], dtype=torch.float64)  # background almost surely, label fg
    out = build_method("rce").loss([saturated], batch_for([[1]]), context()).loss.item()
    assert out == pytest.approx(log_floor, rel=1e-9)


def test_sce_combines_ce_and_rce() -> None:
    ce = sum(-math.log(p) for p in P_LABEL) / 4
    rce = -math.log(1e-4) * sum(1 - p for p in P_LABEL) / 4
    assert loss_of("sce") == pytest.approx(ce + rce, rel=1e-12)
    assert loss_of("sce", alpha=0.5, beta=2.0) == pytest.approx(0.5 * ce + 2 * rce, rel=1e-12)


def reference_tloss(fg: list[list[float]], targets: list[list[float]], nu_param: float) -> float:
    """The authors' per-image TLoss, written out with math.lgamma (log-precision 1, ε = 1e-8)."""
    eps, dim = 1e-8, len(fg) * len(fg[0])
    nu = math.exp(nu_param) + eps
    squared = sum((p - y) ** 2 for row_p, row_y in zip(fg, targets, strict=True)
                  for p, y in zip(row_p, row_y, strict=True))
    return (-math.lgamma((nu + dim) / 2) + math.lgamma(nu / 2) - 0.5 * dim * (1 + eps)
            + dim / 2 * math.log(math.pi) + dim / 2 * (nu_param + eps)
            + (nu + dim) / 2 * math.log(1 + math.exp(1 + eps) * squared / nu))


def test_tloss_matches_written_formula_and_batch_mean() -> None:
    second = [[0.9, 0.1], [0.5, 0.3]]
    second_labels = [[1, 0], [1, 1]]
    logits = torch.cat([logits_for(FG_PROBS), logits_for(second)]).float()
    batch = batch_for(torch.tensor([LABELS, second_labels]))
    method = build_method("tloss", reduction="image_mean")
    out = method.loss([logits], batch, context())
    expected = (reference_tloss(FG_PROBS, LABELS, 1.0) + reference_tloss(second, second_labels, 1.0)) / 2
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.logs["nu"] == pytest.approx(math.e, rel=1e-6)
    per_pixel = build_method("tloss", nu_init=0.3).loss([logits], batch, context())
    expected_03 = (reference_tloss(FG_PROBS, LABELS, 0.3) + reference_tloss(second, second_labels, 0.3)) / 2
    assert per_pixel.loss.item() == pytest.approx(expected_03 / 4, rel=1e-5)


def test_tloss_gradient_reaches_nu() -> None:
    method = build_method("tloss", reduction="image_mean")
    logits = logits_for(FG_PROBS).float().requires_grad_(True)
    method.loss([logits], batch_for(LABELS), context()).loss.backward()
    step = 1e-4
    numeric = (reference_tloss(FG_PROBS, LABELS, 1 + step) - reference_tloss(FG_PROBS, LABELS, 1 - step)) / (2 * step)
    assert method.nu.grad is not None
    assert method.nu.grad.item() == pytest.approx(numeric, rel=1e-3, abs=1e-4)
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_tloss_parameter_group_and_checkpointed_nu() -> None:
    method = build_method("tloss", nu_lr=5e-4)
    (group,) = method.parameter_groups()
    assert group["params"] == [method.nu] and group["lr"] == 5e-4 and group["weight_decay"] == 0.0
    assert set(method.state_dict()) == {"nu"} and method.nu.item() == 1.0
    assert build_method("ce").parameter_groups() == []


@pytest.mark.parametrize("name", ["ce", "gce", "rce", "sce", "tloss"])
def test_unknown_option_is_rejected(name: str) -> None:
    with pytest.raises(InputError, match=rf"^method '{name}': unknown option\(s\) bogus; known options: "):
        build_method(name, bogus=1)


def test_invalid_option_values() -> None:
    with pytest.raises(InputError, match=r"^method 'gce': option 'q' must be in \(0, 1\]; got 0.0$"):
        build_method("gce", q=0.0)
    with pytest.raises(InputError, match="reduction"):
        build_method("tloss", reduction="sum")


def test_one_network_each() -> None:
    assert all(get_method(name).num_networks == 1 for name in ("ce", "gce", "rce", "sce", "tloss"))

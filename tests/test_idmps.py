"""IDMPS: the derived radical/conservative labels, the sigmoid ramp, the pseudo-label terms and their randomness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.errors import InputError
from methods.base import Batch, StepContext
from methods.gsdnet_parts import soft_dice_loss
from methods.idmps import IDMPSMethod, asymmetric_labels, default_boundary_px, sigmoid_rampup
from methods.registry import build_method
from priors.distance import capped_distance_map


def test_radical_and_conservative_labels_on_a_hand_made_mask() -> None:
    mask = np.zeros((1, 9), dtype=np.uint8)
    mask[0, 3:7] = 1  # foreground columns 3..6
    distance = torch.from_numpy(capped_distance_map(mask).astype(np.float32))
    assert distance.tolist() == [[3, 2, 1, 1, 2, 2, 1, 1, 2]]
    radical, conservative = asymmetric_labels(torch.from_numpy(mask).long(), distance, 1)
    assert radical.tolist() == [[0, 0, 1, 1, 1, 1, 1, 1, 0]]
    assert conservative.tolist() == [[0, 0, 0, 0, 1, 1, 0, 0, 0]]
    radical, conservative = asymmetric_labels(torch.from_numpy(mask).long(), distance, 2)
    assert radical.tolist() == [[0, 1, 1, 1, 1, 1, 1, 1, 1]]
    assert conservative.tolist() == [[0] * 9]


def test_the_band_scales_with_the_working_size() -> None:
    assert [default_boundary_px(side) for side in (16, 64, 128, 256, 512, 2048)] == [1, 1, 2, 3, 6, 9]
    assert IDMPSMethod(boundary_px=5).band_width(torch.zeros(1, 256, 256)) == 5
    with pytest.raises(InputError, match="boundary_px"):
        build_method("idmps", boundary_px=10)


def test_sigmoid_ramp_values() -> None:
    assert sigmoid_rampup(0, 200) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(100, 200) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(200, 200) == 1.0 and sigmoid_rampup(500, 200) == 1.0
    method = IDMPSMethod()
    assert method.pseudo_weight(149) == pytest.approx(0.1 * math.exp(-5))
    assert method.pseudo_weight(150) == pytest.approx(0.1 * math.exp(-5 * (1 - 1 / 200) ** 2))
    assert method.pseudo_weight(30_000) == pytest.approx(0.1)
    assert IDMPSMethod(rampup_every=1, rampup_length=2).pseudo_weight(1) == pytest.approx(0.1 * math.exp(-1.25))


def make_batch(labels: torch.Tensor) -> Batch:
    distance = torch.from_numpy(np.stack([capped_distance_map(mask) for mask in labels.numpy()]).astype(np.float32))
    images = torch.zeros(len(labels), 3, *labels.shape[1:])
    return Batch(images=images, jittered=images, labels=labels, distance=distance,
                 superpixels=torch.zeros_like(labels))


def context(seed: int, iteration: int = 30_000) -> StepContext:
    return StepContext(epoch=0, num_epochs=1, tau=0.1, networks=[], generator=torch.Generator().manual_seed(seed),
                       iteration=iteration)


def supervised_part(logits1: torch.Tensor, logits2: torch.Tensor, batch: Batch, k: int) -> torch.Tensor:
    radical, conservative = asymmetric_labels(batch.labels, batch.distance, k)
    return (F.cross_entropy(logits1, radical, weight=torch.tensor([1.0, 3.0]))
            + soft_dice_loss(logits1.softmax(dim=1), radical)
            + F.cross_entropy(logits2, conservative, weight=torch.tensor([3.0, 1.0]))
            + soft_dice_loss(logits2.softmax(dim=1), conservative))


def test_an_empty_region_leaves_the_supervised_part() -> None:
    batch = make_batch(torch.zeros(2, 8, 8, dtype=torch.long))  # empty masks: D = cap everywhere, no band
    logits1, logits2 = torch.randn(2, 2, 8, 8), torch.randn(2, 2, 8, 8)
    output = IDMPSMethod(boundary_px=2).loss([logits1, logits2], batch, context(0))
    assert output.logs["inconsistent_share"] == 0
    assert output.loss.item() == pytest.approx(supervised_part(logits1, logits2, batch, 2).item(), rel=1e-6)


def test_the_pseudo_label_term_on_the_band() -> None:
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 2:6, 2:6] = 1
    batch = make_batch(labels)
    logits1, logits2 = torch.randn(1, 2, 8, 8), torch.randn(1, 2, 8, 8)
    output = IDMPSMethod(boundary_px=1).loss([logits1, logits2], batch, context(3))
    beta = torch.rand((), generator=torch.Generator().manual_seed(3))
    pseudo = (beta * logits1.softmax(1) + (1 - beta) * logits2.softmax(1)).argmax(1)
    band = batch.distance <= 1
    expected = (F.cross_entropy(logits1, pseudo, reduction="none")[band].mean()
                + F.cross_entropy(logits2, pseudo, reduction="none")[band].mean())
    assert output.logs["pseudo_net1"] + output.logs["pseudo_net2"] == pytest.approx(expected.item(), rel=1e-5)
    assert output.loss.item() == pytest.approx((supervised_part(logits1, logits2, batch, 1)
                                                + 0.1 * expected).item(), rel=1e-5)


def test_beta_comes_from_the_generator() -> None:
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[:, 1:5, 2:7] = 1
    batch = make_batch(labels)
    torch.manual_seed(0)
    logits = [torch.randn(2, 2, 8, 8), torch.randn(2, 2, 8, 8)]
    method = IDMPSMethod(boundary_px=2)
    losses = {seed: method.loss(logits, batch, context(seed)).loss.item() for seed in range(6)}
    assert method.loss(logits, batch, context(0)).loss.item() == losses[0]
    assert len(set(losses.values())) > 1


def test_the_disagreement_region() -> None:
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    batch = make_batch(labels)  # empty mask: the label band is empty, so only disagreement can make M
    logits1 = torch.zeros(1, 2, 4, 4)
    logits1[:, 1] = 1.0  # network 1: foreground everywhere
    logits2 = torch.zeros(1, 2, 4, 4)
    logits2[:, 1, 0, :] = 2.0  # network 2: foreground on row 0 only
    band = IDMPSMethod(boundary_px=1).loss([logits1, logits2], batch, context(0))
    output = IDMPSMethod(boundary_px=1, inconsistency="disagreement").loss([logits1, logits2], batch, context(0))
    assert band.logs["inconsistent_share"] == 0
    assert output.logs["inconsistent_share"].item() == pytest.approx(12 / 16)
    assert output.logs["pseudo_net1"] > 0 and output.logs["pseudo_net2"] > 0
    with pytest.raises(InputError, match="inconsistency"):
        build_method("idmps", inconsistency="other")


def test_inference_options() -> None:
    assert build_method("idmps", inference="net1").inference == "net1"
    assert build_method("idmps").inference == "fused"

"""GSD-Net components (Eq. 9-20) on hand-worked cases, and the registered "gsdnet" method end to end."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from common.errors import InputError
from methods.base import Batch, StepContext
from methods.gsdnet import GSDNet
from methods.gsdnet_parts import (
    consistency_loss,
    distance_weights,
    fuse_probabilities,
    gda_loss,
    gda_weight_cap,
    knowledge_transfer_loss,
    knowledge_transfer_mix,
    refine_labels,
    region_masks,
    search_loss,
    soft_dice_loss,
    superpixel_vote,
)
from methods.registry import build_method, get_method
from methods.selection import (
    co_regularised_pixel_loss,
    pixel_cross_entropy,
    retention,
    small_loss_mask,
    symmetric_kl,
)

torch.set_num_threads(1)


def two_class_logits(fg_prob: torch.Tensor) -> torch.Tensor:
    """Logits ``(B, 2, H, W)`` whose softmax has foreground probability ``fg_prob``."""
    return torch.stack([torch.zeros_like(fg_prob), torch.log(fg_prob / (1 - fg_prob))], dim=1)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- Eq. 9-10: GDA ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w_max", "epoch", "expected"),
    [(10, 0, 11), (10, 9, 11), (10, 10, 10), (10, 95, 2), (5, 0, 6), (5, 9, 6), (5, 10, 5), (5, 95, 1)],
)
def test_weight_cap_decays_by_one_every_ten_epochs(w_max: float, epoch: int, expected: float) -> None:
    assert gda_weight_cap(epoch, w_max) == expected


def test_weight_cap_decay_period_is_an_option() -> None:
    assert gda_weight_cap(19, 10, decay_every=20) == 11
    assert gda_weight_cap(20, 10, decay_every=20) == 10


def test_distance_weights_clip_between_one_and_cap() -> None:
    distance = torch.tensor([[[0.0, 1.0, 3.0, 12.0]]])
    assert distance_weights(distance, 0, 10).tolist() == [[[1.0, 1.0, 3.0, 11.0]]]
    assert distance_weights(distance, 95, 10).tolist() == [[[1.0, 1.0, 2.0, 2.0]]]


def test_gda_selects_by_unweighted_loss_over_the_whole_batch() -> None:
    # Image 0 has the two smallest losses: a global sort keeps both (a per-image one would keep one per image).
    pixel_loss = torch.tensor([[[0.1, 0.2]], [[0.3, 0.4]]])
    weights = torch.tensor([[[10.0, 10.0]], [[1.0, 1.0]]])
    loss, small_loss = gda_loss(pixel_loss, weights, keep_ratio=0.5)
    assert small_loss.tolist() == [[[True, True]], [[False, False]]]
    # Weighted after selection: (10*0.1 + 10*0.2) / 2; selecting by W*l would give (0.3 + 0.4) / 2.
    assert loss.item() == pytest.approx(1.5)


def test_small_loss_set_size_follows_retention() -> None:
    pixel_loss = torch.rand(2, 8, 8, generator=generator())
    keep_ratio = retention(19, tau=0.25)
    _, small_loss = gda_loss(pixel_loss, torch.ones_like(pixel_loss), keep_ratio)
    assert keep_ratio == 0.75
    assert int(small_loss.sum()) == 96


# --- Eq. 11-14: label refinement -------------------------------------------------------------------------------


def test_fusion_is_one_convex_combination_per_batch() -> None:
    logits1 = torch.randn(2, 2, 3, 3, generator=generator(1))
    logits2 = torch.randn(2, 2, 3, 3, generator=generator(2))
    fused, alpha = fuse_probabilities(logits1, logits2, generator(3))
    assert 0.0 <= alpha <= 1.0
    expected = alpha * logits1.softmax(1) + (1 - alpha) * logits2.softmax(1)
    torch.testing.assert_close(fused, expected)
    assert fuse_probabilities(logits1, logits2, generator(3))[1] == alpha


def test_superpixel_vote_mean_of_exactly_half_is_foreground() -> None:
    superpixels = torch.tensor([[0, 0, 1, 1]] * 4).unsqueeze(0)
    left = torch.tensor([[0.25, 0.75], [0.75, 0.25], [0.25, 0.75], [0.75, 0.25]])  # mean 0.5
    right = torch.tensor([[0.3, 0.5], [0.4, 0.4], [0.5, 0.3], [0.4, 0.4]])  # mean 0.4
    fg_prob = torch.cat([left, right], dim=1).unsqueeze(0)
    vote = superpixel_vote(fg_prob, superpixels)
    assert vote.dtype == torch.int64
    assert vote.tolist() == [[[1, 1, 0, 0]] * 4]


def test_superpixel_vote_is_per_image() -> None:
    superpixels = torch.tensor([[[0, 1]], [[0, 1]]])
    fg_prob = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])
    assert superpixel_vote(fg_prob, superpixels).tolist() == [[[1, 0]], [[0, 1]]]


def test_superpixel_vote_with_a_precounted_label_bound_is_the_same() -> None:
    """GSD-Net counts the labels once per run (no read-back per step); any bound above the labels votes alike."""
    generator = torch.Generator().manual_seed(4)
    superpixels = torch.randint(0, 9, (3, 16, 16), generator=generator)
    fg_prob = torch.rand((3, 16, 16), generator=generator)
    expected = superpixel_vote(fg_prob, superpixels)
    for bound in (int(superpixels.max()) + 1, 40):
        assert torch.equal(superpixel_vote(fg_prob, superpixels, bound), expected)


def test_refinement_keeps_noisy_label_on_small_loss_set() -> None:
    labels = torch.tensor([[[1, 1, 0, 0]]])
    small_loss = torch.tensor([[[True, False, True, False]]])
    fused = two_class_logits(torch.tensor([[[0.1, 0.2, 0.9, 0.7]]])).softmax(1)
    superpixels = torch.tensor([[[0, 0, 1, 1]]])
    # Superpixel means: 0.15 -> 0, 0.8 -> 1; kept on S, voted elsewhere.
    assert refine_labels(labels, small_loss, fused, superpixels).tolist() == [[[1, 0, 0, 1]]]


def test_pixelwise_refinement_uses_each_pixel_prediction() -> None:
    labels = torch.tensor([[[0, 0, 1, 1]]])
    small_loss = torch.tensor([[[True, False, False, False]]])
    fused = two_class_logits(torch.tensor([[[0.9, 0.6, 0.4, 0.9]]])).softmax(1)
    assert refine_labels(labels, small_loss, fused, None).tolist() == [[[0, 1, 0, 1]]]


# --- Eq. 15-18: knowledge transfer -----------------------------------------------------------------------------


def test_threshold_region_mask_keeps_background_when_foreground_share_is_large() -> None:
    refined = torch.tensor([[[1, 1, 1, 0]], [[1, 0, 0, 0]]])  # shares 0.75 and 0.25
    masks = region_masks(refined, r_cp=0.5, rule="threshold")
    assert masks.tolist() == [[[False, False, False, True]], [[True, False, False, False]]]
    assert region_masks(refined, r_cp=0.8, rule="threshold")[0].tolist() == [[True, True, True, False]]


def test_random_region_mask_picks_background_with_probability_of_foreground_share() -> None:
    refined = torch.tensor([[[1, 1]], [[0, 0]], [[1, 0]]])  # shares 1, 0, 0.5
    masks = region_masks(refined, r_cp=0.5, rule="random", generator=generator(5))
    draws = torch.rand(3, generator=generator(5))
    assert masks[0].tolist() == [[False, False]]  # share 1: always the background (empty here)
    assert masks[1].tolist() == [[False, False]]  # share 0: always the foreground (empty here)
    expected_third = [[False, True]] if draws[2] < 0.5 else [[True, False]]
    assert masks[2].tolist() == expected_third


def test_mixing_uses_one_mask_for_images_labels_and_weights() -> None:
    images = torch.tensor([[[[1.0, 2.0]]], [[[3.0, 4.0]]]])
    jittered = images + 10
    refined = torch.tensor([[[1, 0]], [[0, 0]]])
    weights = torch.tensor([[[5.0, 6.0]], [[7.0, 8.0]]])
    region_mask = torch.tensor([[[True, False]], [[False, True]]])
    mixed = knowledge_transfer_mix(images, jittered, refined, weights, region_mask, torch.tensor([1, 0]))
    mixed_images, mixed_jittered, mixed_labels, mixed_weights = mixed
    assert mixed_images.tolist() == [[[[1.0, 4.0]]], [[[1.0, 4.0]]]]
    assert mixed_jittered.tolist() == [[[[11.0, 14.0]]], [[[11.0, 14.0]]]]
    assert mixed_labels.tolist() == [[[1, 0]], [[1, 0]]]
    assert mixed_weights.tolist() == [[[5.0, 8.0]], [[5.0, 8.0]]]


def test_soft_dice_is_averaged_over_images_and_classes() -> None:
    fg_prob = torch.tensor([[[0.8, 0.4]], [[0.0, 0.0]]])
    probs = torch.stack([1 - fg_prob, fg_prob], dim=1)
    labels = torch.tensor([[[1, 0]], [[0, 0]]])
    # Image 0: fg (1.6+1)/(2.2+1) = 0.8125, bg (1.2+1)/(1.8+1) = 11/14; image 1: both classes 1.
    expected = 1 - (0.8125 + 11 / 14 + 1 + 1) / 4
    assert soft_dice_loss(probs, labels).item() == pytest.approx(expected)


def test_knowledge_transfer_loss_hand_value() -> None:
    logits = torch.zeros(1, 2, 1, 2)  # p = 0.5 everywhere, ce = ln 2
    labels = torch.tensor([[[1, 0]]])
    weights = torch.tensor([[[2.0, 4.0]]])
    # 0.5 * (2 + 4) ln2 / 2 + 0.5 * mean(w)=3 * dice loss (1 - 2/3).
    expected = 1.5 * math.log(2) + 0.5
    assert knowledge_transfer_loss(logits, labels, weights).item() == pytest.approx(expected)


def test_double_softmax_variant_differs_from_paper() -> None:
    logits = torch.tensor([[[[0.0, 3.0]], [[2.0, -1.0]]]])
    labels = torch.tensor([[[1, 0]]])
    weights = torch.ones(1, 1, 2)
    paper = knowledge_transfer_loss(logits, labels, weights, "paper")
    double = knowledge_transfer_loss(logits, labels, weights, "double_softmax")
    assert not torch.isclose(paper, double)
    probs = logits.softmax(1)
    expected_ce = pixel_cross_entropy(probs, labels).mean()
    assert double.item() == pytest.approx(0.5 * expected_ce.item() + 0.5 * soft_dice_loss(probs, labels).item())


def test_consistency_loss_hand_value() -> None:
    logits1 = torch.zeros(1, 2, 1, 1)  # (0.5, 0.5)
    logits2 = two_class_logits(torch.tensor([[[0.75]]]))  # (0.25, 0.75)
    # skl = 0.25 ln 2 + 0.25 ln 1.5 = 0.25 ln 3; times 0.5 * w = 2.
    value = consistency_loss(logits1, logits2, torch.tensor([[[2.0]]]))
    assert value.item() == pytest.approx(0.25 * math.log(3))


# --- Eq. 20 ----------------------------------------------------------------------------------------------------


def test_search_loss_scores_complement_against_inverted_labels() -> None:
    logits = two_class_logits(torch.tensor([[[0.75, 0.75]]]))
    labels = torch.tensor([[[1, 1]]])
    small_loss = torch.tensor([[[True, False]]])
    # Pixel 0 (S): -2 ln 0.75; pixel 1 (S', label inverted to 0): -2 ln 0.25; mean of the two.
    expected = -(math.log(0.75) + math.log(0.25))
    assert search_loss(logits, logits, labels, small_loss) == pytest.approx(expected)


# --- the method ------------------------------------------------------------------------------------------------


class ConstantNet(nn.Module):
    """A stub network: returns fixed logits whatever the input (so mixed-image logits are known); records inputs."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.inputs: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.inputs.append(images)
        return self.logits + 0 * images.sum()


def make_batch(seed: int = 0, size: int = 16) -> Batch:
    rng = generator(seed)
    labels = torch.zeros(2, size, size, dtype=torch.long)
    labels[0, 2:10, 3:12] = 1
    labels[1, 6:15, 1:7] = 1
    clean = labels.clone()
    clean[0, 2:4] = 0
    images = torch.rand(2, 3, size, size, generator=rng)
    block = torch.arange(size) // 4
    superpixels = (block.view(-1, 1) * 4 + block.view(1, -1)).expand(2, size, size).clone()
    distance = torch.randint(1, 11, (2, size, size), generator=rng).float()
    return Batch(images, images * 0.9, labels, distance, superpixels, clean)


def context(epoch: int, networks: list[nn.Module], seed: int = 0, tau: float = 0.2) -> StepContext:
    return StepContext(epoch=epoch, num_epochs=100, tau=tau, networks=networks, generator=generator(seed))


def test_registered_with_two_networks_and_jittered_view() -> None:
    assert get_method("gsdnet") is GSDNet
    assert GSDNet.num_networks == 2
    assert GSDNet.uses_jittered_view


def test_before_kt_start_loss_is_gda_and_after_adds_transfer_terms() -> None:
    batch = make_batch()
    logits1 = torch.randn(2, 2, 16, 16, generator=generator(7))
    logits2 = torch.randn(2, 2, 16, 16, generator=generator(8))
    networks = [ConstantNet(logits1), ConstantNet(logits2)]
    method = GSDNet()
    pixel_loss = co_regularised_pixel_loss(logits1, logits2, batch.labels, 0.5)
    torch.testing.assert_close(
        pixel_loss,
        pixel_cross_entropy(logits1, batch.labels)
        + pixel_cross_entropy(logits2, batch.labels)
        + 0.5 * symmetric_kl(logits1, logits2),
    )

    for epoch in (0, 29):
        out = method.loss([logits1, logits2], batch, context(epoch, networks))
        weights = distance_weights(batch.distance, epoch, 10)
        expected, _ = gda_loss(pixel_loss, weights, retention(epoch, 0.2))
        torch.testing.assert_close(out.loss, expected)
        assert out.logs["kt_loss"] == 0.0

    epoch = 30
    out = method.loss([logits1, logits2], batch, context(epoch, networks, seed=1))
    weights = distance_weights(batch.distance, epoch, 10)
    expected_gda, small_loss = gda_loss(pixel_loss, weights, retention(epoch, 0.2))
    rng = generator(1)
    fused, _ = fuse_probabilities(logits1, logits2, rng)
    refined = refine_labels(batch.labels, small_loss, fused, batch.superpixels)
    region_mask = region_masks(refined, 0.5, "threshold", rng)
    permutation = torch.randperm(2, generator=rng)
    assert permutation.tolist() == [1, 0]
    mixed_images, mixed_jittered, mixed_labels, mixed_weights = knowledge_transfer_mix(
        batch.images, batch.jittered, refined, weights, region_mask, permutation
    )
    expected_kt = knowledge_transfer_loss(logits1, mixed_labels, mixed_weights) + knowledge_transfer_loss(
        logits2, mixed_labels, mixed_weights
    )
    expected_con = consistency_loss(logits1, logits2, mixed_weights)
    torch.testing.assert_close(out.loss, expected_gda + expected_kt + expected_con)
    assert [len(network.inputs) for network in networks] == [1, 1]  # one second pass each, none before epoch 30
    assert torch.equal(networks[0].inputs[0], mixed_images)
    assert not torch.equal(mixed_images, batch.images)
    assert torch.equal(networks[1].inputs[0], mixed_jittered)
    assert out.logs["kt_loss"] > 0.0
    assert out.logs["weight_cap"] == 8.0
    assert out.logs["keep_ratio"] == pytest.approx(0.8)
    assert out.logs["refined_label_accuracy"] == pytest.approx((refined == batch.clean_labels).float().mean().item())
    assert out.logs["noisy_label_accuracy"] == pytest.approx(1 - 18 / 512)  # rows 2-3 x columns 3-11 of image 0


def test_search_loss_log_uses_final_retention_during_the_ramp() -> None:
    batch = make_batch()
    logits1 = torch.randn(2, 2, 16, 16, generator=generator(7))
    logits2 = torch.randn(2, 2, 16, 16, generator=generator(8))
    out = GSDNet().loss([logits1, logits2], batch, context(0, [], tau=0.2))
    pixel_loss = co_regularised_pixel_loss(logits1, logits2, batch.labels, 0.5)
    search_set = small_loss_mask(pixel_loss, 0.8)
    assert out.logs["keep_ratio"] == 1.0
    assert out.logs["search_loss"] == pytest.approx(search_loss(logits1, logits2, batch.labels, search_set))


def test_gda_off_gives_jocor_loss() -> None:
    batch = make_batch()
    logits1 = torch.randn(2, 2, 16, 16, generator=generator(7))
    logits2 = torch.randn(2, 2, 16, 16, generator=generator(8))
    out = GSDNet(gda=False).loss([logits1, logits2], batch, context(5, []))
    pixel_loss = co_regularised_pixel_loss(logits1, logits2, batch.labels, 0.5)
    small_loss = small_loss_mask(pixel_loss, retention(5, 0.2))
    torch.testing.assert_close(out.loss, pixel_loss[small_loss].mean())


TABLE7_OPTIONS = [
    {"refinement": "none", "knowledge_transfer": False},
    {"refinement": "pixel", "knowledge_transfer": False},
    {"refinement": "superpixel", "knowledge_transfer": False},
    {"refinement": "pixel", "knowledge_transfer": True},
    {},
    {"superpixels": "distance_bands", "region_rule": "random", "kt_ce": "double_softmax", "gda": False},
]


def tiny_networks(seed: int = 0) -> list[nn.Module]:
    torch.manual_seed(seed)
    return [nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(3, 2, 3, padding=1)]


@pytest.mark.parametrize("options", TABLE7_OPTIONS)
def test_every_option_set_backpropagates_finite_gradients(options: dict[str, object]) -> None:
    batch = make_batch()
    networks = tiny_networks()
    method = build_method("gsdnet", **options)
    logits = [networks[0](batch.images), networks[1](batch.jittered)]
    out = method.loss(logits, batch, context(30, networks))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    for network in networks:
        for parameter in network.parameters():
            assert parameter.grad is not None
            assert torch.isfinite(parameter.grad).all()
    assert {"keep_ratio", "weight_cap", "search_loss", "refined_label_accuracy"} <= out.logs.keys()


def test_same_seed_gives_identical_loss() -> None:
    batch = make_batch()
    losses = []
    for _ in range(2):
        networks = tiny_networks()
        method = GSDNet(region_rule="random")
        logits = [networks[0](batch.images), networks[1](batch.jittered)]
        losses.append(method.loss(logits, batch, context(40, networks, seed=11)).loss)
    assert torch.equal(losses[0], losses[1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"refinement": "slic"}, "option 'refinement' must be one of superpixel, pixel, none; got 'slic'"),
        ({"superpixels": "quickshift"}, "option 'superpixels' must be one of slic, distance_bands"),
        ({"region_rule": "soft"}, "option 'region_rule' must be one of threshold, random"),
        ({"kt_ce": "bce"}, "option 'kt_ce' must be one of paper, double_softmax"),
        ({"r_cp": 1.5}, r"option 'r_cp' must be in \[0, 1\]; got 1.5"),
        ({"w_decay_every": 0}, "option 'w_decay_every' must be >= 1; got 0"),
        ({"gda": "yes"}, "option 'gda' must be true or false; got 'yes'"),
        ({"kt_start_epoch": 30.0}, "option 'kt_start_epoch' must be an integer; got 30.0"),
        ({"unknown_option": 1}, "unknown option\\(s\\) unknown_option; known options: co_weight, gda, inference"),
    ],
)
def test_bad_option_raises_naming_it(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match="^method 'gsdnet': " + message):
        build_method("gsdnet", **options)

"""Backbones: output shapes, the small U-Net's size, deterministic construction, unknown names."""

from __future__ import annotations

import pytest
import torch

from common.errors import InputError
from training.networks import available_backbones, build_network, check_input_size


@pytest.mark.parametrize("backbone", ["unet_small", "unet_narrow", "unetpp", "mit_unet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_logits_have_the_input_size_and_two_classes(backbone: str, channels: int) -> None:
    torch.manual_seed(0)
    network = build_network(backbone, channels).eval()
    with torch.no_grad():
        logits = network(torch.rand(2, channels, 64, 64) * 255)
    assert logits.shape == (2, 2, 64, 64)
    assert torch.isfinite(logits).all()


def test_small_unet_has_about_1_08_million_parameters() -> None:
    count = sum(parameter.numel() for parameter in build_network("unet_small", 3).parameters())
    assert 1_000_000 <= count <= 1_200_000
    assert count == 1_082_050  # widths 16-32-64-128-128, bilinear decoder, convolutions with bias


def test_narrow_unet_is_the_small_design_at_half_width_and_takes_dropout() -> None:
    count = sum(parameter.numel() for parameter in build_network("unet_narrow", 3).parameters())
    assert count == 271_458  # widths 8-16-32-64-64: about a quarter of unet_small's 1,082,050
    network = build_network("unet_narrow", 3, dropout=0.5).train()
    network.dropout_enabled = True
    images = torch.rand(2, 3, 32, 32) * 255
    torch.manual_seed(0)
    first = network(images)
    torch.manual_seed(1)
    assert not torch.equal(first, network(images))
    assert network.inc[0].out_channels == 8


def test_small_unet_handles_sizes_that_are_not_powers_of_two() -> None:
    network = build_network("unet_small", 1, num_classes=3).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 1, 48, 80)).shape == (1, 3, 48, 80)


@pytest.mark.parametrize("backbone", ["unet_small", "mit_unet"])
def test_construction_is_deterministic_under_manual_seed(backbone: str) -> None:
    states = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        states.append(build_network(backbone, 3).state_dict())
    same = all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    different = any(not torch.equal(states[0][key], states[2][key]) for key in states[0])
    assert same and different


def test_unknown_backbone_is_an_input_error_listing_the_known_ones() -> None:
    with pytest.raises(InputError, match="resnet9000") as error:
        build_network("resnet9000", 3)
    assert all(name in str(error.value) for name in available_backbones())
    assert available_backbones() == ["mit_unet", "unet3d_small", "unet_narrow", "unet_small", "unetpp"]


@pytest.mark.parametrize(("backbone", "shape", "message"), [
    ("unet3d_small", (8, 16, 16), r"working_size \[8, 16, 16\]: backbone 'unet3d_small' needs every side at least 16"),
    ("unet_small", (16, 16, 16), r"backbone 'unet_small' takes 2D inputs, but the data set's working_size .* is 3D"),
    ("unetpp", (48, 64), r"working_size \[48, 64\]: backbone 'unetpp' needs every side multiples of 32"),
])
def test_an_input_size_a_backbone_cannot_take_is_named(backbone: str, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_input_size(backbone, shape)
    check_input_size("unet_small", (48, 80))
    check_input_size("unet3d_small", (16, 24, 24))

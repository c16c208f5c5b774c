"""The N-D generalisation: 3D boundary (Eq. 7), superpixel pooling (Eq. 12-13), losses, augmentation, priors, resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adapters.masks import resize_image, resize_mask
from adapters.prepare import prepare_dataset
from adapters.synthetic_3d import generate_synthetic_volume
from common.errors import InputError
from methods.base import Batch, StepContext
from methods.gsdnet_parts import boundary_mask, region_masks, soft_dice_loss, superpixel_vote
from methods.registry import build_method
from priors.distance import capped_distance_map
from priors.superpixels import n_segments_for, slic_superpixels
from training.augment import InputScaler, augment_batch, color_jitter, draw_jitter
from training.data import seeded_generator
from training.networks import build_network


def test_boundary_of_one_voxel_is_its_26_neighbourhood() -> None:
    labels = torch.zeros(1, 5, 5, 5, dtype=torch.long)
    labels[0, 2, 2, 2] = 1
    expected = torch.zeros(1, 5, 5, 5, dtype=torch.bool)
    expected[0, 1:4, 1:4, 1:4] = True  # the voxel (it has background neighbours) and its 26 neighbours
    assert torch.equal(boundary_mask(labels), expected)


def test_boundary_at_the_volume_border_has_no_outside_neighbours() -> None:
    labels = torch.ones(1, 3, 3, 3, dtype=torch.long)
    assert not boundary_mask(labels).any()  # a full volume: nothing of the other class anywhere
    labels[0, 0, 0, 0] = 0
    boundary = boundary_mask(labels)
    assert boundary.sum() == 8 and boundary[0, :2, :2, :2].all()  # the corner voxel and its 7 neighbours


@pytest.mark.parametrize("shape", [(12, 12), (8, 10, 12)])
def test_boundary_is_where_the_capped_distance_is_one(shape: tuple[int, ...]) -> None:
    mask = np.random.default_rng(3).random(shape) < 0.3
    boundary = boundary_mask(torch.from_numpy(mask)[None])[0].numpy()
    assert np.array_equal(boundary, capped_distance_map(mask) == 1)


def test_superpixel_vote_pools_each_supervoxel_of_each_volume() -> None:
    superpixels = torch.zeros(2, 2, 2, 2, dtype=torch.long)
    superpixels[:, 1] = 1  # two supervoxels per volume: depth slice 0 and depth slice 1
    fg_prob = torch.tensor([[0.9, 0.1, 0.6, 0.4, 0.2, 0.2, 0.3, 0.3],   # means 0.5 (slice 0), 0.25 (slice 1)
                            [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.8, 0.6]],  # means 0.0, 0.85
                           dtype=torch.float64).reshape(2, 2, 2, 2)
    vote = superpixel_vote(fg_prob, superpixels)
    assert vote.shape == (2, 2, 2, 2)
    assert vote[0, 0].eq(1).all() and vote[0, 1].eq(0).all()  # a mean of exactly 0.5 votes foreground (Eq. 13)
    assert vote[1, 0].eq(0).all() and vote[1, 1].eq(1).all()


def test_region_masks_and_dice_take_volumes() -> None:
    refined = torch.zeros(2, 4, 4, 4, dtype=torch.long)
    refined[0, :3] = 1  # foreground share 0.75 > 0.5: keep the background
    refined[1, :1] = 1  # 0.25: keep the foreground
    masks = region_masks(refined, 0.5, "threshold")
    assert torch.equal(masks[0], refined[0] == 0) and torch.equal(masks[1], refined[1] == 1)
    perfect = torch.nn.functional.one_hot(refined, 2).movedim(-1, 1).double()
    assert soft_dice_loss(perfect, refined).item() == pytest.approx(0.0)


def _volume_batch(generator: torch.Generator) -> Batch:
    labels = (torch.rand(4, 16, 16, 16, generator=generator) < 0.3).long()
    images = torch.rand(4, 4, 16, 16, 16, generator=generator) * 255
    superpixels = torch.arange(16).repeat_interleave(256).reshape(1, 16, 16, 16).expand(4, -1, -1, -1)
    return Batch(images=images, jittered=images, labels=labels,
                 distance=torch.from_numpy(np.stack([capped_distance_map(m) for m in labels.numpy()])).float(),
                 superpixels=superpixels, clean_labels=labels)


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [("ce", {}), ("gce", {}), ("rce", {}), ("sce", {}), ("tloss", {}),
                                             ("coteaching", {}), ("jocor", {}),
                                             ("gsdnet", {"kt_start_epoch": 0, "ramp_epochs": 1})])
def test_every_method_trains_a_step_on_volumes(method: str, options: dict) -> None:
    torch.manual_seed(0)
    instance = build_method(method, **options)
    networks = [build_network("unet3d_small", 4) for _ in range(instance.num_networks)]
    batch = _volume_batch(seeded_generator(0))
    ctx = StepContext(epoch=1, num_epochs=2, tau=0.1, networks=networks, generator=seeded_generator(1))
    output = instance.loss([network(batch.images) for network in networks], batch, ctx)
    output.loss.backward()
    assert output.loss.dim() == 0 and torch.isfinite(output.loss)
    assert all(parameter.grad is not None for parameter in networks[0].parameters())
    assert instance.predict(networks, batch.images).shape == (4, 16, 16, 16)


def test_unet3d_keeps_the_volume_shape_and_has_the_documented_size() -> None:
    network = build_network("unet3d_small", 4).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 4, 16, 24, 20)).shape == (1, 2, 16, 24, 20)
    assert sum(parameter.numel() for parameter in network.parameters()) == 3_239_890


def test_volume_augmentation_moves_every_field_alike_in_the_axial_plane() -> None:
    position = torch.arange(3 * 6 * 6).reshape(3, 6, 6)
    fields = {"images": torch.stack([(position + 50 * c) % 256 for c in range(4)]).expand(8, -1, -1, -1, -1)
              .to(torch.uint8),
              "labels": (position % 2).expand(8, -1, -1, -1).to(torch.uint8),
              "clean_labels": (position % 3 == 0).expand(8, -1, -1, -1).to(torch.uint8),
              "distance": (position % 11).expand(8, -1, -1, -1).to(torch.uint8),
              "superpixels": position.expand(8, -1, -1, -1).to(torch.int32)}
    batch = augment_batch(fields, seeded_generator(4), InputScaler("raw"), 0.5, with_jitter=True)
    source = batch.superpixels
    assert torch.equal(batch.labels, source % 2) and torch.equal(batch.distance, (source % 11).float())
    for channel in range(4):
        assert torch.equal(batch.images[:, channel], ((source + 50 * channel) % 256).float())
    assert torch.equal(source // 36, torch.arange(3).reshape(1, 3, 1, 1).expand_as(source))  # depth untouched
    assert not torch.equal(batch.jittered, batch.images) and batch.jittered.shape == (8, 4, 3, 6, 6)


def test_volume_jitter_changes_brightness_and_contrast_per_channel() -> None:
    images = torch.rand(6, 4, 4, 5, 5) * 255
    params = draw_jitter(6, seeded_generator(5), strength=0.5)
    jittered = color_jitter(images, params)
    assert jittered.shape == images.shape and jittered.min() >= 0 and jittered.max() <= 255
    only_brightness = params.factors.clone()
    only_brightness[:, 1:] = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    brightened = color_jitter(images, type(params)(factors=only_brightness, order=params.order))
    expected = (images / 255 * only_brightness[:, :1].reshape(6, 1, 1, 1, 1).float()).clamp(0, 1) * 255
    assert torch.allclose(brightened, expected, atol=1e-4)


def test_volume_resize_and_superpixels() -> None:
    image, mask = generate_synthetic_volume(0, 0, 20)
    assert resize_image(image, (10, 16, 12)).shape == (10, 16, 12, 4)
    resized = resize_mask(mask, (10, 16, 12))
    assert resized.shape == (10, 16, 12) and set(np.unique(resized)) <= {0, 1} and resized.any()
    assert n_segments_for((16, 32, 32, 4)) == round(1024 * 16 * 32 * 32 / 256**2)
    labels = slic_superpixels(image, n_segments_for(image.shape))
    assert labels.shape == (20, 20, 20) and labels.min() == 0 and labels.max() >= 10


def test_generated_volumes_are_deterministic_and_never_empty() -> None:
    first, second = generate_synthetic_volume(2, 5, 16), generate_synthetic_volume(2, 5, 16)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[1].any() and not np.array_equal(first[0], generate_synthetic_volume(2, 6, 16)[0])


def test_working_size_must_match_the_samples_dimensionality(tmp_path) -> None:
    with pytest.raises(InputError, match=r"\(16, 16, 16, 4\).*working_size \[16, 16\]"):
        prepare_dataset("vol", "synthetic_3d", None, tmp_path / "a", 16, {"n_train": 1, "n_test": 1, "size": 16})
    with pytest.raises(InputError, match="working_size"):
        prepare_dataset("vol", "synthetic_3d", None, tmp_path / "b", [16, 16, 16, 16], {"size": 16})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

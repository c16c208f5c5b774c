"""Run data loading, name checks, augmentation alignment, colour jitter, seeded epoch streams, run config."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from common.atomic import write_json, write_npz
from common.errors import InputError
from training.augment import (
    NEUTRAL_FACTORS,
    InputScaler,
    JitterParams,
    apply_geometry,
    augment_batch,
    color_jitter,
    draw_geometry,
    draw_jitter,
)
from training.data import epoch_batches, load_run_data, seeded_generator, subset_indices, to_device
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

SIZE = 16


def _indexed_fields(batch_size: int, channels: int = 3) -> dict[str, torch.Tensor]:
    """Fields whose every pixel encodes its original position, so any misalignment between fields shows."""
    position = torch.arange(SIZE * SIZE).reshape(SIZE, SIZE)
    stacked = position.expand(batch_size, SIZE, SIZE)
    image = torch.stack([(stacked + 37 * c) % 256 for c in range(channels)], dim=1).to(torch.uint8)
    return {
        "images": image,
        "labels": (stacked % 2).to(torch.uint8),
        "clean_labels": ((stacked // SIZE) % 2).to(torch.uint8),
        "distance": (stacked % 11).to(torch.uint8),
        "superpixels": stacked.to(torch.int32),
    }


def test_augmentation_applies_one_geometry_to_every_field() -> None:
    fields = _indexed_fields(64)
    batch = augment_batch(fields, seeded_generator(0, 0, "data"), InputScaler("raw"), 0.5, with_jitter=False)
    source = batch.superpixels.reshape(64, -1)  # the original position each output pixel came from
    position = torch.arange(SIZE * SIZE)
    assert torch.equal(batch.labels.reshape(64, -1), position[source] % 2)
    assert torch.equal(batch.clean_labels.reshape(64, -1), (position[source] // SIZE) % 2)
    assert torch.equal(batch.distance.reshape(64, -1), (position[source] % 11).float())
    for channel in range(3):
        assert torch.equal(batch.images[:, channel].reshape(64, -1), ((position[source] + 37 * channel) % 256).float())
    assert torch.equal(batch.jittered, batch.images)
    outcomes = {tuple(row[:3].tolist()) for row in source}
    assert len(outcomes) == 8  # all eight rotations/flips of the square occur in 64 samples


def test_non_square_images_keep_their_shape() -> None:
    tensor = torch.arange(2 * 4 * 6).reshape(2, 4, 6)
    params = draw_geometry(32, seeded_generator(1), square=False)
    assert set(params.rotations.tolist()) <= {0, 2}
    assert apply_geometry(tensor.repeat(16, 1, 1), params).shape == (32, 4, 6)


def _two_colour_images(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(8, SIZE, SIZE, dtype=torch.bool)
    mask[:, 3:9, 5:12] = True
    colours = torch.tensor([200.0, 120.0, 60.0])[:channels].reshape(1, channels, 1, 1)
    images = torch.where(mask[:, None], colours, torch.full_like(colours, 30.0)).expand(8, channels, SIZE, SIZE)
    return images.clone(), mask


@pytest.mark.parametrize("channels", [3, 1])
def test_jitter_changes_colour_but_not_geometry(channels: int) -> None:
    images, mask = _two_colour_images(channels)
    jittered = color_jitter(images, draw_jitter(8, seeded_generator(2), strength=0.5))
    assert jittered.shape == images.shape
    assert not torch.allclose(jittered, images)
    assert jittered.min() >= 0 and jittered.max() <= 255
    for image, region in zip(jittered, mask, strict=True):
        inside, outside = image[:, region], image[:, ~region]
        assert torch.equal(inside, inside[:, :1].expand_as(inside))  # still one colour inside the square
        assert torch.equal(outside, outside[:, :1].expand_as(outside))  # and one outside it
    assert len({tuple(image[:, 5, 7].tolist()) for image in jittered}) == 8  # each image draws its own factors


def _torchvision_jitter(images: torch.Tensor, params: JitterParams) -> torch.Tensor:
    """The reference: torchvision's functional colour ops, image by image, in each sample's drawn order."""
    from torchvision.transforms.v2 import functional as TF

    kernels = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    jittered = []
    for image, factors, order in zip(images / 255.0, params.factors.tolist(), params.order.tolist(), strict=True):
        for operation in order:
            if factors[operation] != NEUTRAL_FACTORS[operation] and (image.shape[0] == 3 or operation < 2):
                image = kernels[operation](image, factors[operation])
        jittered.append(image)
    return torch.stack(jittered) * 255.0


@pytest.mark.parametrize(("shape", "exact"), [((16, 3, 64, 64), True), ((8, 3, 32, 64), True),
                                              ((12, 1, 64, 64), True), ((7, 3, 37, 41), False)])
@pytest.mark.parametrize("strength", [0.05, 0.5, 1.0])
def test_batched_jitter_equals_torchvision_image_by_image(shape: tuple[int, ...], exact: bool,
                                                          strength: float) -> None:
    """Bit for bit where a sample's element count is a multiple of the CPU vector width (every working size the
    networks accept); elsewhere the fused multiply-add of the remainder elements moves the last bit only."""
    generator = torch.Generator().manual_seed(11)
    images = torch.randint(0, 256, shape, generator=generator).float()
    images[0] = 128.0  # a grey sample: hue and saturation 0
    params = draw_jitter(shape[0], seeded_generator(5), strength)
    batched, reference = color_jitter(images, params), _torchvision_jitter(images, params)
    if exact:
        assert torch.equal(batched, reference)
    else:
        torch.testing.assert_close(batched, reference, rtol=0, atol=1e-4)


def test_jitter_strength_zero_is_the_identity() -> None:
    images, _ = _two_colour_images(3)
    assert torch.equal(color_jitter(images, draw_jitter(8, seeded_generator(3), strength=0.0)), images)


def test_jittered_view_is_scaled_like_the_images() -> None:
    fields = _indexed_fields(4)
    batch = augment_batch(fields, seeded_generator(4), InputScaler("unit"), 0.5, with_jitter=True)
    assert batch.images.max() <= 1.0 and batch.jittered.max() <= 1.0
    assert not torch.equal(batch.images, batch.jittered)


def test_an_epoch_stream_is_a_pure_function_of_seed_and_epoch() -> None:
    def stream(seed: int, epoch: int) -> list[torch.Tensor]:
        generator = seeded_generator(seed, epoch, "data")
        fields = _indexed_fields(10)
        tensors = []
        for indices in epoch_batches(10, 4, generator):
            batch = augment_batch({k: v[indices] for k, v in fields.items()}, generator, InputScaler("raw"), 0.5,
                                  with_jitter=True)
            tensors += [indices, batch.images, batch.jittered, batch.superpixels]
        return tensors

    first, again, other_epoch = stream(0, 5), stream(0, 5), stream(0, 6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other_epoch, strict=True))


def test_epoch_batches_shuffle_and_drop_the_last_incomplete_batch() -> None:
    batches = epoch_batches(10, 4, seeded_generator(0))
    assert [len(batch) for batch in batches] == [4, 4]
    used = torch.cat(batches)
    assert len(set(used.tolist())) == 8
    assert not torch.equal(used, torch.arange(8))


def test_subset_indices_are_seeded_sorted_and_floor_sized() -> None:
    subset = subset_indices(100, 0.25, seed=1)
    assert len(subset) == 25 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, subset_indices(100, 0.25, seed=1))
    assert not np.array_equal(subset, subset_indices(100, 0.25, seed=2))
    assert np.array_equal(subset_indices(7, 1.0, seed=0), np.arange(7))


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    return write_synthetic_inputs(tmp_path, n_train=12, n_test=4, size=SIZE)


def test_load_run_data_reads_every_field(inputs: tuple[Path, Path]) -> None:
    prepared, noise = inputs
    data = load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=4))
    assert len(data.train) == 12 and len(data.test) == 4 and data.channels == 3
    sample = data.train[0]
    assert sample["images"].shape == (3, SIZE, SIZE)
    assert not torch.equal(sample["labels"], sample["clean_labels"])  # noisy masks are shifted by a pixel
    assert sample["distance"].min() >= 1 and sample["superpixels"].max() > 0
    with np.load(noise / "noisy_masks.npz") as archive:
        noisy = archive["masks"]
    assert np.array_equal(data.train.fields["labels"].numpy(), noisy)
    assert data.tau == pytest.approx(float(np.mean(noisy != data.train.fields["clean_labels"].numpy())))
    assert data.test.names == [f"case{index:03d}" for index in range(12, 16)]


def test_clean_training_tau_and_train_fraction(inputs: tuple[Path, Path]) -> None:
    prepared, _ = inputs
    config = RunConfig(prepared_dir=prepared, method="ce", batch_size=4, train_fraction=0.5, tau=0.1,
                       input_scaling="standardize")
    notes: list[str] = []
    data = load_run_data(config, log=notes.append)
    assert len(data.train) == 6 and data.tau == 0.1
    assert torch.equal(data.train.fields["labels"], data.train.fields["clean_labels"])
    assert torch.all(data.train.fields["distance"] == 1) and any("distance" in note for note in notes)
    scaled = data.scaler(data.train.fields["images"].float())
    assert torch.allclose(scaled.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=scaled.dtype), atol=1e-5)


def test_name_mismatch_names_both_files(inputs: tuple[Path, Path]) -> None:
    prepared, noise = inputs
    with np.load(noise / "noisy_masks.npz") as archive:
        masks, names = archive["masks"], archive["names"].astype("<U16")
    names[3] = "intruder"
    write_npz(noise / "noisy_masks.npz", masks=masks, names=names)
    with pytest.raises(InputError, match=r"noisy_masks\.npz.*split\.csv.*intruder"):
        load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=4))


def test_superpixel_count_mismatch_and_missing_files(inputs: tuple[Path, Path]) -> None:
    prepared, noise = inputs
    with np.load(prepared / "superpixels.npz") as archive:
        write_npz(prepared / "superpixels.npz", superpixels=archive["superpixels"][:-1], names=archive["names"][:-1])
    with pytest.raises(InputError, match=r"superpixels\.npz: 11 names, but .*split\.csv has 12"):
        load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=4))
    (noise / "distance_maps.npz").unlink()
    with pytest.raises(InputError, match=r"distance_maps\.npz: file not found"):
        load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=4,
                                superpixels_path=None))


def test_missing_noise_rate_and_too_few_images_are_input_errors(inputs: tuple[Path, Path]) -> None:
    prepared, noise = inputs
    with pytest.raises(InputError, match="batch_size"):
        load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=13))
    write_json(noise / "summary.json", {"n": 12})
    with pytest.raises(InputError, match=r"summary\.json.*noise_rate"):
        load_run_data(RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", batch_size=4))


@pytest.mark.parametrize(
    ("update", "key"),
    [
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"tau": 1.0}, "tau"),
        ({"tau": -0.1}, "tau"),
        ({"eval_last_k": 20, "epochs": 10}, "eval_last_k"),
        ({"input_scaling": "zscore"}, "input_scaling"),
        ({"backbone": "vgg"}, "backbone"),
        ({"lr": 0}, "lr"),
        ({"train_fraction": 1.5}, "train_fraction"),
        ({"epochs": 2.5}, "epochs"),
        ({"device": "tpu"}, "device"),
        ({"learning_rate": 0.1}, "learning_rate"),
    ],
)
def test_run_config_rejects_bad_values_naming_the_key(update: dict, key: str) -> None:
    with pytest.raises(InputError, match=key):
        RunConfig.from_mapping({"prepared_dir": "p", "method": "ce", **update})


def test_run_config_round_trips_through_a_mapping() -> None:
    config = RunConfig.from_mapping({"prepared_dir": "p", "noise_dir": "n", "method": "jocor", "tau": None,
                                     "method_options": {"ramp_epochs": 4}, "threads": 1})
    assert config.noise_dir == Path("n") and config.tau is None and config.epochs == 100
    assert RunConfig.from_mapping(config.to_mapping()) == config


def test_second_view_options_gaussian_noise_and_none() -> None:
    """Item 3: network 2's view is colour jitter by default, N(0.05, 0.02) on [0, 1] for the reference's BraTS
    loader, or the image itself (MMIS); a bad value names the key."""
    import torch

    from common.errors import InputError
    from training.augment import second_view
    from training.run_config import RunConfig

    images = torch.full((2, 4, 4, 8, 8), 100.0)
    noisy = second_view(images, torch.Generator().manual_seed(0), "gaussian_noise", 0.5, (0.05, 0.02))
    shift = (noisy - images) / 255.0
    assert abs(float(shift.mean()) - 0.05) < 0.005 and abs(float(shift.std()) - 0.02) < 0.005
    assert torch.equal(second_view(images, torch.Generator(), "none", 0.5), images)
    jittered = second_view(images + torch.rand(images.shape) * 50, torch.Generator().manual_seed(0), "jitter", 0.5)
    assert jittered.shape == images.shape
    with pytest.raises(InputError, match="second_view"):
        RunConfig(prepared_dir="x", method="ce", second_view="blur")
    with pytest.raises(InputError, match="second_view_noise"):
        RunConfig(prepared_dir="x", method="ce", second_view_noise=[0.05])


def test_to_device_pins_host_tensors_bound_for_cuda() -> None:
    """A host tensor bound for CUDA is pinned and copied asynchronously; on CPU it is the tensor itself."""
    host = torch.arange(6, dtype=torch.uint8)
    assert to_device(host, "cpu") is host
    fake = mock.MagicMock(spec=torch.Tensor)
    fake.device = torch.device("cpu")
    result = to_device(fake, "cuda:0")
    fake.pin_memory.assert_called_once_with()
    fake.pin_memory.return_value.to.assert_called_once_with(torch.device("cuda:0"), non_blocking=True)
    assert result is fake.pin_memory.return_value.to.return_value

"""Loading a run's data (prepared set, noisy masks, superpixels, distance maps) and seeded epoch streams.

Formats: ``docs/architecture.md``. Every name list must agree with the training split of the prepared set;
a mismatch is an :class:`InputError` naming the two files. Randomness of an epoch (shuffle, augmentation, the
method's generator, the global torch RNG) comes from seeds derived from ``(seed, epoch)`` only, so an epoch
replays identically after a resume.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from adapters.prepare import check_names, read_groups, read_split
from common.errors import InputError
from common.npz import read_npz
from training.augment import InputScaler
from training.run_config import RunConfig

#: Superpixel map used when a run has none: the whole image as one superpixel.
NO_SUPERPIXELS = 0
#: Distance value used when a clean-mask run has no distance maps: every GDA weight W_i = 1.
NO_DISTANCE = 1


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from the SHA-256 of the parts' reprs (e.g. ``derive_seed(seed, epoch, "data")``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def seeded_generator(*parts: object, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`derive_seed` of ``parts``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(*parts))
    return generator


def epoch_batches(num_samples: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled partition of ``range(num_samples)`` into full batches; the last incomplete batch is dropped."""
    order = torch.randperm(num_samples, generator=generator)
    num_batches = num_samples // batch_size
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(num_batches)]


def subset_size(num_samples: int, fraction: float) -> int:
    """How many of ``num_samples`` samples a ``fraction`` subset keeps: ``floor(fraction * n)``, at least one."""
    return num_samples if fraction >= 1.0 else max(1, int(fraction * num_samples))


def subset_indices(num_samples: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded :func:`subset_size` subset of ``num_samples`` samples."""
    if fraction >= 1.0:
        return np.arange(num_samples)
    keep = subset_size(num_samples, fraction)
    order = torch.randperm(num_samples, generator=seeded_generator(seed, "train_fraction")).numpy()
    return np.sort(order[:keep])


def _has_key(path: Path, key: str) -> bool:
    """Whether the ``.npz`` at ``path`` holds ``key`` (False for a missing or unreadable file)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return key in archive.files
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


@dataclass(frozen=True)
class PreparedSet:
    """The prepared data set: images ``(N, H, W, C)`` uint8, masks ``(N, H, W)`` uint8, names, split labels,
    groups (patient / volume; the name where the set has none), rater masks ``(N, R, H, W)`` uint8 of a
    multi-rater set (else None), and the evaluation unit ("image", or "group": one score per rebuilt volume)."""

    images: np.ndarray
    masks: np.ndarray
    names: np.ndarray
    splits: np.ndarray
    groups: np.ndarray
    rater_masks: np.ndarray | None = None
    evaluation_unit: str = "image"

    def indices(self, split: str) -> np.ndarray:
        """Indices of ``split`` ("train" or "test") in prepared order."""
        return np.flatnonzero(self.splits == split)


#: Evaluation units a prepared set's ``metadata.json`` may name.
EVALUATION_UNITS = ("image", "group")


def _evaluation_unit(prepared_dir: Path) -> str:
    """``evaluation_unit`` of ``metadata.json`` ("image" where the file or the entry is absent)."""
    path = prepared_dir / "metadata.json"
    if not path.is_file():
        return "image"
    try:
        unit = json.loads(path.read_text()).get("evaluation_unit", "image")
    except (json.JSONDecodeError, AttributeError):
        raise InputError(f"{path}: not a JSON object") from None
    if unit not in EVALUATION_UNITS:
        raise InputError(f"{path}: 'evaluation_unit' must be one of {', '.join(EVALUATION_UNITS)}, got {unit!r}")
    return unit


def load_prepared(prepared_dir: Path) -> PreparedSet:
    """Read ``data.npz``, ``split.csv`` and ``metadata.json`` of a prepared set, checking shapes and names."""
    data_path = prepared_dir / "data.npz"
    arrays = read_npz(data_path, ("images", "masks", "names"))
    images, masks, names = arrays["images"], arrays["masks"], arrays["names"].astype(str)
    rater_masks = read_npz(data_path, ("rater_masks",))["rater_masks"] if _has_key(data_path, "rater_masks") else None
    if images.ndim not in (4, 5) or images.dtype != np.uint8:
        raise InputError(f"{data_path}: 'images' must be uint8 (N, H, W, C) or volumes (N, D, H, W, C), got "
                         f"{images.dtype} {images.shape}")
    if masks.shape != images.shape[:-1]:
        raise InputError(f"{data_path}: 'masks' shape {masks.shape} does not match images {images.shape[:-1]}")
    if names.shape != (len(images),):
        raise InputError(f"{data_path}: 'names' shape {names.shape} does not match {len(images)} images")
    if rater_masks is not None and (rater_masks.ndim != masks.ndim + 1 or len(rater_masks) != len(masks)
                                    or rater_masks.shape[2:] != masks.shape[1:]):
        raise InputError(f"{data_path}: 'rater_masks' shape {rater_masks.shape} does not match masks {masks.shape} "
                         "(expected (N, R, ...))")
    splits = read_split(prepared_dir, names)
    return PreparedSet(images=images, masks=(masks > 0).astype(np.uint8), names=names, splits=splits,
                       groups=read_groups(prepared_dir, names),
                       rater_masks=None if rater_masks is None else (rater_masks > 0).astype(np.uint8),
                       evaluation_unit=_evaluation_unit(prepared_dir))


def _load_per_train(path: Path, key: str, train_names: np.ndarray, shape: tuple[int, ...], reference: Path,
                    names_required: bool = True) -> np.ndarray:
    """Array ``key`` of ``path`` with one entry per training sample, names and shape checked."""
    with_names = names_required or _has_key(path, "names")
    arrays = read_npz(path, (key, "names") if with_names else (key,))
    values = arrays[key]
    if with_names:
        check_names(arrays["names"].astype(str), train_names, path, reference)
    if values.shape != shape:
        raise InputError(f"{path}: '{key}' shape {values.shape} does not match the training set {shape} "
                         f"of {reference}")
    return values


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``; a CPU tensor bound for CUDA goes through pinned memory, copied asynchronously on
    the current stream (so the kernels that read it wait for it)."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class TrainingSet(Dataset):
    """Training samples as tensors: ``images`` (N, C, H, W) uint8, ``labels`` (noisy) and ``clean_labels``
    (N, H, W) uint8, ``distance`` (N, H, W) uint8 (float32 if stored as float), ``superpixels`` (N, H, W) int32;
    ``names``."""

    FIELDS = ("images", "labels", "clean_labels", "distance", "superpixels")

    def __init__(self, names: list[str], **fields: torch.Tensor) -> None:
        if set(fields) != set(self.FIELDS):
            raise ValueError(f"TrainingSet needs exactly the fields {self.FIELDS}")
        self.names = list(names)
        self.fields = fields

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.fields.items()}

    def take(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The samples at ``indices`` stacked per field (on the set's device)."""
        indices = indices.to(self.fields["images"].device)
        return {key: value[indices] for key, value in self.fields.items()}

    def to(self, device: torch.device | str) -> TrainingSet:
        """A copy of the set on ``device``."""
        return TrainingSet(self.names, **{key: to_device(value, device) for key, value in self.fields.items()})


class TestSet(Dataset):
    """Test samples: ``images`` (N, C, H, W) uint8 and clean ``masks`` (N, H, W) uint8; ``names``.

    Multi-rater sets add ``rater_masks`` (N, R, H, W) uint8, each rater scored separately. ``groups`` (one per
    sample) is set where the test split is scored per group: a volume rebuilt from its slices.
    """

    def __init__(self, names: list[str], images: torch.Tensor, masks: torch.Tensor,
                 rater_masks: torch.Tensor | None = None, groups: list[str] | None = None) -> None:
        self.names = list(names)
        self.images = images
        self.masks = masks
        self.rater_masks = rater_masks
        self.groups = groups

    @property
    def references(self) -> torch.Tensor:
        """The masks each prediction is scored against, ``(N, R, H, W)``: the raters', or the one clean mask."""
        return self.rater_masks if self.rater_masks is not None else self.masks.unsqueeze(1)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"images": self.images[index], "masks": self.masks[index]}

    def batches(self, batch_size: int) -> list[slice]:
        """Consecutive slices of ``batch_size`` samples in stored order (the last may be smaller)."""
        return [slice(start, min(start + batch_size, len(self))) for start in range(0, len(self), batch_size)]

    def to(self, device: torch.device | str) -> TestSet:
        """A copy of the set on ``device``."""
        raters = None if self.rater_masks is None else to_device(self.rater_masks, device)
        return TestSet(self.names, to_device(self.images, device), to_device(self.masks, device), raters, self.groups)


@dataclass
class RunData:
    """What a run trains and evaluates on, the input scaler, the noise rate found and the files read."""

    train: TrainingSet
    test: TestSet
    scaler: InputScaler
    tau: float
    channels: int
    sources: list[Path]


def _channels_first(images: np.ndarray) -> torch.Tensor:
    """``(N, [D,] H, W, C)`` uint8 images (volumes with D) as a ``(N, C, [D,] H, W)`` tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, 1)))


def read_noise_rate(noise_dir: Path) -> float:
    """``noise_rate`` of ``noise_dir/summary.json`` (the measured tau)."""
    path = noise_dir / "summary.json"
    if not path.is_file():
        raise InputError(f"{path}: file not found (needed for tau; or set the run config key 'tau')")
    try:
        rate = json.loads(path.read_text())["noise_rate"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{path}: no 'noise_rate' entry (needed for tau; or set the run config key 'tau')") from None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise InputError(f"{path}: 'noise_rate' must be a number in [0, 1), got {rate!r}")
    return float(rate)


def load_run_data(config: RunConfig, log: Callable[[str], None] = print) -> RunData:
    """Load and cross-check every input of ``config``, apply ``train_fraction``, fit the input scaler."""
    prepared = load_prepared(config.prepared_dir)
    data_path = config.prepared_dir / "data.npz"
    split_path = config.prepared_dir / "split.csv"
    sources = [data_path, split_path]
    train_index, test_index = prepared.indices("train"), prepared.indices("test")
    if len(train_index) == 0 or len(test_index) == 0:
        raise InputError(f"{split_path}: needs both train and test samples, has {len(train_index)} train and "
                         f"{len(test_index)} test")
    train_names = prepared.names[train_index]
    clean = prepared.masks[train_index]
    shape = clean.shape

    if config.noise_dir is None:
        labels = clean
        tau = 0.0 if config.tau is None else config.tau
    else:
        noisy_path = config.noise_dir / "noisy_masks.npz"
        labels = (_load_per_train(noisy_path, "masks", train_names, shape, split_path) > 0).astype(np.uint8)
        sources.append(noisy_path)
        tau = read_noise_rate(config.noise_dir) if config.tau is None else config.tau

    distance_path = config.distance_path
    if distance_path is None and config.noise_dir is not None:
        distance_path = config.noise_dir / "distance_maps.npz"
    if distance_path is None:
        log(f"no distance maps for clean-mask training: D = {NO_DISTANCE} everywhere (flat GDA weights)")
        distance = np.full(shape, NO_DISTANCE, dtype=np.uint8)
    else:
        distance = _load_per_train(distance_path, "distance", train_names, shape, split_path, names_required=False)
        sources.append(distance_path)

    superpixels_path = config.superpixels_path
    if superpixels_path is None and (config.prepared_dir / "superpixels.npz").is_file():
        superpixels_path = config.prepared_dir / "superpixels.npz"
    if superpixels_path is None:
        log(f"no superpixels.npz: each training image is one superpixel (label {NO_SUPERPIXELS})")
        superpixels = np.full(shape, NO_SUPERPIXELS, dtype=np.int32)
    else:
        superpixels = _load_per_train(superpixels_path, "superpixels", train_names, shape, split_path)
        sources.append(superpixels_path)
        if superpixels.min() < 0:
            raise InputError(f"{superpixels_path}: superpixel labels must be >= 0")

    keep = subset_indices(len(train_names), config.train_fraction, config.seed)
    if len(keep) < config.batch_size:
        raise InputError(f"run config key 'batch_size': {config.batch_size} is more than the {len(keep)} training "
                         f"images used (train_fraction {config.train_fraction}), so no full batch exists")
    train_images = prepared.images[train_index][keep]
    train = TrainingSet(
        [str(name) for name in train_names[keep]],
        images=_channels_first(train_images),
        labels=torch.from_numpy(labels[keep]),
        clean_labels=torch.from_numpy(clean[keep]),
        distance=torch.from_numpy(distance[keep] if distance.dtype == np.uint8 else distance[keep].astype(np.float32)),
        superpixels=torch.from_numpy(superpixels[keep].astype(np.int32)),
    )
    test_raters = None if prepared.rater_masks is None else torch.from_numpy(prepared.rater_masks[test_index])
    test_groups = [str(group) for group in prepared.groups[test_index]] if prepared.evaluation_unit == "group" else None
    test = TestSet([str(name) for name in prepared.names[test_index]], _channels_first(prepared.images[test_index]),
                   torch.from_numpy(prepared.masks[test_index]), test_raters, test_groups)
    scaler = InputScaler.fit(config.input_scaling, train_images)
    return RunData(train=train, test=test, scaler=scaler, tau=tau, channels=prepared.images.shape[-1],
                   sources=sources)

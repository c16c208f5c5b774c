"""One training run's settings: a frozen, validated dataclass built from a plain mapping (the workflow config)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import InputError
from evaluation.metrics import EMPTY_MASK_SCORES
from training.augment import DEFAULT_SECOND_VIEW_NOISE, SECOND_VIEWS
from training.networks import available_backbones

INPUT_SCALINGS = ("raw", "unit", "standardize")
DEVICES = ("auto", "cpu", "cuda")
MEMORY_FORMATS = ("channels_last", "contiguous")
PRECISIONS = ("fp32", "bf16")
#: torchvision's ColorJitter accepts a hue factor of at most 0.5, i.e. 0.2 * s <= 0.5.
MAX_JITTER_STRENGTH = 2.5


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (defaults: the paper's protocol with the reference's inputs).

    prepared_dir: folder with ``data.npz`` and ``split.csv``. noise_dir: folder with ``noisy_masks.npz`` and
    ``summary.json``; None trains on the clean masks. superpixels_path: None = ``prepared_dir/superpixels.npz``
    when it exists, else one superpixel per image. distance_path: None = ``noise_dir/distance_maps.npz`` (then
    required), or D = 1 everywhere when training on clean masks. tau: None = ``noise_rate`` of
    ``noise_dir/summary.json`` (0 on clean masks). input_scaling: ``raw`` (0-255, as the reference), ``unit``
    ([0, 1]) or ``standardize`` (per-channel mean/std of the training images used). jitter_strength: s of
    ColorJitter(0.8s, 0.8s, 0.8s, 0.2s). train_fraction: a seeded subset of the training images (Table 9).
    empty_mask_dice: the score of an empty prediction on an empty mask, ``one`` (smoothed Dice, the default) or
    ``zero`` (medpy, as the reference's multi-expert scripts); see ``evaluation.metrics.EMPTY_MASK_SCORES``.
    second_view: network 2's view, ``jitter`` (paper), ``gaussian_noise`` (reference BraTS loader: N(mean, std) on
    [0, 1], ``second_view_noise`` [mean, std], default [0.05, 0.02]) or ``none`` (reference MMIS loader).
    threads: torch CPU threads (None = torch's default); it does not change what a checkpoint matches.
    memory_format: ``channels_last`` (networks and inputs in NHWC / NDHWC, faster on CPU and GPU, measured in
    ``docs/benchmarks.md``) or ``contiguous`` (NCHW; the layout the golden values pin). precision: ``fp32`` (the
    protocol) or ``bf16`` (autocast of forward passes and losses; CPU and CUDA). compile: ``torch.compile`` each
    network. deterministic: CUDA only, cuDNN deterministic algorithms and no autotuning, for exact reruns (CPU
    runs are always deterministic for a given setting).
    """

    prepared_dir: Path
    method: str
    noise_dir: Path | None = None
    superpixels_path: Path | None = None
    distance_path: Path | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    backbone: str = "unet_small"
    epochs: int = 100
    batch_size: int = 16
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 1e-5
    eval_last_k: int = 10
    #: Test Dice every this many epochs before the last K (logged, not scored); 0: off.
    eval_every: int = 0
    eval_batch_size: int = 16
    input_scaling: str = "raw"
    jitter_strength: float = 0.5
    tau: float | None = None
    seed: int = 0
    device: str = "auto"
    train_fraction: float = 1.0
    empty_mask_dice: str = "one"
    second_view: str = "jitter"
    second_view_noise: list[float] = field(default_factory=lambda: list(DEFAULT_SECOND_VIEW_NOISE))
    threads: int | None = None
    memory_format: str = "channels_last"
    precision: str = "fp32"
    compile: bool = False
    deterministic: bool = False

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RunConfig:
        """Build from a plain mapping (paths as strings); an unknown key or bad value is an InputError naming it."""
        if not isinstance(mapping, Mapping):
            raise InputError(f"run config: expected a mapping of run config keys, got {type(mapping).__name__}")
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise InputError(f"unknown run config key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        for key in ("prepared_dir", "method"):
            if mapping.get(key) is None:
                raise InputError(f"run config key {key!r} is required")
        values = dict(mapping)
        for key in ("prepared_dir", "noise_dir", "superpixels_path", "distance_path"):
            if values.get(key) is not None:
                if not isinstance(values[key], str | Path):
                    raise InputError(f"run config key {key!r}: expected a path, got {values[key]!r}")
                values[key] = Path(values[key])
        if values.get("method_options") is None:
            values["method_options"] = {}
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """A JSON-ready mapping (paths as strings) that :meth:`from_mapping` turns back into an equal config."""
        mapping = dataclasses.asdict(self)
        for key, value in mapping.items():
            if isinstance(value, Path):
                mapping[key] = str(value)
        return mapping

    def _validate(self) -> None:
        """Raise an InputError naming the first key with a bad value."""
        _check_type("method", self.method, str)
        _check_type("backbone", self.backbone, str)
        if self.backbone not in available_backbones():
            raise InputError(f"run config key 'backbone': unknown backbone {self.backbone!r}; "
                             f"known backbones: {', '.join(available_backbones())}")
        if not isinstance(self.method_options, dict):
            raise InputError(f"run config key 'method_options': expected a mapping, got {self.method_options!r}")
        for key in ("epochs", "batch_size", "eval_last_k", "eval_batch_size"):
            _check_int(key, getattr(self, key), minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("eval_every", self.eval_every, minimum=0)
        if self.threads is not None:
            _check_int("threads", self.threads, minimum=1)
        if self.eval_last_k > self.epochs:
            raise InputError(f"run config key 'eval_last_k': {self.eval_last_k} is more than epochs ({self.epochs})")
        _check_number("lr", self.lr, low=0.0, low_open=True)
        _check_number("momentum", self.momentum, low=0.0, high=1.0)
        _check_number("weight_decay", self.weight_decay, low=0.0)
        _check_number("jitter_strength", self.jitter_strength, low=0.0, high=MAX_JITTER_STRENGTH)
        _check_number("train_fraction", self.train_fraction, low=0.0, high=1.0, low_open=True)
        if self.tau is not None:
            _check_number("tau", self.tau, low=0.0, high=1.0, high_open=True)
        if self.input_scaling not in INPUT_SCALINGS:
            raise InputError(f"run config key 'input_scaling': {self.input_scaling!r} is not one of "
                             f"{', '.join(INPUT_SCALINGS)}")
        if self.empty_mask_dice not in EMPTY_MASK_SCORES:
            raise InputError(f"run config key 'empty_mask_dice': {self.empty_mask_dice!r} is not one of "
                             f"{', '.join(EMPTY_MASK_SCORES)}")
        for key, choices in (("memory_format", MEMORY_FORMATS), ("precision", PRECISIONS)):
            if getattr(self, key) not in choices:
                raise InputError(f"run config key {key!r}: {getattr(self, key)!r} is not one of {', '.join(choices)}")
        for key in ("compile", "deterministic"):
            _check_type(key, getattr(self, key), bool)
        if self.second_view not in SECOND_VIEWS:
            raise InputError(f"run config key 'second_view': {self.second_view!r} is not one of "
                             f"{', '.join(SECOND_VIEWS)}")
        noise = self.second_view_noise
        if isinstance(noise, str | bytes) or not hasattr(noise, "__len__") or len(noise) != 2:
            raise InputError(f"run config key 'second_view_noise': expected [mean, std], got {noise!r}")
        _check_number("second_view_noise", noise[0], low=-1.0, high=1.0)
        _check_number("second_view_noise", noise[1], low=0.0, high=1.0)
        if self.device not in DEVICES:
            raise InputError(f"run config key 'device': {self.device!r} is not one of {', '.join(DEVICES)}")


def _check_type(key: str, value: Any, expected: type) -> None:
    if not isinstance(value, expected):
        raise InputError(f"run config key {key!r}: expected {expected.__name__}, got {value!r}")


def _check_int(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"run config key {key!r}: expected an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"run config key {key!r}: must be >= {minimum}, got {value}")


def _check_number(key: str, value: Any, low: float, high: float = math.inf, low_open: bool = False,
                  high_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"run config key {key!r}: expected a finite number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InputError(f"run config key {key!r}: {value!r} is outside {interval}")

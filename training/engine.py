"""The one training engine: every method trains and is evaluated through :func:`train`.

Per epoch: seeded shuffle and augmentation, one SGD step per full batch over all networks' parameters plus the
method's own parameter groups; in the last ``eval_last_k`` epochs the test split is scored with the fused
prediction (per-image Dice, averaged per batch of ``eval_batch_size`` and then over batches: the reference's
protocol value); the last epoch's fused prediction masks are kept. A checkpoint after every epoch lets a killed
run resume; the epoch's randomness depends only on ``(seed, epoch)``, so a resumed run ends bit-identical (on CPU)
to an uninterrupted one. Outputs (``epochs.csv``, ``per_image.csv``, ``predictions.npz``, ``summary.json``) are
written atomically at the end; the checkpoint is then removed (unless asked to keep it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from common.atomic import atomic_path, write_csv, write_json, write_npz
from common.errors import InputError
from common.provenance import provenance
from evaluation.metrics import EMPTY_MASK_SCORES, dice_from_counts, overlap_counts
from methods.base import (
    JITTERED_NETWORK,
    Batch,
    EpochContext,
    LossOutput,
    Method,
    NetworkFactory,
    OptimizerSettings,
    StepContext,
    TrainingSetView,
)
from methods.registry import build_method
from training.augment import InputScaler, augment_batch
from training.data import (
    TestSet,
    TrainingSet,
    derive_seed,
    epoch_batches,
    load_run_data,
    seeded_generator,
)
from training.host_memory import retain_freed_memory
from training.networks import build_network, check_input_size
from training.run_config import RunConfig

CHECKPOINT_NAME = "checkpoint.pt"
#: The fused test-set prediction masks of the last epoch (``masks`` bool ``(N, ...)``, ``names``), in test order.
PREDICTIONS_NAME = "predictions.npz"
#: Bumped when the checkpoint layout or the training stream changes, so old checkpoints are not resumed.
CHECKPOINT_FORMAT = 1
#: Run config keys that do not change results: paths (the files' contents are hashed instead) and threads.
_UNHASHED_KEYS = ("prepared_dir", "noise_dir", "superpixels_path", "distance_path", "threads")


@dataclass
class Evaluation:
    """One evaluation of the test split: the protocol value, the per-unit mean and scores, timing, and the fused
    prediction masks (bool, one per test sample, the samples' shape: ``(N, H, W)`` or ``(N, D, H, W)``).

    A unit is a test image, or a group (a volume rebuilt from its slices) where the set is scored per group.
    ``rater_dice`` ``(units, R)`` holds each rater's score, and ``dice`` their mean; ``rater_protocol`` each
    rater's protocol value (R = 1 with the clean mask as the only reference). ``other_rater_dice`` and
    ``other_rater_protocol``: the same under the other empty-mask score, where :func:`evaluate` was given one.
    """

    dice_batch_mean: float
    dice_image_mean: float
    dice: np.ndarray
    rater_dice: np.ndarray
    rater_protocol: np.ndarray
    unit_names: list[str]
    seconds: float
    inference_seconds: float
    predictions: np.ndarray
    other_rater_dice: np.ndarray | None = None
    other_rater_protocol: np.ndarray | None = None


def select_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cuda`` without a GPU is an InputError."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("run config key 'device': cuda requested but no CUDA device is available")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device`` (GPU model, or the CPU model from /proc/cpuinfo where readable)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "cpu"


@contextlib.contextmanager
def torch_settings(device: torch.device, threads: int | None, deterministic: bool = False) -> Iterator[None]:
    """Set torch's CPU threads and deterministic algorithms (always on CPU; on CUDA with ``deterministic``, which
    also turns cuDNN autotuning off; else cuDNN autotunes) for the run; restore them afterwards."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous_cudnn


@dataclass(frozen=True)
class Execution:
    """How a run computes: its device, the memory format of networks and inputs, and the autocast precision."""

    device: torch.device
    channels_last: bool = False
    bf16: bool = False

    @classmethod
    def of(cls, config: RunConfig, device: torch.device) -> Execution:
        return cls(device=device, channels_last=config.memory_format == "channels_last",
                   bf16=config.precision == "bf16")

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` (``(B, C, H, W)`` or ``(B, C, D, H, W)``) in the run's memory format."""
        if not self.channels_last or tensor.dim() not in (4, 5):
            return tensor
        return tensor.contiguous(memory_format=torch.channels_last if tensor.dim() == 4 else torch.channels_last_3d)

    def prepare(self, network: nn.Module, dims: int) -> nn.Module:
        """``network`` on the device, in the run's memory format for ``dims``-D inputs."""
        network = network.to(self.device)
        if self.channels_last:
            network = network.to(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
        return network

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast on the run's device type when ``bf16``, else a no-op context."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


#: fp32, NCHW on the CPU: what a step runs as when no Execution is given.
PLAIN_CPU = Execution(torch.device("cpu"))


def network_factory(backbone: str, in_channels: int, seed: int) -> NetworkFactory:
    """The run's :class:`NetworkFactory`: network ``i`` initialised under ``torch.manual_seed`` of (seed, i)."""
    return NetworkFactory(backbone=backbone, in_channels=in_channels,
                          seed_of=lambda index: derive_seed(seed, "network", index), make=build_network)


def build_networks(method: Method, backbone: str, in_channels: int, seed: int) -> list[nn.Module]:
    """The method's networks (:meth:`Method.build_networks`) on the run's backbone, seeded per network index."""
    return method.build_networks(network_factory(backbone, in_channels, seed))


def count_parameters(modules: Sequence[nn.Module]) -> int:
    """Total number of parameters of ``modules``."""
    return sum(parameter.numel() for module in modules for parameter in module.parameters())


def optimizer_settings(config: RunConfig) -> OptimizerSettings:
    """The protocol's optimiser settings of ``config``, as a method's :meth:`Method.configure_optimizer` sees them."""
    return OptimizerSettings(lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                             epochs=config.epochs)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_step(method: Method, networks: Sequence[nn.Module], optimizer: torch.optim.Optimizer, batch: Batch,
                  ctx: StepContext, execution: Execution = PLAIN_CPU) -> LossOutput:
    """One SGD step of ``method`` on ``batch``: forward and loss (under the run's autocast), backward, the
    after-backward hook, the optimiser step and the after-step hook. The engine and the throughput benchmark both
    train through this function."""
    with execution.autocast():
        outputs = method.forward_batch(networks, batch, ctx)
        output = method.loss(outputs, batch, ctx)
    optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    method.after_backward(networks, ctx)
    optimizer.step()
    method.after_step(networks, ctx)
    return output


class LogAccumulator:
    """Sums of the loss and of a method's per-step logs; tensors stay on the device until :meth:`means`."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.steps = 0
        self.sums: dict[str, float | torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, output: LossOutput) -> None:
        self.loss_sum += output.loss.detach()
        self.steps += 1
        for key, value in output.logs.items():
            value = value.detach().double() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        """``loss`` and every log key (sorted): their means over the steps that logged them (one host read)."""
        row = {"loss": self.loss_sum.item() / self.steps}
        row.update({key: float(self.sums[key]) / self.counts[key] for key in sorted(self.sums)})
        return row


def training_set_view(train_set: TrainingSet) -> TrainingSetView:
    """The un-augmented fields of ``train_set`` the epoch hooks may read."""
    fields = train_set.fields
    return TrainingSetView(labels=fields["labels"], superpixels=fields["superpixels"], distance=fields["distance"])


@torch.no_grad()
def infer_training_set(networks: Sequence[nn.Module], train_set: TrainingSet, scaler: InputScaler,
                       batch_size: int, execution: Execution = PLAIN_CPU) -> list[torch.Tensor]:
    """Every network's ``(N, 2, H, W)`` float32 logits over the training set, in eval mode, without augmentation;
    the networks are back in train mode afterwards."""
    for network in networks:
        network.eval()
    images = train_set.fields["images"]
    logits: list[list[torch.Tensor]] = [[] for _ in networks]
    for start in range(0, len(train_set), batch_size):
        inputs = execution.layout(scaler(images[start:start + batch_size].float()))
        with execution.autocast():
            for index, network in enumerate(networks):
                logits[index].append(network(inputs).float())
    for network in networks:
        network.train()
    return [torch.cat(parts) for parts in logits]


def epoch_context(epoch: int, config: RunConfig, networks: Sequence[nn.Module], optimizer: torch.optim.Optimizer,
                  train_set: TrainingSet, scaler: InputScaler, tau: float, device: torch.device) -> EpochContext:
    """What the epoch hooks of ``epoch`` receive (their generator is seeded by (seed, epoch) apart from the steps')."""
    return EpochContext(
        epoch=epoch, num_epochs=config.epochs, tau=tau, networks=networks, optimizer=optimizer,
        training_set=training_set_view(train_set),
        infer_training_set=lambda: infer_training_set(networks, train_set, scaler, config.eval_batch_size,
                                                      Execution.of(config, device)),
        generator=seeded_generator(config.seed, epoch, "epoch_hooks", device=device))


def train_epoch(epoch: int, config: RunConfig, networks: Sequence[nn.Module], method: Method,
                optimizer: torch.optim.Optimizer, train_set: TrainingSet, scaler: InputScaler, tau: float,
                device: torch.device) -> dict[str, float]:
    """One epoch: the epoch-start hook, one :func:`training_step` per full batch, the epoch-end hook; returns the
    mean loss, the means of the method's logs, the epoch-end logs and the seconds taken."""
    start = time.perf_counter()
    for network in networks:
        network.train()
    method.train()
    torch.manual_seed(derive_seed(config.seed, epoch, "torch"))
    data_generator = seeded_generator(config.seed, epoch, "data")
    hooks = epoch_context(epoch, config, networks, optimizer, train_set, scaler, tau, device)
    method.on_epoch_start(hooks)
    with_jitter = method.uses_jittered_view and method.num_networks > JITTERED_NETWORK
    batches = epoch_batches(len(train_set), config.batch_size, data_generator)
    ctx = StepContext(epoch=epoch, num_epochs=config.epochs, tau=tau, networks=networks,
                      generator=seeded_generator(config.seed, epoch, "method", device=device),
                      iteration=epoch * len(batches), steps_per_epoch=len(batches))
    logs = LogAccumulator(device)
    execution = Execution.of(config, device)
    for step, indices in enumerate(batches):
        fields = train_set.take(indices)
        indices = indices.to(fields["labels"].device)
        fields["labels"] = method.training_labels(indices, fields["labels"])
        batch = augment_batch(fields, data_generator, scaler, config.jitter_strength, with_jitter,
                              config.second_view, tuple(config.second_view_noise))
        batch.indices = indices
        batch.images, batch.jittered = execution.layout(batch.images), execution.layout(batch.jittered)
        ctx.iteration = epoch * len(batches) + step
        logs.add(training_step(method, networks, optimizer, batch, ctx, execution))
    row = logs.means()
    row.update(method.on_epoch_end(hooks))
    _synchronize(device)
    row["train_seconds"] = time.perf_counter() - start
    return row


@torch.no_grad()
def evaluate(networks: Sequence[nn.Module], method: Method, test_set: TestSet, scaler: InputScaler,
             batch_size: int, device: torch.device, empty_score: float = 1.0,
             other_empty_score: float | None = None, execution: Execution = PLAIN_CPU) -> Evaluation:
    """Score the test split with ``method.predict`` (networks in eval mode).

    Per image (the reference's protocol): per-image Dice against each reference mask, averaged per batch of
    ``batch_size`` and then over batches. Per group (``test_set.groups`` set): the Dice of each rebuilt volume
    (counts summed over its slices), averaged over volumes. An empty prediction on an empty mask scores
    ``empty_score``. A multi-rater set's values are the mean over its raters of each rater's value. With
    ``other_empty_score`` the same counts are also scored under that rule (Table 6's companion).
    """
    start = time.perf_counter()
    for network in networks:
        network.eval()
    method.eval()
    references = test_set.references
    intersections, totals, batch_means, other_batch_means, predictions = [], [], [], [], []
    inference_seconds = 0.0
    for rows in test_set.batches(batch_size):
        images = execution.layout(scaler(test_set.images[rows].float()))
        _synchronize(device)
        inference_start = time.perf_counter()
        with execution.autocast():
            prediction = method.predict(networks, images)
        _synchronize(device)
        inference_seconds += time.perf_counter() - inference_start
        batch_references = references[rows]
        intersection, total = overlap_counts(prediction.unsqueeze(1).expand_as(batch_references).flatten(0, 1),
                                             batch_references.flatten(0, 1))
        intersections.append(intersection.reshape(len(batch_references), -1))
        totals.append(total.reshape(len(batch_references), -1))
        batch_means.append(dice_from_counts(intersections[-1], totals[-1], empty_score=empty_score).mean(axis=0))
        if other_empty_score is not None:
            other_batch_means.append(dice_from_counts(intersections[-1], totals[-1],
                                                      empty_score=other_empty_score).mean(axis=0))
        predictions.append(prediction.bool().cpu().numpy())
    intersection, total = np.concatenate(intersections), np.concatenate(totals)
    unit_names = test_set.names
    if test_set.groups is not None:
        unit_index = {group: index for index, group in enumerate(dict.fromkeys(test_set.groups))}
        unit_names = list(unit_index)
        unit_of = np.array([unit_index[group] for group in test_set.groups])
        intersection = np.stack([intersection[unit_of == unit].sum(axis=0) for unit in range(len(unit_names))])
        total = np.stack([total[unit_of == unit].sum(axis=0) for unit in range(len(unit_names))])
    rater_dice = dice_from_counts(intersection, total, empty_score=empty_score)
    rater_protocol = rater_dice.mean(axis=0) if test_set.groups is not None else np.mean(batch_means, axis=0)
    dice = rater_dice.mean(axis=1)
    other_rater_dice = other_rater_protocol = None
    if other_empty_score is not None:
        other_rater_dice = dice_from_counts(intersection, total, empty_score=other_empty_score)
        other_rater_protocol = (other_rater_dice.mean(axis=0) if test_set.groups is not None
                                else np.mean(other_batch_means, axis=0))
    return Evaluation(dice_batch_mean=float(rater_protocol.mean()), dice_image_mean=float(dice.mean()), dice=dice,
                      rater_dice=rater_dice, rater_protocol=rater_protocol, unit_names=unit_names,
                      seconds=time.perf_counter() - start, inference_seconds=inference_seconds,
                      predictions=np.concatenate(predictions), other_rater_dice=other_rater_dice,
                      other_rater_protocol=other_rater_protocol)


def rater_dice_columns(test_set: TestSet) -> list[str]:
    """``dice_A1`` ... ``dice_AR`` for a multi-rater test set (the paper's rater names), else none."""
    if test_set.rater_masks is None:
        return []
    return [f"dice_A{rater + 1}" for rater in range(test_set.rater_masks.shape[1])]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_fingerprint(config: RunConfig, sources: Sequence[Path]) -> str:
    """Hash of everything that determines the run's results: the config (less paths and threads) and the
    contents of the input files."""
    settings = {key: value for key, value in config.to_mapping().items() if key not in _UNHASHED_KEYS}
    payload = {"format": CHECKPOINT_FORMAT, "config": settings, "inputs": [file_digest(path) for path in sources]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Progress:
    """What a checkpoint carries besides the model state: the finished epochs' rows and the last timing."""

    next_epoch: int = 0
    epoch_rows: list[dict[str, Any]] = field(default_factory=list)
    per_image_rows: list[dict[str, Any]] = field(default_factory=list)
    inference_ms_per_image: float | None = None


def save_checkpoint(path: Path, fingerprint: str, progress: Progress, networks: Sequence[nn.Module],
                    optimizer: torch.optim.Optimizer, method: Method) -> None:
    """Write the run state atomically to ``path``."""
    payload = {
        "fingerprint": fingerprint,
        "next_epoch": progress.next_epoch,
        "networks": [network.state_dict() for network in networks],
        "optimizer": optimizer.state_dict(),
        "method": method.state_dict(),
        "epoch_rows": progress.epoch_rows,
        "per_image_rows": progress.per_image_rows,
        "inference_ms_per_image": progress.inference_ms_per_image,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, fingerprint: str, networks: Sequence[nn.Module], optimizer: torch.optim.Optimizer,
                    method: Method, device: torch.device, log: Callable[[str], None]) -> Progress:
    """Restore the state saved at ``path`` if it exists and was written for ``fingerprint``; else a fresh start."""
    if not path.is_file():
        return Progress()
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # any unreadable checkpoint (truncated, foreign format) means starting fresh
        log(f"checkpoint {path} is unreadable ({type(error).__name__}); starting fresh")
        return Progress()
    if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint:
        log(f"checkpoint {path} was written for a different config or different input files; starting fresh")
        return Progress()
    for network, state in zip(networks, payload["networks"], strict=True):
        network.load_state_dict(state)
    optimizer.load_state_dict(payload["optimizer"])
    method.load_state_dict(payload["method"])
    log(f"resuming from checkpoint {path} at epoch {payload['next_epoch'] + 1}")
    return Progress(next_epoch=payload["next_epoch"], epoch_rows=payload["epoch_rows"],
                    per_image_rows=payload["per_image_rows"],
                    inference_ms_per_image=payload["inference_ms_per_image"])


def collapse_kind(predictions: np.ndarray) -> str | None:
    """"empty" when every image's prediction is all background, "full" when all foreground, else None."""
    flat = np.asarray(predictions, dtype=bool).reshape(len(predictions), -1)
    if not flat.any():
        return "empty"
    if flat.all():
        return "full"
    return None


def _epoch_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``epochs.csv``: epoch, loss, the method's logs (sorted), timings, the two Dice aggregates."""
    fixed_first, fixed_last = ["epoch", "loss"], ["train_seconds", "eval_seconds", "dice_batch_mean",
                                                  "dice_image_mean"]
    log_keys = sorted({key for row in rows for key in row} - set(fixed_first) - set(fixed_last))
    return pd.DataFrame(rows, columns=fixed_first + log_keys + fixed_last)


def _progress_line(row: dict[str, Any], epochs: int) -> str:
    line = f"epoch {row['epoch'] + 1}/{epochs} loss {row['loss']:.4f}"
    if row["dice_batch_mean"] is not None:
        line += f" dice {row['dice_batch_mean']:.4f}"
    if row.get("dice_periodic") is not None:
        line += f" test dice {row['dice_periodic']:.4f} (periodic, not scored)"
    line += f" train {row['train_seconds']:.1f}s"
    if row["eval_seconds"] is not None:
        line += f" eval {row['eval_seconds']:.1f}s"
    return line


def _summary(config: RunConfig, progress: Progress, tau: float, scaler: InputScaler, networks: Sequence[nn.Module],
             method: Method, device: torch.device, counts: dict[str, int], resumed_at: int | None) -> dict[str, Any]:
    rows = progress.epoch_rows
    evaluated = [row for row in rows if row["dice_batch_mean"] is not None]
    protocol = np.array([row["dice_batch_mean"] for row in evaluated])
    per_image_means = np.array([row["dice_image_mean"] for row in evaluated])
    return {
        "dice_mean": float(protocol.mean()),
        "dice_std": float(protocol.std()),
        "dice_image_mean": float(per_image_means.mean()),
        "dice_epochs": protocol.tolist(),
        "eval_epochs": [row["epoch"] for row in evaluated],
        "seed": config.seed,
        "tau": tau,
        "method": config.method,
        "method_options": config.method_options,
        "backbone": config.backbone,
        "config": config.to_mapping(),
        "input_scaling": scaler.describe(),
        "n_train": counts["n_train"],
        "n_test": counts["n_test"],
        "steps_per_epoch": counts["steps_per_epoch"],
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "provenance": provenance(),
        "device": device_name(device),
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "train_seconds_total": float(sum(row["train_seconds"] for row in rows)),
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None,
        "inference_ms_per_image": progress.inference_ms_per_image,
        "num_parameters": count_parameters([*networks, method]),
        "num_networks": len(networks),
        "inference": getattr(method, "inference", "single network" if len(networks) == 1 else "fused"),
        "execution": f"{config.memory_format}, {config.precision}",
        "resumed_at_epoch": resumed_at,
    }


def train(config: RunConfig, out_dir: Path, checkpoint_dir: Path, log: Callable[[str], None] = print,
          threads: int | None = None, keep_checkpoint: bool = False) -> dict[str, Any]:
    """Train ``config``'s method, write ``epochs.csv``, ``per_image.csv``, ``predictions.npz`` and ``summary.json``
    to ``out_dir``.

    ``checkpoint_dir/checkpoint.pt`` is written after every epoch and resumed from when it matches the run; it is
    removed once the outputs are written unless ``keep_checkpoint`` (then it holds the final networks, and a rerun
    only rewrites the outputs). ``threads`` (default: ``config.threads``, else torch's default) sets torch's CPU
    threads. Freed host memory stays in the process's heap (:func:`training.host_memory.retain_freed_memory`).
    Returns the summary.
    """
    device = select_device(config.device)
    retain_freed_memory()
    with torch_settings(device, threads if threads is not None else config.threads, config.deterministic):
        return _train(config, Path(out_dir), Path(checkpoint_dir), log, device, keep_checkpoint)


def _train(config: RunConfig, out_dir: Path, checkpoint_dir: Path, log: Callable[[str], None],
           device: torch.device, keep_checkpoint: bool) -> dict[str, Any]:
    data = load_run_data(config, log)
    check_input_size(config.backbone, tuple(data.train.fields["images"].shape[2:]))
    method = build_method(config.method, **config.method_options).to(device)
    execution = Execution.of(config, device)
    dims = data.train.fields["images"].dim() - 2
    networks = [execution.prepare(network, dims)
                for network in build_networks(method, config.backbone, data.channels, config.seed)]
    if config.compile:
        for network in networks:
            network.compile()
    optimizer = method.configure_optimizer(networks, optimizer_settings(config))
    fingerprint = run_fingerprint(config, data.sources)
    checkpoint_path = checkpoint_dir / CHECKPOINT_NAME
    train_set, test_set = data.train.to(device), data.test.to(device)
    method.on_train_start(training_set_view(train_set), device)
    progress = load_checkpoint(checkpoint_path, fingerprint, networks, optimizer, method, device, log)
    resumed_at = progress.next_epoch if progress.next_epoch > 0 else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    log(f"{config.method} on {config.backbone}: {len(train_set)} train / {len(test_set)} test images, "
        f"tau {data.tau:g}, device {device_name(device)}, {torch.get_num_threads()} threads")
    first_evaluated = config.epochs - config.eval_last_k
    final_predictions = None
    empty_score = EMPTY_MASK_SCORES[config.empty_mask_dice]
    rater_columns = rater_dice_columns(test_set)
    other_rule = next(rule for rule in EMPTY_MASK_SCORES if rule != config.empty_mask_dice)
    other_score = EMPTY_MASK_SCORES[other_rule] if rater_columns else None
    other_columns = [f"{column}_empty_{other_rule}" for column in rater_columns]
    for epoch in range(progress.next_epoch, config.epochs):
        row: dict[str, Any] = {"epoch": epoch}
        row.update(train_epoch(epoch, config, networks, method, optimizer, train_set, data.scaler, data.tau, device))
        row.update(eval_seconds=None, dice_batch_mean=None, dice_image_mean=None)
        if epoch >= first_evaluated:
            result = evaluate(networks, method, test_set, data.scaler, config.eval_batch_size, device, empty_score,
                              other_empty_score=other_score, execution=execution)
            row.update(eval_seconds=result.seconds, dice_batch_mean=result.dice_batch_mean,
                       dice_image_mean=result.dice_image_mean)
            row.update(dict(zip(rater_columns, map(float, result.rater_protocol), strict=False)))
            if other_score is not None:
                row.update(dict(zip(other_columns, map(float, result.other_rater_protocol), strict=True)))
            progress.per_image_rows.extend(
                {"epoch": epoch, "name": name, "dice": float(score),
                 **dict(zip(rater_columns, map(float, scores), strict=False))}
                for name, score, scores in zip(result.unit_names, result.dice, result.rater_dice, strict=True)
            )
            progress.inference_ms_per_image = 1000.0 * result.inference_seconds / len(test_set)
            final_predictions = result.predictions
        elif config.eval_every and (epoch + 1) % config.eval_every == 0:
            row["dice_periodic"] = evaluate(networks, method, test_set, data.scaler, config.eval_batch_size, device,
                                            empty_score, execution).dice_batch_mean
        progress.epoch_rows.append(row)
        progress.next_epoch = epoch + 1
        save_checkpoint(checkpoint_path, fingerprint, progress, networks, optimizer, method)
        log(_progress_line(row, config.epochs))

    counts = {"n_train": len(train_set), "n_test": len(test_set),
              "steps_per_epoch": len(train_set) // config.batch_size}
    summary = _summary(config, progress, data.tau, data.scaler, networks, method, device, counts, resumed_at)
    summary["evaluation_unit"] = "group" if test_set.groups is not None else "image"
    if rater_columns:
        evaluated = [row for row in progress.epoch_rows if row["dice_batch_mean"] is not None]
        summary["rater_dice"] = {column.removeprefix("dice_"): {
            "mean": float(np.mean([row[column] for row in evaluated])),
            "std": float(np.std([row[column] for row in evaluated]))} for column in rater_columns}
        other_means = np.mean([[row[column] for column in other_columns] for row in evaluated], axis=1)
        summary["other_empty_mask_rule"] = {
            "empty_mask_dice": other_rule, "dice_mean": float(np.mean(other_means)),
            "dice_std": float(np.std(other_means)),
            "rater_dice": {column.removeprefix("dice_"): {
                "mean": float(np.mean([row[other] for row in evaluated])),
                "std": float(np.std([row[other] for row in evaluated]))}
                for column, other in zip(rater_columns, other_columns, strict=True)}}
    write_csv(out_dir / "epochs.csv", _epoch_frame(progress.epoch_rows))
    write_csv(out_dir / "per_image.csv",
              pd.DataFrame(progress.per_image_rows, columns=["epoch", "name", "dice", *rater_columns]))
    if final_predictions is None:  # resumed after the last epoch: the checkpoint holds the final networks
        final_predictions = evaluate(networks, method, test_set, data.scaler, config.eval_batch_size,
                                     device, empty_score, execution=execution).predictions
    summary["collapse"] = collapse_kind(final_predictions)
    if summary["collapse"]:
        log(f"warning: collapsed run: the final test prediction is {summary['collapse']} for every image")
    write_npz(out_dir / PREDICTIONS_NAME, masks=final_predictions, names=np.array(test_set.names, dtype=str))
    write_json(out_dir / "summary.json", summary)
    if not keep_checkpoint:
        checkpoint_path.unlink(missing_ok=True)
    log(f"done: dice {summary['dice_mean']:.4f} +- {summary['dice_std']:.4f} over epochs "
        f"{summary['eval_epochs'][0] + 1}-{summary['eval_epochs'][-1] + 1}; outputs in {out_dir}")
    return summary

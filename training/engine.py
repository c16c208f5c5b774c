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
from methods.base import Method, StepContext
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
from training.networks import build_network, check_input_size
from training.run_config import RunConfig

CHECKPOINT_NAME = "checkpoint.pt"
#: The fused test-set prediction masks of the last epoch (``masks`` bool ``(N, ...)``, ``names``), in test order.
PREDICTIONS_NAME = "predictions.npz"
#: Bumped when the checkpoint layout or the training stream changes, so old checkpoints are not resumed.
CHECKPOINT_FORMAT = 1
#: Run config keys that do not change results: paths (the files' contents are hashed instead) and threads.
_UNHASHED_KEYS = ("prepared_dir", "noise_dir", "superpixels_path", "distance_path", "threads")
#: Index of the network that sees the colour-jittered view (network 2) for methods with ``uses_jittered_view``.
JITTERED_NETWORK = 1


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
def torch_settings(device: torch.device, threads: int | None) -> Iterator[None]:
    """Set torch's CPU threads and (on CPU) deterministic algorithms for the run; restore them afterwards."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)


def build_networks(method: Method, backbone: str, in_channels: int, seed: int) -> list[nn.Module]:
    """``method.num_networks`` networks, network ``i`` initialised under ``torch.manual_seed`` of (seed, i)."""
    networks = []
    for index in range(method.num_networks):
        torch.manual_seed(derive_seed(seed, "network", index))
        networks.append(build_network(backbone, in_channels))
    return networks


def count_parameters(modules: Sequence[nn.Module]) -> int:
    """Total number of parameters of ``modules``."""
    return sum(parameter.numel() for module in modules for parameter in module.parameters())


def build_optimizer(config: RunConfig, networks: Sequence[nn.Module], method: Method) -> torch.optim.SGD:
    """SGD over every network's parameters (one group) plus the method's own parameter groups."""
    groups: list[dict[str, Any]] = [{"params": [p for network in networks for p in network.parameters()]}]
    groups.extend(method.parameter_groups())
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def network_inputs(method: Method, images: torch.Tensor, jittered: torch.Tensor) -> list[torch.Tensor]:
    """The input of each network: network 2 gets ``jittered`` when the method uses the jittered view."""
    return [
        jittered if method.uses_jittered_view and index == JITTERED_NETWORK else images
        for index in range(method.num_networks)
    ]


def train_epoch(epoch: int, config: RunConfig, networks: Sequence[nn.Module], method: Method,
                optimizer: torch.optim.Optimizer, train_set: TrainingSet, scaler: InputScaler, tau: float,
                device: torch.device) -> dict[str, float]:
    """One epoch of SGD steps; returns the mean loss, the means of the method's logs and the seconds taken."""
    start = time.perf_counter()
    for network in networks:
        network.train()
    method.train()
    torch.manual_seed(derive_seed(config.seed, epoch, "torch"))
    data_generator = seeded_generator(config.seed, epoch, "data")
    ctx = StepContext(epoch=epoch, num_epochs=config.epochs, tau=tau, networks=networks,
                      generator=seeded_generator(config.seed, epoch, "method", device=device))
    with_jitter = method.uses_jittered_view and method.num_networks > JITTERED_NETWORK
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    log_sums: dict[str, float] = {}
    log_counts: dict[str, int] = {}
    batches = epoch_batches(len(train_set), config.batch_size, data_generator)
    for indices in batches:
        batch = augment_batch(train_set.take(indices), data_generator, scaler, config.jitter_strength, with_jitter,
                              config.second_view, tuple(config.second_view_noise))
        logits = [network(inputs) for network, inputs in
                  zip(networks, network_inputs(method, batch.images, batch.jittered), strict=True)]
        output = method.loss(logits, batch, ctx)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        loss_sum += output.loss.detach()
        for key, value in output.logs.items():
            log_sums[key] = log_sums.get(key, 0.0) + float(value)
            log_counts[key] = log_counts.get(key, 0) + 1
    _synchronize(device)
    row = {"loss": loss_sum.item() / len(batches)}
    row.update({key: log_sums[key] / log_counts[key] for key in sorted(log_sums)})
    row["train_seconds"] = time.perf_counter() - start
    return row


@torch.no_grad()
def evaluate(networks: Sequence[nn.Module], method: Method, test_set: TestSet, scaler: InputScaler,
             batch_size: int, device: torch.device, empty_score: float = 1.0,
             other_empty_score: float | None = None) -> Evaluation:
    """Score the test split with ``method.fuse`` of every network's logits (networks in eval mode).

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
        images = scaler(test_set.images[rows].float())
        _synchronize(device)
        inference_start = time.perf_counter()
        prediction = method.fuse([network(images) for network in networks])
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
        "resumed_at_epoch": resumed_at,
    }


def train(config: RunConfig, out_dir: Path, checkpoint_dir: Path, log: Callable[[str], None] = print,
          threads: int | None = None, keep_checkpoint: bool = False) -> dict[str, Any]:
    """Train ``config``'s method, write ``epochs.csv``, ``per_image.csv``, ``predictions.npz`` and ``summary.json``
    to ``out_dir``.

    ``checkpoint_dir/checkpoint.pt`` is written after every epoch and resumed from when it matches the run; it is
    removed once the outputs are written unless ``keep_checkpoint`` (then it holds the final networks, and a rerun
    only rewrites the outputs). ``threads`` (default: ``config.threads``, else torch's default) sets torch's CPU
    threads. Returns the summary.
    """
    device = select_device(config.device)
    with torch_settings(device, threads if threads is not None else config.threads):
        return _train(config, Path(out_dir), Path(checkpoint_dir), log, device, keep_checkpoint)


def _train(config: RunConfig, out_dir: Path, checkpoint_dir: Path, log: Callable[[str], None],
           device: torch.device, keep_checkpoint: bool) -> dict[str, Any]:
    data = load_run_data(config, log)
    check_input_size(config.backbone, tuple(data.train.fields["images"].shape[2:]))
    method = build_method(config.method, **config.method_options).to(device)
    networks = [network.to(device) for network in build_networks(method, config.backbone, data.channels, config.seed)]
    optimizer = build_optimizer(config, networks, method)
    fingerprint = run_fingerprint(config, data.sources)
    checkpoint_path = checkpoint_dir / CHECKPOINT_NAME
    progress = load_checkpoint(checkpoint_path, fingerprint, networks, optimizer, method, device, log)
    resumed_at = progress.next_epoch if progress.next_epoch > 0 else None
    train_set, test_set = data.train.to(device), data.test.to(device)
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
                              other_score)
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
                                     device, empty_score).predictions
    write_npz(out_dir / PREDICTIONS_NAME, masks=final_predictions, names=np.array(test_set.names, dtype=str))
    write_json(out_dir / "summary.json", summary)
    if not keep_checkpoint:
        checkpoint_path.unlink(missing_ok=True)
    log(f"done: dice {summary['dice_mean']:.4f} +- {summary['dice_std']:.4f} over epochs "
        f"{summary['eval_epochs'][0] + 1}-{summary['eval_epochs'][-1] + 1}; outputs in {out_dir}")
    return summary

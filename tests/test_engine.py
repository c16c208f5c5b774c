"""The training engine on a tiny generated set: outputs, learning, determinism, resume, method hooks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import loss_timing, training_throughput
from common.errors import InputError
from methods import registry
from methods.base import Batch, LossOutput, Method, StepContext
from training.data import load_run_data
from training.engine import CHECKPOINT_NAME, build_networks, evaluate, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

EPOCH_COLUMNS = ["epoch", "loss", "ce", "train_seconds", "eval_seconds", "dice_batch_mean", "dice_image_mean"]
SUMMARY_KEYS = {"dice_mean", "dice_std", "dice_image_mean", "seed", "tau", "method", "method_options", "backbone",
                "config", "versions", "device", "threads", "train_seconds_total", "peak_gpu_memory_gb",
                "inference_ms_per_image", "num_parameters"}


class ToyCrossEntropy(Method):
    """Plain per-pixel CE on the noisy labels of one network."""

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        loss = F.cross_entropy(logits[0], batch.labels)
        return LossOutput(loss=loss, logs={"ce": loss.item()})


class ToyTwoViews(Method):
    """Two networks; checks that network 2 was fed the jittered view and network 1 the plain one.

    Its loss draws from the global torch RNG (dropout) and from ``ctx.generator``, as real methods may.
    """

    num_networks = 2
    uses_jittered_view = True
    observations: ClassVar[list[tuple[bool, bool, bool]]] = []

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        with torch.no_grad():
            first_on_images = torch.equal(ctx.networks[0](batch.images), logits[0])
            second_on_jittered = torch.equal(ctx.networks[1](batch.jittered), logits[1])
        self.observations.append((first_on_images, second_on_jittered, not torch.equal(batch.images, batch.jittered)))
        loss = F.cross_entropy(F.dropout(logits[0], 0.2), batch.labels) + F.cross_entropy(logits[1], batch.labels)
        weight = 1.0 + torch.rand((), generator=ctx.generator, device=loss.device)
        return LossOutput(loss=weight * loss, logs={"weight": weight.item()})


class ToyLearnableTemperature(Method):
    """CE on logits divided by a learnable temperature, optimised in its own parameter group."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        return LossOutput(loss=F.cross_entropy(logits[0] / self.log_temperature.exp(), batch.labels))

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": [self.log_temperature], "lr": 0.05, "weight_decay": 0.0}]


@pytest.fixture(autouse=True)
def toy_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the toy methods for one test only, so the suite's registry stays as the project defines it."""
    monkeypatch.setattr(registry.METHODS, "_entries", dict(registry.METHODS._entries))
    registry.register_method("test_engine_ce")(ToyCrossEntropy)
    registry.register_method("test_engine_two_views")(ToyTwoViews)
    registry.register_method("test_engine_learnable")(ToyLearnableTemperature)


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    return write_synthetic_inputs(tmp_path / "inputs", n_train=16, n_test=8, size=32)


def _config(inputs: tuple[Path, Path], **overrides: Any) -> RunConfig:
    prepared, noise = inputs
    settings: dict[str, Any] = {"prepared_dir": prepared, "noise_dir": noise, "method": "test_engine_ce",
                                "epochs": 4, "batch_size": 4, "eval_last_k": 2, "eval_batch_size": 3, "threads": 1}
    settings.update(overrides)
    return RunConfig(**settings)


def _quiet(_: str) -> None:
    pass


def test_a_toy_method_trains_and_every_output_is_written(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    lines: list[str] = []
    summary = train(_config(inputs), tmp_path / "run", tmp_path / "checkpoints", log=lines.append)
    epochs = pd.read_csv(tmp_path / "run" / "epochs.csv")
    assert list(epochs.columns) == EPOCH_COLUMNS
    assert epochs["epoch"].tolist() == [0, 1, 2, 3]
    assert epochs["dice_batch_mean"].isna().tolist() == [True, True, False, False]
    assert (epochs["loss"] > 0).all() and (epochs["train_seconds"] > 0).all()
    per_image = pd.read_csv(tmp_path / "run" / "per_image.csv")
    assert list(per_image.columns) == ["epoch", "name", "dice"] and len(per_image) == 2 * 8
    # protocol value: the mean over test batches (3 + 3 + 2 images) of the per-batch mean Dice
    last = per_image[per_image["epoch"] == 3]["dice"].to_numpy()
    batch_mean = (last[:3].mean() + last[3:6].mean() + last[6:].mean()) / 3
    assert epochs["dice_batch_mean"].iloc[3] == pytest.approx(batch_mean, abs=1e-12)
    assert epochs["dice_image_mean"].iloc[3] == pytest.approx(last.mean(), abs=1e-12)
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(written) >= SUMMARY_KEYS and written == json.loads(json.dumps(summary))
    protocol = epochs["dice_batch_mean"].dropna().to_numpy()
    assert written["dice_mean"] == pytest.approx(protocol.mean())
    assert written["dice_std"] == pytest.approx(protocol.std())
    assert written["tau"] == pytest.approx(json.loads((inputs[1] / "summary.json").read_text())["noise_rate"])
    assert written["num_parameters"] == 1_082_050 and written["threads"] == 1
    assert written["peak_gpu_memory_gb"] is None and written["inference_ms_per_image"] > 0
    assert sum(line.startswith("epoch ") for line in lines) == 4 and "dice" in lines[-2]
    assert not (tmp_path / "checkpoints" / CHECKPOINT_NAME).exists()


def test_plain_cross_entropy_learns_a_clean_set(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(inputs, noise_dir=None, epochs=10, eval_last_k=1)
    data = load_run_data(config, log=_quiet)
    torch.manual_seed(0)
    untrained = build_networks(ToyCrossEntropy(), "unet_small", data.channels, seed=0)
    chance = evaluate(untrained, ToyCrossEntropy(), data.test, data.scaler, 8, torch.device("cpu"))
    summary = train(config, tmp_path / "run", tmp_path / "checkpoints", log=_quiet)  # 40 SGD steps
    assert chance.dice_image_mean < 0.7
    assert summary["dice_mean"] > 0.85


def test_same_seed_gives_identical_results_and_another_seed_does_not(inputs: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        summary = train(_config(inputs, seed=seed), tmp_path / name, tmp_path / f"ck_{name}", log=_quiet)
        runs.append((pd.read_csv(tmp_path / name / "epochs.csv")["loss"].tolist(), summary["dice_mean"]))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


def test_a_killed_run_resumes_to_the_uninterrupted_result(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(inputs, method="test_engine_two_views")
    reference = train(config, tmp_path / "full", tmp_path / "ck_full", log=_quiet)

    def kill_after_second_epoch(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", tmp_path / "ck", log=kill_after_second_epoch)
    assert (tmp_path / "ck" / CHECKPOINT_NAME).exists() and not (tmp_path / "resumed").exists()
    lines: list[str] = []
    resumed = train(config, tmp_path / "resumed", tmp_path / "ck", log=lines.append)
    assert any("resuming" in line and "epoch 3" in line for line in lines)
    assert sum(line.startswith("epoch ") for line in lines) == 2
    for key in ("dice_mean", "dice_std", "dice_image_mean", "dice_epochs"):
        assert resumed[key] == reference[key]
    assert resumed["resumed_at_epoch"] == 2 and reference["resumed_at_epoch"] is None
    for name in ("epochs.csv", "per_image.csv"):
        full = pd.read_csv(tmp_path / "full" / name).drop(columns=["train_seconds", "eval_seconds"], errors="ignore")
        again = pd.read_csv(tmp_path / "resumed" / name).drop(columns=["train_seconds", "eval_seconds"],
                                                              errors="ignore")
        pd.testing.assert_frame_equal(full, again, check_exact=True)


def test_a_kept_final_checkpoint_only_rewrites_the_outputs(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    first = train(_config(inputs), tmp_path / "run", tmp_path / "ck", log=_quiet, keep_checkpoint=True)
    assert (tmp_path / "ck" / CHECKPOINT_NAME).exists()
    (tmp_path / "run" / "summary.json").unlink()
    lines: list[str] = []
    again = train(_config(inputs), tmp_path / "run", tmp_path / "ck", log=lines.append)
    assert not any(line.startswith("epoch ") for line in lines)
    assert again["dice_epochs"] == first["dice_epochs"] and (tmp_path / "run" / "summary.json").exists()


def test_a_checkpoint_of_another_config_is_not_resumed(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    def kill_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(inputs), tmp_path / "run", tmp_path / "ck", log=kill_after_first_epoch)
    lines: list[str] = []
    train(_config(inputs, lr=0.01), tmp_path / "run", tmp_path / "ck", log=lines.append)
    assert any("different config" in line for line in lines)
    assert sum(line.startswith("epoch ") for line in lines) == 4


def test_network_two_gets_the_jittered_view(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    ToyTwoViews.observations.clear()
    summary = train(_config(inputs, method="test_engine_two_views", epochs=1, eval_last_k=1), tmp_path / "run",
                    tmp_path / "ck", log=_quiet)
    assert len(ToyTwoViews.observations) == 4
    assert all(first and second and differ for first, second, differ in ToyTwoViews.observations)
    assert summary["num_networks"] == 2 and summary["num_parameters"] == 2 * 1_082_050


def test_method_parameter_groups_are_optimised(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(inputs, method="test_engine_learnable", epochs=1, eval_last_k=1)

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", tmp_path / "ck", log=stop_after_first_epoch)
    state = torch.load(tmp_path / "ck" / CHECKPOINT_NAME, weights_only=True)
    assert state["method"]["log_temperature"].item() != 0.0
    assert state["optimizer"]["param_groups"][1]["lr"] == 0.05


def test_bad_inputs_are_input_errors(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown method 'nope'"):
        train(_config(inputs, method="nope"), tmp_path / "run", tmp_path / "ck", log=_quiet)
    with pytest.raises(InputError, match=r"data\.npz: file not found"):
        train(_config(inputs, prepared_dir=tmp_path / "missing"), tmp_path / "run", tmp_path / "ck", log=_quiet)


def test_execution_settings_are_checked_and_each_is_deterministic(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^run config key 'memory_format': 'nhwc' is not one of channels_last, "):
        _config(inputs, memory_format="nhwc")
    with pytest.raises(InputError, match=r"^run config key 'precision': 'fp16' is not one of fp32, bf16$"):
        _config(inputs, precision="fp16")
    with pytest.raises(InputError, match=r"^run config key 'compile': expected bool, got 'yes'$"):
        _config(inputs, compile="yes")
    losses = {}
    for name, settings in {"nchw": {"memory_format": "contiguous"}, "nhwc": {}, "bf16": {"precision": "bf16"},
                           "bf16_again": {"precision": "bf16"}}.items():
        train(_config(inputs, epochs=2, eval_last_k=1, **settings), tmp_path / name, tmp_path / f"ck_{name}",
              log=_quiet)
        losses[name] = pd.read_csv(tmp_path / name / "epochs.csv")["loss"].tolist()
    assert losses["bf16"] == losses["bf16_again"]
    assert losses["nchw"] != losses["bf16"]
    assert losses["nchw"] == pytest.approx(losses["nhwc"], rel=1e-3)


class ToyBackgroundOnly(ToyCrossEntropy):
    """Cross-entropy against all-background labels: the run collapses to empty predictions."""

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        return LossOutput(loss=F.cross_entropy(logits[0], torch.zeros_like(batch.labels)))


def test_periodic_evaluation_is_logged_and_changes_no_final_number(inputs: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    lines: list[str] = []
    plain = train(_config(inputs, epochs=5), tmp_path / "plain", tmp_path / "c1", log=_quiet)
    periodic = train(_config(inputs, epochs=5, eval_every=1), tmp_path / "periodic", tmp_path / "c2",
                     log=lines.append)
    assert [line.startswith(f"epoch {epoch}/5") and "(periodic, not scored)" in line
            for epoch, line in zip(range(1, 4), [line for line in lines if line.startswith("epoch ")], strict=False)
            ] == [True, True, True]
    for key in ("dice_mean", "dice_std", "dice_epochs"):
        assert periodic[key] == plain[key], key
    epochs = pd.read_csv(tmp_path / "periodic" / "epochs.csv")
    assert epochs["dice_periodic"].notna().tolist() == [True, True, True, False, False]
    assert plain["collapse"] is None


def test_a_collapsed_run_says_so_in_its_log_and_summary(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    registry.register_method("test_engine_background")(ToyBackgroundOnly)
    lines: list[str] = []
    summary = train(_config(inputs, method="test_engine_background", epochs=3, eval_last_k=1), tmp_path / "run",
                    tmp_path / "c", log=lines.append)
    assert summary["collapse"] == "empty"
    assert "warning: collapsed run: the final test prediction is empty for every image" in lines
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["collapse"] == "empty"


def test_throughput_benchmark_prints_a_rate_and_ratio_per_cell(capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks/training_throughput.py`` at a tiny size: one row per method, epoch and setting, with the
    engine's and the bare loop's images per second and their ratio."""
    assert training_throughput.main(["--size", "32", "--batch-size", "2", "--steps", "1", "--warmup", "0",
                                     "--epochs", "0", "--methods", "ce", "jocor",
                                     "--settings", "contiguous/fp32", "channels_last/bf16"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("cpu ")]
    assert [(row[1], row[3]) for row in rows] == [("ce", "contiguous/fp32"), ("ce", "channels_last/bf16"),
                                                  ("jocor", "contiguous/fp32"), ("jocor", "channels_last/bf16")]
    for row in rows:
        engine, bare, ratio = map(float, row[4:7])
        assert engine > 0 and bare > 0
        rounding = 0.005 + 0.05 * (1 + engine / bare) / bare   # of the ratio, and of the rates printed to 0.1
        assert ratio == pytest.approx(engine / bare, abs=rounding)  # one round: its ratio is the fastest rounds'


def test_throughput_benchmark_times_the_backbone_it_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    """``--backbone`` reaches the networks: the header names it, and an unknown name is reported as not run."""
    common = ["--size", "32", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--epochs", "0",
              "--methods", "ce", "--settings", "contiguous/fp32"]
    assert training_throughput.main([*common, "--backbone", "unet_narrow"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert json.loads(header)["backbone"] == "unet_narrow"
    assert [line.split()[1] for line in lines if line.startswith("cpu ")] == ["ce"]
    assert training_throughput.main([*common, "--backbone", "unet9000"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("cpu    ce           not run:") and "unknown backbone 'unet9000'" in last


def test_paired_ratio_cancels_load_over_a_round_and_ignores_bursts() -> None:
    """Engine steps that truly take 1.05x the bare step: load over rounds 1-6 slows both steps of each round;
    bursts slow only the engine steps of the unloaded rounds 0 and 7. The fastest rounds' ratio reads an unloaded
    bare step against loaded engine steps; the median of the rounds' ratios reads the true 1 / 1.05."""
    load = [1.0, 1.5, 1.6, 1.5, 1.7, 1.6, 1.5, 1.0]
    bare = [0.40 * factor for factor in load]
    engine = [0.42 * factor for factor in load]
    engine[0], engine[7] = 0.80, 0.42 * 3
    assert min(bare) / min(engine) < 0.7
    assert training_throughput.paired_ratio(engine, bare) == pytest.approx(1 / 1.05)


def test_loss_timing_benchmark_prints_each_methods_time(capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks/loss_timing.py`` at a tiny size: the argmax line, the jitter line and one line per method."""
    assert loss_timing.main(["--size", "32", "--batch-size", "2", "--calls", "1", "--methods", "ce", "idmps"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("argmax(dim=1), contiguous: ") and "class_argmax: " in lines[1]
    assert lines[2].startswith("colour jitter: ") and "hue shift alone: " in lines[2]
    assert [line.split(":")[0] for line in lines[3:]] == ["ce", "idmps"]

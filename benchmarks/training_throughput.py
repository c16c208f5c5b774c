"""Training throughput: every registered method's engine step against the bare loop on the same networks.

Builds a small synthetic prepared set (bright squares on a dark noisy background, noisy masks shifted by a
pixel, distance maps, block superpixels) in a temporary folder, in the documented file formats, then times
``--steps`` rounds per method (after ``--warmup`` untimed ones) on CPU and, when available, on CUDA, for each
memory format / precision setting: the engine's step (sampling, augmentation,
the method's hooks and loss) and the bare forward-CE-backward-SGD loop over the same networks and passes
(:data:`BARE_PASSES`, with dropout where the method's pass has it, :data:`BARE_DROPOUT_PASSES`; CDR's gradient
pruning, :data:`BARE_GRADIENT_WORK`). It prints each one's rate in its fastest round and the ratio engine / bare
as the median of the rounds' own ratios (:func:`paired_ratio`; 1.0: the engine adds nothing to the networks' own
work). Like a training run, the process keeps freed memory in its heap
(:func:`training.host_memory.retain_freed_memory`), so engine and bare loop allocate alike.

    .venv/bin/python benchmarks/training_throughput.py --size 128
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from common.errors import InputError
from training.data import load_run_data, seeded_generator
from training.host_memory import retain_freed_memory
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

#: Forward passes per network of a step, as input scales, that a method's bare loop does: its irreducible work.
#: GSD-Net's knowledge transfer (from ``kt_start_epoch``) runs both networks again on the mixed batch; RMD runs a
#: weak and a strong pass; ADELE forwards three input scales.
BARE_PASSES = {"rmd": (1.0, 1.0), "adele": (1.0, 0.7, 1.5)}


def _cdr_pruning(networks: list[torch.nn.Module], tau: float) -> None:
    from methods.cdr import prunable_parameters, prune_gradients

    prune_gradients(prunable_parameters(networks), tau)


#: Work between backward and the SGD step that is a method's own arithmetic, not the engine's: CDR's global top-k
#: gradient pruning over the network's weights (its threshold alone costs about a third of a 64^2 CE step).
BARE_GRADIENT_WORK: dict[str, Callable[[list[torch.nn.Module], float], None]] = {"cdr": _cdr_pruning}


#: Passes a method runs with its networks' dropout on: RMD's strong pass (``methods.rmd.strong_pass``).
BARE_DROPOUT_PASSES = {"rmd": (False, True)}


def bare_passes(method: Any, epoch: int) -> tuple[float, ...]:
    """The input scales of the bare loop matching ``method``'s work at ``epoch``."""
    name = method.registry_name
    if name == "gsdnet" and method.knowledge_transfer and epoch >= method.kt_start_epoch:
        return (1.0, 1.0)
    return BARE_PASSES.get(name, (1.0,))


def _scaled(images: torch.Tensor, scale: float) -> torch.Tensor:
    if scale == 1.0:
        return images
    size = [max(16, round(side * scale / 16) * 16) for side in images.shape[2:]]
    return torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)


def _interleaved_seconds(steps: dict[str, Callable[[], None]], rounds: int, warmup: int,
                         device: torch.device) -> dict[str, list[float]]:
    """Seconds of each call of each step over ``rounds`` rounds, the steps alternating round by round, after
    ``warmup`` untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_index in range(warmup + rounds):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_index >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(engine_seconds: Sequence[float], bare_seconds: Sequence[float]) -> float:
    """Engine rate / bare rate as the median over rounds of ``bare / engine`` seconds of the same round.

    On this shared machine the same fp32 step was timed at 285 to 759 ms from one round to the next. A round's two
    steps run back to back, so load lasting over a round slows both and cancels in its ratio, and the median
    discards the rounds a short burst hit in one step only. The ratio of the two fastest rounds (``timeit``'s
    minimum) does neither: one lucky bare round against engine rounds all under load read 0.82 for SCE, whose
    loss is CE's."""
    return statistics.median(bare / engine for engine, bare in zip(engine_seconds, bare_seconds, strict=True))


def measure_throughput(method_name: str, prepared: Path, noise: Path, device: str, batch_size: int, steps: int,
                       warmup: int, epoch: int = 0, num_epochs: int = 100, memory_format: str = "channels_last",
                       precision: str = "fp32", backbone: str = "unet_small") -> tuple[float, float, float]:
    """Images per second (fastest round) of the engine's step of ``method_name`` at ``epoch`` of a ``num_epochs``
    run (batch sampling, the method's labels, augmentation, :func:`training.engine.training_step`) and of the bare
    loop on the same networks (a fixed batch, per network and pass forward, CE, backward, SGD step), in one
    process, and their :func:`paired_ratio`."""
    from methods.base import StepContext
    from methods.registry import build_method
    from methods.rmd import strong_pass
    from training.augment import augment_batch
    from training.engine import (
        Execution,
        build_networks,
        optimizer_settings,
        select_device,
        training_set_view,
        training_step,
    )

    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method=method_name, batch_size=batch_size,
                       device=device, epochs=num_epochs, eval_last_k=1, memory_format=memory_format,
                       precision=precision, backbone=backbone)
    torch_device = select_device(device)
    execution = Execution.of(config, torch_device)
    data = load_run_data(config, log=lambda _: None)
    method = build_method(method_name).to(torch_device)
    dims = data.train.fields["images"].dim() - 2
    networks = [execution.prepare(net, dims) for net in build_networks(method, config.backbone, data.channels, 0)]
    optimizer = method.configure_optimizer(networks, optimizer_settings(config))
    train_set = data.train.to(torch_device)
    method.on_train_start(training_set_view(train_set), torch_device)
    generator = seeded_generator(0, "benchmark")
    ctx = StepContext(epoch=epoch, num_epochs=num_epochs, tau=data.tau, networks=networks,
                      generator=seeded_generator(0, "method", device=torch_device))
    with_jitter = method.uses_jittered_view and method.num_networks > 1

    def engine_step() -> None:
        indices = torch.randperm(len(train_set), generator=generator)[:batch_size].to(torch_device)
        fields = train_set.take(indices)
        fields["labels"] = method.training_labels(indices, fields["labels"])
        batch = augment_batch(fields, generator, data.scaler, config.jitter_strength, with_jitter)
        batch.indices = indices
        batch.images, batch.jittered = execution.layout(batch.images), execution.layout(batch.jittered)
        training_step(method, networks, optimizer, batch, ctx, execution)

    bare_networks = [execution.prepare(net, dims) for net in build_networks(method, config.backbone,
                                                                            data.channels, 1)]
    bare_optimizer = torch.optim.SGD([p for net in bare_networks for p in net.parameters()], lr=config.lr,
                                     momentum=config.momentum, weight_decay=config.weight_decay)
    fixed = train_set.take(torch.arange(batch_size, device=torch_device))
    images = execution.layout(data.scaler(fixed["images"].float()))
    labels = fixed["labels"].long()
    passes = bare_passes(method, epoch)
    gradient_work = BARE_GRADIENT_WORK.get(method.registry_name)

    dropout_passes = BARE_DROPOUT_PASSES.get(method.registry_name, (False,) * len(passes))

    def bare_logits(net: torch.nn.Module, scale: float, dropout: bool) -> torch.Tensor:
        with strong_pass([net]) if dropout else contextlib.nullcontext():
            logits = net(_scaled(images, scale))
        if scale == 1.0:
            return logits
        return torch.nn.functional.interpolate(logits, size=labels.shape[1:], mode="bilinear")

    def bare_step() -> None:
        with execution.autocast():
            loss = sum(torch.nn.functional.cross_entropy(bare_logits(net, scale, dropout), labels)
                       for net in bare_networks for scale, dropout in zip(passes, dropout_passes, strict=True))
        bare_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if gradient_work is not None:
            gradient_work(bare_networks, data.tau)
        bare_optimizer.step()

    for network in [*networks, *bare_networks]:
        network.train()
    seconds = _interleaved_seconds({"engine": engine_step, "bare": bare_step}, steps, warmup, torch_device)
    return (batch_size / min(seconds["engine"]), batch_size / min(seconds["bare"]),
            paired_ratio(seconds["engine"], seconds["bare"]))


def main(argv: list[str] | None = None) -> int:
    """Print, per method, device, epoch and execution setting: engine and bare-loop images/second and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (multiple of 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8,
                        help="timed rounds (one engine and one bare step each) per method and setting")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 50],
                        help="epochs (of a 100-epoch run) to time the step at")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--backbone", default="unet_small", help="a registered 2D backbone (training.networks)")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of registered methods")
    parser.add_argument("--settings", nargs="*", default=["channels_last/fp32", "contiguous/fp32",
                                                          "channels_last/bf16"],
                        help="memory_format/precision pairs to time")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    retained = retain_freed_memory()

    import methods

    names = args.methods or methods.available_methods()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "size": args.size,
                      "backbone": args.backbone, "batch_size": args.batch_size, "steps": args.steps,
                      "freed_memory_retained": retained,
                      "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}))
    print(f"{'device':6s} {'method':12s} {'epoch':>5s} {'setting':20s} {'engine':>8s} {'bare':>8s} {'ratio':>6s}"
          "  (images/s of the fastest round; ratio: median of the rounds' ratios)")
    with tempfile.TemporaryDirectory() as tmp:
        prepared, noise = write_synthetic_inputs(Path(tmp), n_train=max(2 * args.batch_size, 16), n_test=2,
                                                 size=args.size)
        for device in devices:
            for name in names:
                try:
                    for epoch in args.epochs:
                        for setting in args.settings:
                            memory_format, precision = setting.split("/")
                            engine, bare, ratio = measure_throughput(name, prepared, noise, device, args.batch_size,
                                                              args.steps, args.warmup, epoch=epoch,
                                                              memory_format=memory_format, precision=precision,
                                                              backbone=args.backbone)
                            print(f"{device:6s} {name:12s} {epoch:5d} {setting:20s} {engine:8.1f} {bare:8.1f} "
                                  f"{ratio:6.2f}", flush=True)
                except InputError as error:  # e.g. a method that needs a checkpoint: reported once, not fatal
                    print(f"{device:6s} {name:12s} not run: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

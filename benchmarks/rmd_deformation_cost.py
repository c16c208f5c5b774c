"""RMD's step cost against CE's, and the share of it spent in the on-device elastic deformation (CPU, 1 thread).

The paper's Table 10 gives RMD 19.6x CE's training time, mostly the authors' per-sample CPU spline deformation;
the suite deforms with ``grid_sample``. Per working size (64², 128², batch 16, the same batch and networks' seed
for every variant), the median seconds per :func:`training.engine.training_step` at epoch 10 (deformation and the
full distillation share on) of CE, of RMD, and of RMD without the deformation and noise (``deform_start_epoch``
beyond the run), and of the deformation alone (``RMDMethod.strong_view`` on the batch and two weak logit maps,
forward and backward); its share of RMD's step is the last over RMD's (the difference of the two RMD variants
says the same, but with the machine's noise of two whole steps). One run prints the ratios; it is a
measurement, not a timed test:

    python benchmarks/rmd_deformation_cost.py [--sizes 64 128] [--steps 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from methods.base import Batch, StepContext
from methods.registry import build_method
from training.engine import build_networks, optimizer_settings, training_step
from training.run_config import RunConfig

EPOCH = 10
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ce": ("ce", {}),
    "rmd": ("rmd", {}),
    "rmd_no_deformation": ("rmd", {"deform_start_epoch": 10**6}),
}


def step_seconds(name: str, options: dict[str, Any], batch: Batch, steps: int) -> float:
    """Median seconds of one training step of method ``name`` at epoch ``EPOCH`` on ``batch`` (one warm-up)."""
    method = build_method(name, **options)
    networks = build_networks(method, "unet_small", batch.images.shape[1], seed=0)
    config = RunConfig(prepared_dir=Path("unused"), method=name, epochs=50, eval_last_k=1, device="cpu")
    optimizer = method.configure_optimizer(networks, optimizer_settings(config))
    ctx = StepContext(epoch=EPOCH, num_epochs=50, tau=0.3, networks=networks,
                      generator=torch.Generator().manual_seed(0))
    for network in networks:
        network.train()
    times = []
    for index in range(steps + 1):
        start = time.perf_counter()
        training_step(method, networks, optimizer, batch, ctx)
        if index > 0:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def deformation_seconds(batch: Batch, steps: int) -> float:
    """Median seconds of RMD's strong view at epoch ``EPOCH`` (flip, noise, deformation of the image and two
    weak logit maps) and its backward to the logits (one warm-up)."""
    method = build_method("rmd")
    ctx = StepContext(epoch=EPOCH, num_epochs=50, tau=0.3, networks=[], generator=torch.Generator().manual_seed(0))
    shape = (batch.images.shape[0], 2, *batch.images.shape[2:])
    times = []
    for index in range(steps + 1):
        weak1, weak2 = torch.randn(shape, requires_grad=True), torch.randn(shape, requires_grad=True)
        start = time.perf_counter()
        _, target1, target2 = method.strong_view(batch.images, weak1, weak2, ctx)
        (target1.sum() + target2.sum()).backward()
        if index > 0:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def synthetic_batch(size: int, batch_size: int) -> Batch:
    """A random ``(B, 3, size, size)`` batch with box labels."""
    generator = torch.Generator().manual_seed(size)
    images = torch.rand((batch_size, 3, size, size), generator=generator)
    labels = torch.zeros((batch_size, size, size), dtype=torch.long)
    labels[:, size // 4: size // 2, size // 3: 2 * size // 3] = 1
    zeros = torch.zeros((batch_size, size, size))
    return Batch(images=images, jittered=images, labels=labels, distance=zeros, superpixels=labels.clone())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"CPU, 1 thread, batch {args.batch_size}, epoch {EPOCH}; median seconds per step of {args.steps}")
    for size in args.sizes:
        batch = synthetic_batch(size, args.batch_size)
        seconds = {variant: step_seconds(name, options, batch, args.steps)
                   for variant, (name, options) in VARIANTS.items()}
        deformation = deformation_seconds(batch, args.steps)
        print(f"{size}x{size}: CE {seconds['ce']:.3f} s, RMD {seconds['rmd']:.3f} s "
              f"({seconds['rmd'] / seconds['ce']:.2f}x CE), RMD without deformation "
              f"{seconds['rmd_no_deformation']:.3f} s ({seconds['rmd_no_deformation'] / seconds['ce']:.2f}x CE); "
              f"deformation alone {deformation:.3f} s, {100 * deformation / seconds['rmd']:.1f}% of RMD's step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

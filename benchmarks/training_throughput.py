"""Training throughput (images/second) of every registered method through the real engine step.

Builds a small synthetic prepared set (bright squares on a dark noisy background, noisy masks shifted by a
pixel, distance maps, block superpixels) in a temporary folder, in the documented file formats, then times
``--steps`` SGD steps per method (after ``--warmup`` untimed steps) on CPU and, when available, on CUDA.

    .venv/bin/python benchmarks/training_throughput.py --size 64 --batch-size 16 --steps 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from common.atomic import write_json, write_npz, write_text
from training.data import load_run_data, seeded_generator
from training.run_config import RunConfig

#: Eq. 8's cap on the distance map.
DISTANCE_CAP = 10


def _capped_distance(mask: np.ndarray) -> np.ndarray:
    """Eq. 8 for synthetic inputs: ``floor(min(EDT(y), 10) + min(EDT(1 - y), 10))`` as uint8."""
    inside = np.minimum(distance_transform_edt(mask), DISTANCE_CAP)
    outside = np.minimum(distance_transform_edt(1 - mask), DISTANCE_CAP)
    return np.floor(inside + outside).astype(np.uint8)


def write_synthetic_inputs(root: Path, n_train: int = 16, n_test: int = 8, size: int = 32, channels: int = 3,
                           seed: int = 0) -> tuple[Path, Path]:
    """Write a prepared set (``root/prepared``) and one noise setting (``root/noise``); returns both folders.

    Every image holds one bright square (side size/4 to size/2) on a dark noisy background; the noisy training
    masks are the clean ones shifted right by one pixel; superpixels are 4x4 blocks.
    """
    rng = np.random.default_rng(seed)
    total = n_train + n_test
    images = np.empty((total, size, size, channels), dtype=np.uint8)
    masks = np.zeros((total, size, size), dtype=np.uint8)
    for index in range(total):
        side = int(rng.integers(size // 4, size // 2 + 1))
        top, left = rng.integers(1, size - side, 2)
        masks[index, top:top + side, left:left + side] = 1
        colour = rng.uniform(160, 230, channels)
        background = rng.uniform(20, 70, channels)
        pixels = np.where(masks[index][..., None] == 1, colour, background) + rng.normal(0, 10, (size, size, channels))
        images[index] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    names = np.array([f"case{index:03d}" for index in range(total)])
    prepared = root / "prepared"
    noise = root / "noise"
    write_npz(prepared / "data.npz", images=images, masks=masks, names=names)
    split = ["train"] * n_train + ["test"] * n_test
    rows = "".join(f"{name},{part}\n" for name, part in zip(names, split, strict=True))
    write_text(prepared / "split.csv", "name,split\n" + rows)
    blocks = (np.arange(size)[:, None] // 4) * ((size + 3) // 4) + np.arange(size)[None, :] // 4
    write_npz(prepared / "superpixels.npz", superpixels=np.repeat(blocks[None].astype(np.int32), n_train, axis=0),
              names=names[:n_train])
    noisy = np.roll(masks[:n_train], 1, axis=2)
    write_npz(noise / "noisy_masks.npz", masks=noisy, names=names[:n_train])
    write_npz(noise / "distance_maps.npz", distance=np.stack([_capped_distance(mask) for mask in noisy]))
    write_json(noise / "summary.json", {"noise_rate": float(np.mean(noisy != masks[:n_train])), "n": n_train})
    return prepared, noise


def measure_throughput(method_name: str, prepared: Path, noise: Path, device: str, batch_size: int, steps: int,
                       warmup: int, epoch: int = 0, num_epochs: int = 100) -> float:
    """Images per second of ``steps`` timed training steps of ``method_name`` (the engine's step) at ``epoch``
    of a ``num_epochs`` run (methods such as GSD-Net add losses from a later epoch on)."""
    from methods.base import StepContext
    from methods.registry import build_method
    from training.augment import augment_batch
    from training.engine import build_networks, optimizer_settings, select_device, training_set_view, training_step

    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method=method_name, batch_size=batch_size,
                       device=device, epochs=1, eval_last_k=1)
    torch_device = select_device(device)
    data = load_run_data(config, log=lambda _: None)
    method = build_method(method_name).to(torch_device)
    networks = [net.to(torch_device) for net in build_networks(method, config.backbone, data.channels, config.seed)]
    optimizer = method.configure_optimizer(networks, optimizer_settings(config))
    train_set = data.train.to(torch_device)
    method.on_train_start(training_set_view(train_set), torch_device)
    generator = seeded_generator(0, "benchmark")
    ctx = StepContext(epoch=epoch, num_epochs=num_epochs, tau=data.tau, networks=networks,
                      generator=seeded_generator(0, "method", device=torch_device))
    with_jitter = method.uses_jittered_view and method.num_networks > 1

    def step() -> None:
        indices = torch.randperm(len(train_set), generator=generator)[:batch_size]
        batch = augment_batch(train_set.take(indices), generator, data.scaler, config.jitter_strength, with_jitter)
        batch.indices = indices.to(torch_device)
        training_step(method, networks, optimizer, batch, ctx)

    for network in networks:
        network.train()
    for _ in range(warmup):
        step()
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Print images/second per registered method and device."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (multiple of 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per method and device")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 50],
                        help="epochs (of a 100-epoch run) to time the step at")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of registered methods")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    import methods

    names = args.methods or methods.available_methods()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "size": args.size,
                      "batch_size": args.batch_size, "steps": args.steps,
                      "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}))
    with tempfile.TemporaryDirectory() as tmp:
        prepared, noise = write_synthetic_inputs(Path(tmp), n_train=max(2 * args.batch_size, 16), n_test=2,
                                                 size=args.size)
        for device in devices:
            for name in names:
                for epoch in args.epochs:
                    try:
                        rate = measure_throughput(name, prepared, noise, device, args.batch_size, args.steps,
                                                  args.warmup, epoch=epoch)
                    except Exception as error:  # a method that fails to build or step is reported, not fatal
                        print(f"{device:4s} {name:12s} skipped: {type(error).__name__}: {error}")
                        break
                    print(f"{device:4s} {name:12s} epoch {epoch:3d} {rate:8.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

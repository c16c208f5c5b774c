"""Milliseconds of a method's loss and its backward alone, on random logits (no networks), of torch's
``argmax`` over the class axis against :func:`methods.base.class_argmax`, and of the colour jitter of network 2's
view (:func:`training.augment.color_jitter`, at the engine's default strength) and its hue shift alone.

A batch of ``--batch-size`` random noisy masks at ``--size``² with their capped distance maps and 8x8 block
superpixels; random two-class logits per network in channels-last (``--contiguous`` for NCHW). Each method's
``loss`` plus ``backward`` is called ``--calls`` times after 3 untimed calls; the mean is printed.

Run: ``.venv/bin/python benchmarks/loss_timing.py [--methods idmps spguide gsdnet] [--size 128] [--epoch 0]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from methods.base import Batch, Method, StepContext, class_argmax
from methods.registry import build_method
from priors.distance import capped_distance_map
from training.augment import _hue, color_jitter, draw_jitter
from training.run_config import RunConfig


def _loss_ms(method: Method, logits: list[torch.Tensor], batch: Batch, ctx: StepContext, calls: int) -> float:
    """Mean milliseconds of ``method``'s loss on ``batch`` plus its backward."""
    inputs = logits[:method.num_networks]
    return _mean_ms(lambda: method.loss(inputs, batch, ctx).loss.backward(), calls)


def _mean_ms(call: Callable[[], object], calls: int) -> float:
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1000


def main(argv: list[str] | None = None) -> int:
    """Print the argmax timing, then each method's loss + backward time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["idmps", "spguide", "gsdnet"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epoch", type=int, default=0, help="epoch of a 100-epoch run")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--contiguous", action="store_true", help="NCHW logits instead of channels-last")
    args = parser.parse_args(argv)
    import methods

    methods.available_methods()
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, args.size, args.size)
    labels = (torch.rand(shape, generator=generator) > 0.6).long()
    distance = torch.from_numpy(np.stack([capped_distance_map(mask.numpy().astype(bool)) for mask in labels]))
    side = torch.arange(args.size) // 8
    superpixels = (side.view(-1, 1) * ((args.size + 7) // 8) + side.view(1, -1)).expand(shape).contiguous()
    images = torch.rand((args.batch_size, 3, args.size, args.size), generator=generator)
    batch = Batch(images=images, jittered=images, labels=labels, distance=distance, superpixels=superpixels)
    layout = torch.contiguous_format if args.contiguous else torch.channels_last
    logits = [torch.randn((args.batch_size, 2, args.size, args.size), generator=generator)
              .contiguous(memory_format=layout).requires_grad_() for _ in range(2)]
    print(f"batch {args.batch_size} x 2 x {args.size}², {'NCHW' if args.contiguous else 'channels-last'} logits, "
          f"mean of {args.calls} calls")
    contiguous_logits = logits[0].detach().contiguous()
    print(f"argmax(dim=1), contiguous: {_mean_ms(lambda: contiguous_logits.argmax(dim=1), args.calls):.2f} ms; "
          f"class_argmax: {_mean_ms(lambda: class_argmax(contiguous_logits), args.calls):.2f} ms")
    pixels = images * 255.0
    jitter = draw_jitter(args.batch_size, torch.Generator().manual_seed(0), RunConfig.jitter_strength)
    hue_shift = torch.full((args.batch_size,), 0.05)
    print(f"colour jitter: {_mean_ms(lambda: color_jitter(pixels, jitter), args.calls):.1f} ms; "
          f"hue shift alone: {_mean_ms(lambda: _hue(images, hue_shift), args.calls):.1f} ms")
    for name in args.methods:
        method = build_method(name)
        method.on_epoch_start(None)
        ctx = StepContext(epoch=args.epoch, num_epochs=100, tau=0.2, networks=[],
                          generator=torch.Generator().manual_seed(0))
        print(f"{name}: loss + backward {_loss_ms(method, logits, batch, ctx, args.calls):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The engine's ``deterministic`` and ``compile`` options on one device, measured (issue 15, item 3).

On a synthetic prepared set (``training.synthetic_inputs.write_synthetic_inputs``), per method, trains the
same seeded run four times: plain, ``deterministic: true`` twice, and ``compile: true``. Prints each run's first
epoch's seconds (``compile``'s includes the compilation), the later epochs' mean seconds, its Dice, and whether the
two deterministic runs are exact reruns (the same per-epoch losses and the same final test predictions). On CPU
every run is deterministic, so the check holds there too; ``--no-compile`` leaves the compiled run out.

Run: ``.venv/bin/python benchmarks/cuda_options.py [--device cuda] [--size 256] [--epochs 4] [--methods ce gsdnet]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.engine import train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


def _run(config: RunConfig, root: Path, name: str) -> dict[str, Any]:
    """Train ``config`` under ``root/name``; its epoch seconds, Dice, losses and final predictions."""
    summary = train(config, root / name, root / f"{name}-checkpoint", log=lambda _: None)
    epochs = pd.read_csv(root / name / "epochs.csv")
    with np.load(root / name / "predictions.npz") as predictions:
        masks = predictions["masks"].copy()
    seconds = epochs["train_seconds"].to_numpy()
    return {"first": float(seconds[0]), "later": float(seconds[1:].mean()) if len(seconds) > 1 else float("nan"),
            "dice": summary["dice_mean"], "losses": epochs["loss"].to_numpy(), "masks": masks}


def main(argv: list[str] | None = None) -> int:
    """Print, per method and run, the epoch seconds and Dice, then whether the deterministic reruns agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (multiple of 32)")
    parser.add_argument("--n-train", type=int, default=64, help="synthetic training images")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["ce", "gsdnet"])
    parser.add_argument("--no-compile", action="store_true", help="leave the compile: true run out")
    args = parser.parse_args(argv)
    runs = [("plain", {}), ("deterministic", {"deterministic": True}), ("deterministic again", {"deterministic": True})]
    if not args.no_compile:
        runs.append(("compile", {"compile": True}))
    print(f"device {args.device}, size {args.size}, {args.n_train} training images, batch {args.batch_size}, "
          f"{args.epochs} epochs")
    print(f"{'method':8s} {'run':20s} {'epoch 1 s':>10s} {'later s':>8s} {'dice':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepared, noise = write_synthetic_inputs(root / "inputs", n_train=args.n_train, n_test=8, size=args.size)
        for method in args.methods:
            results = {}
            for name, options in runs:
                config = RunConfig(prepared_dir=prepared, noise_dir=noise, method=method, device=args.device,
                                   epochs=args.epochs, batch_size=args.batch_size, eval_last_k=1, **options)
                results[name] = _run(config, root / method, name.replace(" ", "-"))
                row = results[name]
                print(f"{method:8s} {name:20s} {row['first']:10.2f} {row['later']:8.2f} {row['dice']:7.4f}",
                      flush=True)
            first, again = results["deterministic"], results["deterministic again"]
            exact = np.array_equal(first["losses"], again["losses"]) and np.array_equal(first["masks"], again["masks"])
            print(f"{method:8s} deterministic reruns identical (losses and predictions): {'yes' if exact else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

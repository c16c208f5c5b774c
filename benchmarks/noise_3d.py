"""Benchmark: the spec's 3D noise settings on one large ellipsoid; prints Dice vs clean beside Table 3's BraTS2020.

No BraTS data is needed: the mask is an ellipsoid (semi-axes 25 x 30 x 22 voxels in a 96 x 128 x 128 volume).

    python benchmarks/noise_3d.py [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evaluation.metrics import dice_per_image
from evaluation.paper import paper_value
from noise.markov import markov_chain_steps
from noise.settings import PAPER_SETTINGS, parse_setting


def ellipsoid() -> np.ndarray:
    """The test mask: bool (96, 128, 128)."""
    depth, height, width = np.mgrid[:96, :128, :128]
    return ((depth - 48) / 25) ** 2 + ((height - 64) / 30) ** 2 + ((width - 64) / 22) ** 2 <= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mask = ellipsoid()
    print("setting | Dice vs clean (%) | paper, Table 3 BraTS2020 | seconds")
    for name in ("S_R_3D", "S_E_3D", "S_DE_3D"):
        started = time.perf_counter()
        noisy = parse_setting(name, PAPER_SETTINGS[name]).apply(mask, np.random.default_rng(args.seed))
        seconds = time.perf_counter() - started
        dice = 100 * dice_per_image(noisy[None], mask[None])[0]
        paper = paper_value("3", name.removesuffix("_3D"), "BraTS2020")
        print(f"{name} | {dice:.1f} | {paper[0] if paper else '—'} | {seconds:.1f}")
    steps = PAPER_SETTINGS["S_R_3D"]
    chain = markov_chain_steps(mask, steps["steps"], steps["theta1"], steps["theta2"], np.random.default_rng(args.seed))
    chain_dice = 100 * dice_per_image(chain[None], mask[None])[0]
    print(f"S_R_3D boundary steps only (no flips, no smoothing): Dice {chain_dice:.1f}, "
          f"foreground {chain.sum() / mask.sum():.2f} of the clean volume")


if __name__ == "__main__":
    main()

"""Speed of the label-noise generator: S_R, S_E and S_DE for every Kvasir-SEG mask at its original size.

Each mask file is decoded once (binarised by ``adapters.masks.MASK_RULE``), then noised with the three settings;
files are spread over worker processes. Prints the cores, the wall-clock time of the whole run (decoding included),
the core-seconds per stage and the mean Dice of noisy vs clean per setting.

Run: ``.venv/bin/python benchmarks/noise_speed.py [--masks FOLDER] [--workers N] [--limit N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from common.errors import InputError
from evaluation.metrics import dice_per_image
from noise.seeding import sample_seed
from noise.settings import PAPER_SETTINGS, parse_setting
from noise.simulate import MASK_SUFFIXES, read_mask_file

SETTINGS = ("S_R", "S_E", "S_DE")
DEFAULT_MASKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg" / "masks"


def _noise_file(path: Path) -> dict[str, float]:
    """Decode one mask, noise it with each setting; seconds per stage and Dice per setting."""
    start = time.perf_counter()
    clean = read_mask_file(path)
    result = {"decode": time.perf_counter() - start}
    for name in SETTINGS:
        start = time.perf_counter()
        setting = parse_setting(name, PAPER_SETTINGS[name])
        noisy = setting.apply(clean, np.random.default_rng(sample_seed("kvasir-seg", name, path.stem, 0)))
        result[f"{name} seconds"] = time.perf_counter() - start
        result[f"{name} dice"] = float(dice_per_image(noisy[None], clean[None])[0])
    return result


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", type=Path, default=DEFAULT_MASKS, help=f"mask folder (default {DEFAULT_MASKS})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N masks (sorted by name)")
    arguments = parser.parse_args()
    files = sorted(path for path in arguments.masks.glob("*") if path.suffix.lower() in MASK_SUFFIXES)
    files = files[:arguments.limit] if arguments.limit else files
    if not files:
        print(f"error: {arguments.masks}: no mask files", file=sys.stderr)
        return 1
    print(f"cores: {os.cpu_count()}, workers: {arguments.workers}, masks: {len(files)} from {arguments.masks}")
    start = time.perf_counter()
    try:
        if arguments.workers > 1:
            with multiprocessing.get_context().Pool(arguments.workers) as pool:
                rows = pool.map(_noise_file, files, chunksize=4)
        else:
            rows = [_noise_file(path) for path in files]
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - start
    print(f"wall-clock, decoding + {' + '.join(SETTINGS)} at original size: {wall:.1f} s")
    print(f"decode: {sum(row['decode'] for row in rows):.1f} core-s")
    for name in SETTINGS:
        seconds = sum(row[f"{name} seconds"] for row in rows)
        dice = np.array([row[f"{name} dice"] for row in rows])
        print(f"{name}: {seconds:.1f} core-s, mean Dice {dice.mean():.4f} +- {dice.std():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

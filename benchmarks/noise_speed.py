"""Speed of the label-noise generator: S_R, S_E and S_DE for every Kvasir-SEG mask at its original size.

Each mask file is decoded once (binarised by ``adapters.masks.MASK_RULE``), then noised with the three settings;
files are spread over worker processes. Prints the cores, the wall-clock time of the whole run (decoding included),
the core-seconds per stage and the mean Dice of noisy vs clean per setting.

Side by side, each Markov setting (S_R, S_E) is also run on the same mask, in the same worker, by
:func:`reference_markov_noise`: a plain port of the authors' per-step loop (whole image every step), fed the same
random stream, so the two give the same mask; the run prints both times per setting, over the same masks, and
their ratio. The port needs seconds per mask (about 1.6 core-hours for all 1000 Kvasir-SEG masks), so by default
it runs on every 20th mask by name (50 of the 1000); ``--port-every 1`` runs it on all of them.

Run: ``.venv/bin/python benchmarks/noise_speed.py [--masks FOLDER] [--workers N] [--limit N] [--port-every K]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter

from common.errors import InputError
from evaluation.metrics import dice_per_image
from noise.seeding import sample_seed
from noise.settings import PAPER_SETTINGS, parse_setting
from noise.simulate import MASK_SUFFIXES, read_mask_file

SETTINGS = ("S_R", "S_E", "S_DE")
#: The settings also timed with the authors' per-step loop (:func:`reference_markov_noise`).
PORTED = ("S_R", "S_E")
DEFAULT_MASKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "kvasir-seg" / "masks"
#: The authors' loop runs on every K-th mask by name unless ``--port-every`` says otherwise.
DEFAULT_PORT_EVERY = 20


def reference_markov_noise(mask: np.ndarray, steps: int, theta1: float, theta2: float, theta3: float = 0.0, *,
                           rng: np.random.Generator) -> np.ndarray:
    """The authors' per-step Markov loop on a 2D mask, restated plainly (spec, "Label-noise simulation"); bool.

    Draw the T step kinds (``rng.random(T) < theta1`` expands); at every step find the candidates over the whole
    image with SciPy's EDT (background at distance 1 from the foreground to expand, foreground at distance 1 from
    the background to shrink: the 4-adjacent boundary), draw ``rng.random(n)`` for them in row-major order and
    flip those below theta2; optional random flips theta3; then blur the whole 0/255 mask (5x5, sigma 2,
    reflect-101) and keep what lies above half. A mask without foreground or background is left as it is, as in
    :func:`noise.markov.markov_boundary_noise` (the authors' EDT would invent a point there).
    """
    noisy = np.array(mask, dtype=bool)
    expand_steps = rng.random(steps) < theta1
    if noisy.any() and not noisy.all():
        for expand in expand_steps:
            distance = distance_transform_edt(~noisy if expand else noisy)
            candidates = np.flatnonzero(distance == 1)
            chosen = candidates[rng.random(candidates.size) < theta2]
            noisy.flat[chosen] = expand
    if theta3 > 0:
        noisy ^= rng.random(noisy.shape) < theta3
    return gaussian_filter(noisy.astype(np.float64) * 255.0, sigma=2.0, truncate=1.0, mode="mirror") > 127.5


def _noise_file(path: Path, port: bool) -> dict[str, float]:
    """Decode one mask, noise it with each setting (and, with ``port``, the Markov ones with the authors' loop
    too); seconds and Dice."""
    start = time.perf_counter()
    clean = read_mask_file(path)
    result = {"decode": time.perf_counter() - start}
    for name in SETTINGS:
        start = time.perf_counter()
        setting = parse_setting(name, PAPER_SETTINGS[name])
        noisy = setting.apply(clean, np.random.default_rng(sample_seed("kvasir-seg", name, path.stem, 0)))
        result[f"{name} seconds"] = time.perf_counter() - start
        result[f"{name} dice"] = float(dice_per_image(noisy[None], clean[None])[0])
        if port and name in PORTED:
            start = time.perf_counter()
            ported = reference_markov_noise(clean, setting.steps, setting.theta1, setting.theta2, setting.theta3,
                                            rng=np.random.default_rng(sample_seed("kvasir-seg", name, path.stem, 0)))
            result[f"{name} port seconds"] = time.perf_counter() - start
            result[f"{name} port equal"] = float(np.array_equal(ported, noisy))
    return result


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", type=Path, default=DEFAULT_MASKS, help=f"mask folder (default {DEFAULT_MASKS})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N masks (sorted by name)")
    parser.add_argument("--port-every", type=int, default=DEFAULT_PORT_EVERY,
                        help=f"run the authors' loop on every K-th mask by name (default {DEFAULT_PORT_EVERY}; "
                             "1: all of them)")
    arguments = parser.parse_args()
    files = sorted(path for path in arguments.masks.glob("*") if path.suffix.lower() in MASK_SUFFIXES)
    files = files[:arguments.limit] if arguments.limit else files
    if not files:
        print(f"error: {arguments.masks}: no mask files", file=sys.stderr)
        return 1
    if arguments.port_every < 1:
        print(f"error: --port-every must be at least 1, got {arguments.port_every}", file=sys.stderr)
        return 1
    jobs = [(path, index % arguments.port_every == 0) for index, path in enumerate(files)]
    print(f"cores: {os.cpu_count()}, workers: {arguments.workers}, masks: {len(files)} from {arguments.masks}")
    start = time.perf_counter()
    try:
        if arguments.workers > 1:
            with multiprocessing.get_context().Pool(arguments.workers) as pool:
                rows = pool.starmap(_noise_file, jobs, chunksize=4)
        else:
            rows = [_noise_file(path, port) for path, port in jobs]
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
    ported_rows = [row for row, (_, port) in zip(rows, jobs, strict=True) if port]
    print(f"authors' per-step loop on 1 mask in {arguments.port_every} by name: {len(ported_rows)} masks")
    for name in PORTED:
        ours = sum(row[f"{name} seconds"] for row in ported_rows)
        port = sum(row[f"{name} port seconds"] for row in ported_rows)
        equal = int(sum(row[f"{name} port equal"] for row in ported_rows))
        print(f"{name} on those {len(ported_rows)} masks: ours {ours:.1f} core-s, authors' per-step loop "
              f"{port:.1f} core-s ({port / len(ported_rows):.2f} s per mask), ratio {port / ours:.1f}x; "
              f"same mask for {equal}/{len(ported_rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

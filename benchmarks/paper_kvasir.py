"""Benchmark: the paper's Kvasir column under S_R on one GPU; prints Dice beside the paper's and minutes per run.

Runs the workflow with ``config/paper-kvasir.yaml`` (700 / 300, S_R made at the original size, 256x256, batch
16, 100 epochs, ``jobs_per_gpu: 3`` runs packed onto the one GPU) in its own working directory (default
``results/benchmarks/paper-kvasir``; ``--smoke``: ``...-smoke``). ``--methods`` picks the variants (default CE,
JoCoR, GSD-Net; ``all``: every variant of the config). ``--smoke`` is a CPU check of the same path: the first
32 images (adapter option ``max_images``, 24 train / 8 test), 64x64, 2 epochs, schedules shrunk to fit.

    python benchmarks/paper_kvasir.py --data ../shared/data/kvasir-seg [--methods CE JoCoR GSD-Net] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from workflow_run import ROOT, run_workflow

from evaluation.paper import paper_value

CONFIG = ROOT / "config" / "paper-kvasir.yaml"
DEFAULT_METHODS = ["CE", "JoCoR", "GSD-Net"]
#: Table 4's column of the paper this benchmark reproduces (evaluation/paper_numbers.csv).
PAPER_COLUMN = "Kvasir S_R"
#: --smoke: what replaces the paper's scale, so that the whole path runs on a CPU in a minute or two.
SMOKE = {
    "workers": 1,
    "datasets": {"kvasir": {"working_size": 64, "n_test": 8, "options": {"max_images": 32},
                            "method_options": {"gsdnet": {"ramp_epochs": 1, "kt_start_epoch": 1, "w_max": 2.5,
                                                          "w_decay_every": 1},
                                               "jocor": {"ramp_epochs": 1}, "coteaching": {"ramp_epochs": 1}}}},
    "training": {"epochs": 2, "eval_last_k": 2, "threads": 1},
}


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in, mappings key by key (as Snakemake merges config files)."""
    result = dict(base)
    for key, value in update.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result


def write_overlay(workdir: Path, methods: list[str], smoke: bool) -> tuple[Path, dict[str, Any]]:
    """The run's config overlay in ``workdir``: config/paper-kvasir.yaml with the methods (and --smoke's scale)."""
    config = yaml.safe_load(CONFIG.read_text())
    config["experiments"]["table4"]["variants"] = methods
    if smoke:
        config = merged(config, SMOKE)
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / "paper-kvasir-run.yaml"
    overlay.write_text(yaml.safe_dump(config, sort_keys=False))
    return overlay, config


def report(workdir: Path, config: dict[str, Any], wall_seconds: float) -> None:
    """Print each run's Dice beside the paper's, its training minutes and device, and the wall time."""
    paper_rows = config["experiments"]["table4"]["paper_rows"]
    dice_header = f"Dice (last {config['training']['eval_last_k']} epochs)"
    print(f"{'method':12s} {dice_header:>22s} {'paper':>14s} {'diff':>6s} {'train min':>9s}  device")
    for variant in config["experiments"]["table4"]["variants"]:
        summary_path = workdir / "results" / "runs" / "kvasir" / "S_R" / variant / "seed0" / "summary.json"
        summary = json.loads(summary_path.read_text())
        dice, spread = 100 * summary["dice_mean"], 100 * summary["dice_std"]
        paper = paper_value(4, paper_rows.get(variant, variant), PAPER_COLUMN)
        paper_text, diff = (f"{paper[0]:.2f} ± {paper[1] or 0:.2f}", f"{dice - paper[0]:+.2f}") if paper \
            else ("-", "")
        print(f"{variant:12s} {dice:14.2f} ± {spread:5.2f} {paper_text:>14s} {diff:>6s} "
              f"{summary['train_seconds_total'] / 60:9.2f}  {summary.get('device', '?')}")
    print(f"wall time, preparation and noise included: {wall_seconds / 60:.1f} min")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (full, or --smoke) and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kvasir-seg")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS,
                        help=f"variants of {CONFIG.name} to train (default: {' '.join(DEFAULT_METHODS)}; 'all')")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--smoke", action="store_true", help="CPU check: 32 images, 64x64, 2 epochs")
    args = parser.parse_args(argv)
    if not (args.data / "images").is_dir():
        print(f"error: {args.data}: no Kvasir-SEG release there (images/, masks/)", file=sys.stderr)
        return 1
    variants = yaml.safe_load(CONFIG.read_text())["variants"]
    methods = list(variants) if args.methods == ["all"] else args.methods
    unknown = [method for method in methods if method not in variants]
    if unknown:
        print(f"error: --methods: {', '.join(unknown)} not among the variants of {CONFIG} "
              f"({', '.join(variants)})", file=sys.stderr)
        return 1
    workdir = args.workdir or ROOT / "results" / "benchmarks" / ("paper-kvasir-smoke" if args.smoke else "paper-kvasir")
    overlay, config = write_overlay(workdir, methods, args.smoke)
    started = time.perf_counter()
    try:
        run_workflow(["results/tables/table4.md"], str(overlay.resolve()), "kvasir", args.data, workdir, args.cores)
    except subprocess.CalledProcessError as error:
        print(f"error: the workflow in {workdir} failed (exit {error.returncode}); its log is above", file=sys.stderr)
        return 1
    report(workdir, config, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

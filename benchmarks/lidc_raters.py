"""Benchmark: CE and GSD-Net on LIDC-IDRI trained on sampled raters at a reduced scale; Table 6's Sample rows.

Runs the workflow with ``config/lidc-reduced.yaml`` in its own working directory (default
``results/benchmarks/lidc-reduced``), so it never touches the default run's results, and prints each run's Dice
against every rater, Table 6 and the raters' agreement:

    python benchmarks/lidc_raters.py [--data ../shared/data/lidc-4rater] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from workflow_run import ROOT, run_workflow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lidc-4rater")
    parser.add_argument("--workdir", type=Path, default=ROOT / "results" / "benchmarks" / "lidc-reduced")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not any(args.data.glob("LIDC-IDRI-*")):
        print(f"error: {args.data}: no LIDC 2D release there (LIDC-IDRI-XXXX/nodule-K/...)", file=sys.stderr)
        return 1
    targets = ["results/tables/table6.md", "results/figures/rater_agreement.png"]
    run_workflow(targets, "lidc-reduced.yaml", "lidc", args.data, args.workdir, args.cores)
    for summary_path in sorted((args.workdir / "results" / "runs").glob("lidc/*/*/seed*/summary.json")):
        summary = json.loads(summary_path.read_text())
        run = summary_path.parent.relative_to(args.workdir / "results" / "runs")
        raters = ", ".join(f"{rater} {100 * value['mean']:.2f}" for rater, value in summary["rater_dice"].items())
        print(f"{run}: mean Dice {100 * summary['dice_mean']:.2f} ± {100 * summary['dice_std']:.2f} ({raters}; "
              f"train {summary['train_seconds_total'] / 60:.1f} min, {summary['n_train']} train / "
              f"{summary['n_test']} test slices, {summary.get('device', '?')})")
    print((args.workdir / "results" / "tables" / "table6.md").read_text())
    print((args.workdir / "results" / "tables" / "rater_agreement.csv").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

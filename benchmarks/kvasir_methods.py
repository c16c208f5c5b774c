"""Benchmark: CE, JoCoR, GSD-Net, CDR, IDMPS, ADELE, SP-Guide and RMD on Kvasir-SEG under S_R at a reduced scale
(64², 30 epochs); prints their Dice and times (MSA's row says "not run" without a SAM checkpoint).

Runs the workflow with ``config/kvasir-reduced.yaml`` in its own working directory (default
``results/benchmarks/kvasir-reduced``), so it never touches the default run's results:

    python benchmarks/kvasir_methods.py [--data ../shared/data/kvasir-seg] [--cores 2]
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
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kvasir-seg")
    parser.add_argument("--workdir", type=Path, default=ROOT / "results" / "benchmarks" / "kvasir-reduced")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not (args.data / "images").is_dir():
        print(f"error: {args.data}: no Kvasir-SEG release there (images/, masks/)", file=sys.stderr)
        return 1
    run_workflow(["results/tables/table4.md"], "kvasir-reduced.yaml", "kvasir", args.data, args.workdir, args.cores)
    for summary_path in sorted((args.workdir / "results" / "runs").glob("kvasir/*/*/seed*/summary.json")):
        summary = json.loads(summary_path.read_text())
        run = summary_path.parent.relative_to(args.workdir / "results" / "runs")
        print(f"{run}: Dice {100 * summary['dice_mean']:.2f} ± {100 * summary['dice_std']:.2f} "
              f"(train {summary['train_seconds_total'] / 60:.1f} min, {summary.get('device', '?')})")
    print((args.workdir / "results" / "tables" / "table4.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the workflow for a benchmark: its own working directory, a config overlay and one data set's path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_workflow(targets: Sequence[str], overlay: str, dataset: str, data: Path, workdir: Path, cores: int) -> float:
    """``snakemake targets`` with ``config/{overlay}`` and ``datasets.{dataset}.path = data`` in ``workdir``;
    prints and returns the wall time in seconds (a failed workflow raises CalledProcessError)."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "snakemake", *targets, "--snakefile", str(ROOT / "Snakefile"),
        "--cores", str(cores), "--directory", str(workdir), "--configfile", str(ROOT / "config" / overlay),
        "--config", f"datasets={json.dumps({dataset: {'path': str(data.resolve())}})}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    print(f"cores: {cores}; wall time of the workflow: {wall / 60:.1f} min")
    return wall

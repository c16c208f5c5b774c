"""benchmarks/paper_kvasir.py --smoke on the real Kvasir-SEG release: the one-GPU paper benchmark's path on a CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.paper import paper_value

ROOT = Path(__file__).resolve().parents[1]
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg"

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_smoke_trains_the_three_methods_and_prints_the_papers_values(tmp_path: Path) -> None:
    if not (KVASIR / "images").is_dir():
        pytest.skip(f"shared data not found: {KVASIR} (real data sets live in ../shared/data)")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper_kvasir.py"), "--smoke", "--data", str(KVASIR),
         "--workdir", str(tmp_path), "--cores", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    metadata = json.loads((tmp_path / "results" / "prepared" / "kvasir" / "metadata.json").read_text())
    assert (metadata["n_train"], metadata["n_test"]) == (24, 8)   # max_images 32, n_test 8
    for variant, row in (("CE", "CE Loss"), ("JoCoR", "JoCoR"), ("GSD-Net", "Ours")):
        summary = json.loads((tmp_path / "results" / "runs" / "kvasir" / "S_R" / variant / "seed0"
                              / "summary.json").read_text())
        assert (summary["n_train"], summary["config"]["epochs"]) == (24, 2)
        paper_mean, paper_std = paper_value(4, row, "Kvasir S_R")
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{variant} "))
        assert f"{paper_mean:.2f} ± {paper_std:.2f}" in line, line
        assert f"{100 * summary['dice_mean']:.2f}" in line, line
    assert "wall time, preparation and noise included" in result.stdout

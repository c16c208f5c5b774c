"""The workflow resumes with the same command: a training job stopped by SIGTERM (what a scheduler sends the job)
makes the run fail; the same command (the workflow profile's rerun-incomplete) resumes from the checkpoint and ends
with the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET = "results/runs/synthetic/S_DE/CE-short/seed0/summary.json"
TRAIN_LOG = "results/logs/train/synthetic/S_DE/CE-short/seed0.log"
OVERLAY = """\
datasets:
  synthetic:
    options: {n_train: 8, n_test: 4, size: 48, seed: 0}
    working_size: 32
variants:
  CE-short: {method: ce, training: {epochs: 400, batch_size: 4, eval_last_k: 3}}
"""


def command(workdir: Path, overlay: Path) -> list[str]:
    """The one command a user runs, first and again after the stop."""
    return [sys.executable, "-m", "snakemake", TARGET, "--snakefile", str(ROOT / "Snakefile"), "--directory",
            str(workdir), "--cores", "1", "--configfile", str(overlay)]


def training_job(workdir: Path) -> int:
    """The pid of the training job's script process running in ``workdir``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if "train.py" in cmdline and "snakemake" not in cmdline.split("\0")[1:2] and Path(cwd) == workdir:
            return int(entry.name)
    raise AssertionError(f"no training process in {workdir}")


def run(workdir: Path, overlay: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(workdir, overlay), cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


@pytest.mark.slow
def test_sigterm_then_the_same_command_resumes_to_identical_metrics(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY)
    reference = run(tmp_path / "reference", overlay)
    assert reference.returncode == 0, reference.stderr[-3000:]

    workdir = tmp_path / "stopped"
    process = subprocess.Popen(command(workdir, overlay), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    log = workdir / TRAIN_LOG
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.is_file() and "epoch 3/" in log.read_text()):
        time.sleep(0.2)
    assert log.is_file() and "epoch 3/" in log.read_text(), "training never reached epoch 3"
    os.kill(training_job(workdir), signal.SIGTERM)
    assert process.wait(timeout=120) != 0
    assert not (workdir / TARGET).exists()

    rerun = run(workdir, overlay)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from checkpoint" in log.read_text()
    stopped = json.loads((workdir / TARGET).read_text())
    uninterrupted = json.loads((tmp_path / "reference" / TARGET).read_text())
    assert stopped["resumed_at_epoch"] is not None and uninterrupted["resumed_at_epoch"] is None
    assert stopped["run_key"] == {"dataset": "synthetic", "setting": "S_DE", "variant": "CE-short", "seed": 0}
    for key in ("dice_mean", "dice_std", "dice_image_mean", "dice_epochs"):
        assert stopped[key] == uninterrupted[key], key

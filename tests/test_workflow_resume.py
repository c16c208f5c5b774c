"""The workflow resumes with the same command: a training job stopped by SIGTERM (what a scheduler sends the job)
or Ctrl-C makes the run fail; the same command (the workflow profile's rerun-incomplete) resumes from the checkpoint
and ends with the numbers of an uninterrupted run. After ``kill -9`` of Snakemake itself the directory stays locked:
the message names ``--unlock``, and after it the same command resumes likewise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
experiments:
  table9: {train_fractions: [1.0, 0.5]}   # Table 9's 12.5 % of 8 images is less than a batch of 4
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


def run(workdir: Path, overlay: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(workdir, overlay), *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The overlay and the ``summary.json`` of one uninterrupted run of :data:`TARGET`."""
    base = tmp_path_factory.mktemp("resume")
    overlay = base / "overlay.yaml"
    overlay.write_text(OVERLAY)
    reference = run(base / "reference", overlay)
    assert reference.returncode == 0, reference.stderr[-3000:]
    return overlay, json.loads((base / "reference" / TARGET).read_text())


def start_until_epoch_3(workdir: Path, overlay: Path) -> subprocess.Popen[bytes]:
    """The command started in its own session (as from a terminal), once its training job has logged epoch 3."""
    process = subprocess.Popen(command(workdir, overlay), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               start_new_session=True)
    log = workdir / TRAIN_LOG
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.is_file() and "epoch 3/" in log.read_text()):
        time.sleep(0.2)
    assert log.is_file() and "epoch 3/" in log.read_text(), "training never reached epoch 3"
    return process


def assert_resumed_to_identical_metrics(workdir: Path, rerun: subprocess.CompletedProcess[str],
                                        reference: dict[str, Any]) -> None:
    """The rerun ended well, resumed from the checkpoint, and its final metrics are the uninterrupted run's."""
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from checkpoint" in (workdir / TRAIN_LOG).read_text()
    stopped = json.loads((workdir / TARGET).read_text())
    assert stopped["resumed_at_epoch"] is not None and reference["resumed_at_epoch"] is None
    assert stopped["run_key"] == {"dataset": "synthetic", "setting": "S_DE", "variant": "CE-short", "seed": 0}
    for key in ("dice_mean", "dice_std", "dice_image_mean", "dice_epochs"):
        assert stopped[key] == reference[key], key


def sigterm_to_the_training_job(process: subprocess.Popen[bytes], workdir: Path) -> None:
    """What a scheduler sends the job."""
    os.kill(training_job(workdir), signal.SIGTERM)


def ctrl_c(process: subprocess.Popen[bytes], workdir: Path) -> None:
    """Ctrl-C: SIGINT to the terminal's process group, Snakemake first."""
    os.killpg(process.pid, signal.SIGINT)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [sigterm_to_the_training_job, ctrl_c], ids=["sigterm", "ctrl-c"])
def test_stopped_then_the_same_command_resumes_to_identical_metrics(
        tmp_path: Path, uninterrupted: tuple[Path, dict[str, Any]],
        stop: Callable[[subprocess.Popen[bytes], Path], None]) -> None:
    overlay, reference = uninterrupted
    workdir = tmp_path / "stopped"
    process = start_until_epoch_3(workdir, overlay)
    stop(process, workdir)
    assert process.wait(timeout=120) != 0
    assert not (workdir / TARGET).exists()
    assert_resumed_to_identical_metrics(workdir, run(workdir, overlay), reference)


@pytest.mark.slow
def test_kill_9_then_unlock_and_the_same_command_resumes_to_identical_metrics(
        tmp_path: Path, uninterrupted: tuple[Path, dict[str, Any]]) -> None:
    overlay, reference = uninterrupted
    workdir = tmp_path / "killed"
    process = start_until_epoch_3(workdir, overlay)
    job = training_job(workdir)
    os.kill(process.pid, signal.SIGKILL)
    os.kill(job, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert not (workdir / TARGET).exists()

    locked = run(workdir, overlay)
    output = locked.stdout + locked.stderr
    assert locked.returncode != 0 and "Traceback" not in output
    assert "Directory cannot be locked" in output and "It can be removed with the --unlock argument." in output
    unlocked = run(workdir, overlay, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    assert_resumed_to_identical_metrics(workdir, run(workdir, overlay), reference)

"""A training process killed by a signal mid-run leaves no outputs, and its rerun ends with the exact numbers of a
run that was never interrupted (CPU, one thread: deterministic)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from training.synthetic_inputs import write_synthetic_inputs

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_NAMES = ("summary.json", "epochs.csv", "per_image.csv")
TIMING_COLUMNS = ["train_seconds", "eval_seconds"]
EPOCHS = 6
#: The kill comes once this epoch's line is logged, i.e. while a later epoch is training.
KILL_AFTER_EPOCH = 2

#: Prints every log line at once, so the parent sees the epoch lines as they happen.
DRIVER = '''
import json
import sys
from pathlib import Path

from training.engine import train
from training.run_config import RunConfig


def log(line: str) -> None:
    print(line, flush=True)


config = RunConfig.from_mapping(json.loads(sys.argv[1]))
train(config, Path(sys.argv[2]), Path(sys.argv[3]), log=log)
'''


def run_mapping(inputs: tuple[Path, Path]) -> dict[str, object]:
    """GSD-Net (two networks, superpixels, distance maps) with its schedules inside the run: the loss changes at
    epochs the resumed part replays."""
    prepared, noise = inputs
    return {"prepared_dir": str(prepared), "noise_dir": str(noise), "method": "gsdnet",
            "method_options": {"ramp_epochs": 2, "kt_start_epoch": 3, "w_max": 5.0, "w_decay_every": 2},
            "epochs": EPOCHS, "batch_size": 4, "eval_last_k": 3, "eval_batch_size": 4, "threads": 1,
            "device": "cpu", "seed": 3}


def driver_command(driver: Path, mapping: dict[str, object], out_dir: Path, checkpoint_dir: Path) -> list[str]:
    return [sys.executable, str(driver), json.dumps(mapping), str(out_dir), str(checkpoint_dir)]


def run_to_completion(command: list[str]) -> str:
    """Run the driver; its whole log."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def kill_after_epoch(command: list[str], signal_number: int) -> str:
    """Start the driver, send ``signal_number`` as soon as the line of epoch :data:`KILL_AFTER_EPOCH` appears;
    the log up to the kill."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith(f"epoch {KILL_AFTER_EPOCH}/"):
                os.kill(process.pid, signal_number)
                break
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()
    assert process.returncode == -signal_number, "".join(lines)
    return "".join(lines)


def outputs_without_timings(out_dir: Path) -> tuple[dict[str, object], pd.DataFrame, pd.DataFrame]:
    summary = json.loads((out_dir / "summary.json").read_text())
    epochs = pd.read_csv(out_dir / "epochs.csv").drop(columns=TIMING_COLUMNS)
    per_image = pd.read_csv(out_dir / "per_image.csv")
    return summary, epochs, per_image


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """The driver script, the run's settings and the folder of a run that was never interrupted."""
    root = tmp_path_factory.mktemp("resume_kill")
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    mapping = run_mapping(write_synthetic_inputs(root / "inputs", n_train=16, n_test=8, size=32))
    run_to_completion(driver_command(driver, mapping, root / "reference", root / "reference_checkpoint"))
    return driver, root / "reference", mapping


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_killed_run_reruns_to_the_uninterrupted_numbers(
        uninterrupted: tuple[Path, Path, dict[str, object]], tmp_path: Path, signal_number: int) -> None:
    driver, reference_dir, mapping = uninterrupted
    out_dir, checkpoint_dir = tmp_path / "run", tmp_path / "checkpoint"
    command = driver_command(driver, mapping, out_dir, checkpoint_dir)

    killed_log = kill_after_epoch(command, signal_number)
    assert f"epoch {EPOCHS}/" not in killed_log
    assert not out_dir.exists(), f"outputs after the kill: {sorted(path.name for path in out_dir.iterdir())}"
    assert (checkpoint_dir / "checkpoint.pt").is_file()

    rerun_log = run_to_completion(command)
    assert "resuming from checkpoint" in rerun_log, rerun_log
    assert not (checkpoint_dir / "checkpoint.pt").exists()

    reference_summary, reference_epochs, reference_per_image = outputs_without_timings(reference_dir)
    summary, epochs, per_image = outputs_without_timings(out_dir)
    assert summary["resumed_at_epoch"] >= KILL_AFTER_EPOCH and reference_summary["resumed_at_epoch"] is None
    for key in ("dice_mean", "dice_std", "dice_image_mean", "dice_epochs"):
        assert summary[key] == reference_summary[key], key
    pd.testing.assert_frame_equal(epochs, reference_epochs, check_exact=True)
    pd.testing.assert_frame_equal(per_image, reference_per_image, check_exact=True)

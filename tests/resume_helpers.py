"""Shared pieces of the kill-and-resume tests: a log callback that stops a run, and the outputs' comparison."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

#: Columns of the run outputs that are wall-clock timings, so differ between two identical runs.
TIMING_COLUMNS = ["train_seconds", "eval_seconds"]


def stop_at_epoch_line(epoch: int) -> Callable[[str], None]:
    """A ``log`` for ``training.engine.train`` that raises KeyboardInterrupt on the progress line of ``epoch``
    (1-based, as logged), i.e. after that epoch's checkpoint is written."""

    def log(line: str) -> None:
        if line.startswith(f"epoch {epoch}/"):
            raise KeyboardInterrupt

    return log


def assert_same_run_outputs(full: Path, resumed: Path) -> None:
    """``epochs.csv`` and ``per_image.csv`` of two run folders are identical, timings aside."""
    for output in ("epochs.csv", "per_image.csv"):
        expected = pd.read_csv(full / output).drop(columns=TIMING_COLUMNS, errors="ignore")
        actual = pd.read_csv(resumed / output).drop(columns=TIMING_COLUMNS, errors="ignore")
        pd.testing.assert_frame_equal(expected, actual, check_exact=True)

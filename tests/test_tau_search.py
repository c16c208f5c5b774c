"""Eq. 20 / Fig. 10: reading the tau estimate off search-loss curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from evaluation.tau_search import read_search_curves, tau_estimate, write_tau_search


def write_curve(path: Path, values: list[float]) -> Path:
    pd.DataFrame({"epoch": range(len(values)), "loss": 1.0, "search_loss": values}).to_csv(path, index=False)
    return path


def test_estimate_is_the_curve_with_the_lowest_value(tmp_path: Path) -> None:
    curves = {
        0.0: write_curve(tmp_path / "a.csv", [0.9, 0.5, 0.40, 0.45]),
        0.05: write_curve(tmp_path / "b.csv", [0.9, 0.4, 0.30, 0.35]),
        0.2: write_curve(tmp_path / "c.csv", [0.8, 0.6, 0.50, 0.31]),
    }
    assert tau_estimate(read_search_curves(curves)) == 0.05
    paths = {fmt: tmp_path / f"tau.{fmt}" for fmt in ("md", "csv", "tex")}
    estimate = write_tau_search(curves, 0.047, tmp_path / "tau.png", paths, "GSD-Net on synthetic S_R")
    assert estimate == 0.05
    assert (tmp_path / "tau.png").stat().st_size > 5_000
    table = paths["md"].read_text()
    assert "0.3000" in table and "measured noise rate 0.047" in table


def test_curve_without_search_loss_is_named(tmp_path: Path) -> None:
    path = tmp_path / "epochs.csv"
    pd.DataFrame({"epoch": [0], "loss": [1.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"epochs\.csv: no 'search_loss' column"):
        read_search_curves({0.1: path})

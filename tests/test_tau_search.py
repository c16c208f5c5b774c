"""Eq. 20 / Fig. 10: reading the tau estimate off search-loss curves."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from evaluation.tau_search import read_search_curves, tau_estimate, write_tau_search, write_tau_sensitivity


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
    figures = [tmp_path / "tau.png", tmp_path / "tau.pdf"]
    estimate = write_tau_search(curves, 0.047, figures, paths, "GSD-Net on synthetic S_R")
    assert estimate == 0.05
    assert figures[0].stat().st_size > 5_000 and figures[1].read_bytes().startswith(b"%PDF")
    table = paths["md"].read_text()
    assert "0.3000" in table and "measured noise rate 0.047" in table


def test_curve_without_search_loss_is_named(tmp_path: Path) -> None:
    path = tmp_path / "epochs.csv"
    pd.DataFrame({"epoch": [0], "loss": [1.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"epochs\.csv: no 'search_loss' column"):
        read_search_curves({0.1: path})


def write_summary(folder: Path, dice: float, std: float) -> Path:
    folder.mkdir(parents=True)
    summary = {"dice_mean": dice, "dice_std": std, "seed": 0, "eval_epochs": [8, 9]}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder / "summary.json"


def test_tau_sensitivity_plots_final_dice_against_tau(tmp_path: Path) -> None:
    summaries = {0.2: write_summary(tmp_path / "tau0.2", 0.70, 0.02), 0.0: write_summary(tmp_path / "tau0.0", 0.80,
                                                                                          0.01)}
    figures = [tmp_path / "fig9.png", tmp_path / "fig9.pdf"]
    frame = write_tau_sensitivity(summaries, 0.05, figures, "GSD-Net on synthetic S_DE")
    assert frame["tau0"].tolist() == [0.0, 0.2]
    assert frame["dice_mean"].tolist() == pytest.approx([80.0, 70.0])
    assert frame["dice_std"].tolist() == pytest.approx([1.0, 2.0])
    assert figures[0].stat().st_size > 5_000 and figures[1].read_bytes().startswith(b"%PDF")
    again = [tmp_path / "again.png", tmp_path / "again.pdf"]
    write_tau_sensitivity(summaries, 0.05, again, "GSD-Net on synthetic S_DE")
    assert again[1].read_bytes() == figures[1].read_bytes() and again[0].read_bytes() == figures[0].read_bytes()
    with pytest.raises(InputError, match=r"nowhere/summary\.json"):
        write_tau_sensitivity({0.1: tmp_path / "nowhere" / "summary.json"}, None, figures, "x")

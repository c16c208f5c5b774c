"""Paired per-image comparisons: bootstrap CI and Wilcoxon against hand-checkable cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from evaluation.statistics import comparison_table, paired_comparison, per_image_scores


def write_run(root: Path, variant: str, dice_by_image: dict[str, list[float]]) -> Path:
    folder = root / "runs" / "synthetic" / "S_R" / variant / "seed0"
    folder.mkdir(parents=True)
    rows = [{"epoch": epoch, "name": name, "dice": value}
            for name, values in dice_by_image.items() for epoch, value in enumerate(values)]
    pd.DataFrame(rows).to_csv(folder / "per_image.csv", index=False)
    return folder


def test_scores_average_over_epochs(tmp_path: Path) -> None:
    run = write_run(tmp_path, "CE", {"a": [0.5, 0.7], "b": [0.9, 0.9]})
    scores = per_image_scores(run)
    assert scores["a"] == pytest.approx(60.0) and scores["b"] == pytest.approx(90.0)


def test_constant_improvement_has_a_tight_interval() -> None:
    names = [f"img{i}" for i in range(20)]
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.uniform(40, 80, 20), index=names)
    result = paired_comparison(reference + 5.0, reference)
    assert result["mean_diff"] == pytest.approx(5.0)
    assert result["ci_low"] == pytest.approx(5.0) and result["ci_high"] == pytest.approx(5.0)
    assert result["p_wilcoxon"] < 1e-4


def test_no_difference_is_not_significant() -> None:
    names = [f"img{i}" for i in range(30)]
    rng = np.random.default_rng(2)
    reference = pd.Series(rng.uniform(40, 80, 30), index=names)
    noise = pd.Series(rng.normal(0, 1, 30), index=names)
    result = paired_comparison(reference + noise - noise.mean(), reference)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["p_wilcoxon"] > 0.05


def test_different_test_images_are_refused() -> None:
    with pytest.raises(InputError, match="different test images"):
        paired_comparison(pd.Series([1.0], index=["a"]), pd.Series([1.0], index=["b"]))


def test_comparison_table_pairs_runs_of_the_same_setting(tmp_path: Path) -> None:
    runs = [write_run(tmp_path, "CE", {"a": [0.5], "b": [0.6], "c": [0.4]}),
            write_run(tmp_path, "GSD-Net", {"a": [0.7], "b": [0.8], "c": [0.65]}),
            write_run(tmp_path, "JoCoR", {"a": [0.6], "b": [0.6], "c": [0.5]})]
    table = comparison_table(runs, references=["GSD-Net", "CE"])
    assert len(table) == 4
    row = table[(table["variant"] == "CE") & (table["versus"] == "GSD-Net")].iloc[0]
    assert row["mean_diff"] == pytest.approx(-(20 + 20 + 25) / 3)

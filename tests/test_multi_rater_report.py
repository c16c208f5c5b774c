"""Table 6 rendering, the raters' agreement, and the multi-rater config (data-set method options, Table 6 axes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from common.errors import InputError
from evaluation.metrics import dice_per_image
from evaluation.multi_rater import pairwise_rater_dice, rater_row_label, write_rater_agreement, write_table6
from workflow.planner.checks import check_config
from workflow.planner.targets import method_options, multi_rater_datasets

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"A1": {"model": "rater", "rater": 0}, "sampled": {"model": "rater", "rater": "sampled"}}


def _run(root: Path, dataset: str, setting: str, variant: str, seed: int, raters: list[float],
         fraction: float = 1.0) -> Path:
    folder = root / dataset / setting / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    summary = {"dataset": dataset, "setting": setting, "variant": variant, "seed": seed,
               "dice_mean": float(np.mean(raters)), "dice_std": 0.01, "device": "cpu",
               "config": {"epochs": 5, "train_fraction": fraction, "empty_mask_dice": "one"},
               "rater_dice": {f"A{index + 1}": {"mean": value, "std": 0.002} for index, value in enumerate(raters)},
               "other_empty_mask_rule": {
                   "empty_mask_dice": "zero", "dice_mean": float(np.mean(raters)) - 0.1, "dice_std": 0.01,
                   "rater_dice": {f"A{index + 1}": {"mean": value - 0.1, "std": 0.002}
                                  for index, value in enumerate(raters)}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_row_labels_follow_the_paper() -> None:
    assert rater_row_label(SETTINGS["A1"], 1.0) == "A1"
    assert rater_row_label(SETTINGS["sampled"], 1.0) == "Sample 100"
    assert rater_row_label(SETTINGS["sampled"], 0.5) == "Sample 50"
    with pytest.raises(InputError, match="needs rater label sources"):
        rater_row_label({"model": "markov"}, 1.0)


def test_table6_puts_each_rater_beside_the_paper(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "lidc", "sampled", "GSD-Net", 0, [0.88, 0.87, 0.86, 0.85]),
            _run(tmp_path, "lidc", "sampled", "GSD-Net", 1, [0.86, 0.87, 0.86, 0.85]),
            _run(tmp_path, "lidc", "A1", "CE", 0, [0.90, 0.80, 0.80, 0.80])]
    paths = {fmt: tmp_path / f"table6.{fmt}" for fmt in ("md", "csv", "tex")}
    table = write_table6(runs, ["CE", "GSD-Net"], {"CE": "CE Loss", "GSD-Net": "Ours"}, SETTINGS,
                         {"lidc": None}, paths)   # the name maps to the paper's LIDC columns
    ours = table.set_index("Paper row")
    assert list(ours.index) == ["CE Loss A1", "Ours Sample 100"]
    assert ours.loc["Ours Sample 100", "lidc Dice_A1 ours"] == "87.00 ± 0.20"   # mean of 0.88 and 0.86
    assert ours.loc["Ours Sample 100", "lidc Dice_A1 paper"] == "88.40 ± 0.11"
    assert ours.loc["Ours Sample 100", "lidc Dice_A1 diff"] == "-1.40"
    assert ours.loc["Ours Sample 100", "lidc seeds"] == "n=2"
    assert ours.loc["CE Loss A1", "lidc Dice_mean paper"] == "87.10 ± 0.23"
    assert ours.loc["CE Loss A1", "lidc Dice_mean ours"] == "82.50 ± 1.00"
    assert "Table 6" in paths["md"].read_text() and "scores 1 (smoothed Dice" in paths["md"].read_text()
    assert pd.read_csv(paths["csv"]).shape == (2, 3 + 5 * 3 + 1)


def test_table6_without_a_paper_column_shows_no_paper_value(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "synthetic_raters", "sampled", "CE", 0, [0.5, 0.6])]
    paths = {fmt: tmp_path / f"table6.{fmt}" for fmt in ("md", "csv", "tex")}
    table = write_table6(runs, ["CE"], {"CE": "CE Loss"}, SETTINGS, {"synthetic_raters": None}, paths)
    assert table.loc[0, "synthetic_raters Dice_A2 ours"] == "60.00 ± 0.20"
    assert table.loc[0, "synthetic_raters Dice_A2 paper"] == "—"


def test_table6_stand_in_shows_its_paper_data_set_as_a_reference(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "synthetic_raters", "A1", "CE", 0, [0.90, 0.80, 0.80, 0.80])]
    paths = {fmt: tmp_path / f"table6.{fmt}" for fmt in ("md", "csv", "tex")}
    table = write_table6(runs, ["CE"], {"CE": "CE Loss"}, SETTINGS, {"synthetic_raters": "LIDC"}, paths)
    assert table.loc[0, "synthetic_raters [LIDC reference] Dice_mean paper"] == "87.10 ± 0.23"
    assert table.loc[0, "synthetic_raters [LIDC reference] Dice_mean diff"] == "-4.60"
    assert table.loc[0, "synthetic_raters [LIDC reference] seeds"] == "n=1"
    assert "synthetic_raters for LIDC" in paths["md"].read_text()


def test_table6_rejects_a_run_without_rater_scores(tmp_path: Path) -> None:
    folder = _run(tmp_path, "lidc", "sampled", "CE", 0, [0.5])
    summary = json.loads((folder / "summary.json").read_text())
    del summary["rater_dice"]
    (folder / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(InputError, match=r"summary\.json: no 'rater_dice' entry"):
        write_table6([folder], ["CE"], {}, SETTINGS, {}, {fmt: tmp_path / f"t.{fmt}" for fmt in ("md", "csv", "tex")})


def test_pairwise_agreement_skips_samples_empty_for_both() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((5, 3, 6, 6)) < 0.3
    masks[4, :2] = False   # empty for raters 1 and 2: left out of their pair only
    agreement, counts = pairwise_rater_dice(masks)
    assert np.allclose(np.diag(agreement), 1) and np.allclose(agreement, agreement.T)
    assert counts[0, 1] == 4 and counts[0, 2] == 5
    assert agreement[0, 1] == pytest.approx(dice_per_image(masks[:4, 0], masks[:4, 1]).mean())
    assert agreement[1, 2] == pytest.approx(dice_per_image(masks[:, 1], masks[:, 2]).mean())


def test_agreement_figure_and_csv_are_written(tmp_path: Path) -> None:
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    masks = np.zeros((2, 2, 8, 8), dtype=np.uint8)
    masks[:, 0, 2:6, 2:6] = 1
    masks[:, 1, 2:6, 2:5] = 1
    np.savez(prepared / "data.npz", rater_masks=masks)
    frame = write_rater_agreement({"toy": prepared}, [str(tmp_path / "a.png"), str(tmp_path / "a.pdf")],
                                  tmp_path / "a.csv")
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    pair = frame[(frame["rater_a"] == "A1") & (frame["rater_b"] == "A2")]
    assert pair["dice"].iloc[0] == pytest.approx(100 * 2 * 12 / (16 + 12), abs=1e-3)


@pytest.fixture
def config() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))


def test_data_set_method_options_override_the_variant(config: dict[str, Any]) -> None:
    method, options = method_options(config, "GSD-Net", "lidc")
    assert method == "gsdnet" and options["co_weight"] == 0.1 and options["w_max"] == 5
    assert options["ramp_epochs"] == config["variants"]["GSD-Net"]["ramp_epochs"]
    assert method_options(config, "CE", "lidc") == ("ce", {})
    assert "co_weight" not in method_options(config, "GSD-Net", "synthetic")[1]


def test_multi_rater_config_errors_name_the_key(config: dict[str, Any]) -> None:
    assert multi_rater_datasets(config) == ["synthetic_raters"]
    bad = copy.deepcopy(config)
    bad["datasets"]["lidc"]["method_options"]["gsdnet"]["w_max"] = -1
    with pytest.raises(InputError, match=r"config key datasets\.lidc\.method_options\.gsdnet: "):
        check_config(bad)
    bad = copy.deepcopy(config)
    bad["experiments"]["table6"]["settings"] = ["S_R"]
    with pytest.raises(InputError, match=r"config key experiments\.table6\.settings: 'S_R' is not a rater"):
        check_config(bad)


def test_sampled_variants_run_on_sampled_sources_only(config: dict[str, Any]) -> None:
    from workflow.planner.targets import experiment_runs

    config["variants"]["CE-half"] = {"method": "ce", "training": {"train_fraction": 0.5}}
    config["experiments"]["table6"]["sampled_variants"] = ["CE-half"]
    runs = {str(path) for path in experiment_runs(config, "table6")}
    assert "results/runs/synthetic_raters/sampled/CE-half/seed0/summary.json" in runs
    assert not any("CE-half" in run and "/A1/" in run for run in runs)
    assert len(runs) == 5 * 2 + 1
    config["experiments"]["table6"]["sampled_variants"] = ["nope"]
    with pytest.raises(InputError, match=r"experiments\.table6\.sampled_variants: unknown variant 'nope'"):
        check_config(config)


def test_table6_comes_under_both_empty_mask_rules(tmp_path: Path) -> None:
    """Item 4: the main table under the configured rule (1), the companion under the other (0), captions naming
    each; the companion's cells come from the runs' other_empty_mask_rule entry."""
    runs = [_run(tmp_path, "lidc", "A1", "CE", 0, [0.90, 0.80, 0.80, 0.80])]
    paths = {fmt: tmp_path / f"table6.{fmt}" for fmt in ("md", "csv", "tex")}
    companion = {fmt: tmp_path / f"table6_other_empty_rule.{fmt}" for fmt in ("md", "csv", "tex")}
    write_table6(runs, ["CE"], {"CE": "CE Loss"}, SETTINGS, {"lidc": None}, paths, companion)
    main, other = paths["md"].read_text(), companion["md"].read_text()
    assert "scores 1 (smoothed Dice" in main and "configured rule" in main and "scores 0" not in main
    assert "scores 0 (medpy" in other and "not configured with" in other and "scores 1" not in other
    assert pd.read_csv(paths["csv"]).loc[0, "lidc Dice_A1 ours"] == "90.00 ± 0.20"
    assert pd.read_csv(companion["csv"]).loc[0, "lidc Dice_A1 ours"] == "80.00 ± 0.20"
